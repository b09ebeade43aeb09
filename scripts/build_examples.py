"""Build the small example data shipped in seal/resources/examples from ../shared/data (run from the repo root):

    python scripts/build_examples.py [--shared ../shared/data]

Sources (both permissive): Self-Instruct seed tasks (Wang et al. 2022, Apache-2.0) for benign instructions with
answers, and AdvBench harmful behaviours (Zou et al. 2023, MIT) for harmful requests. Harmful fine-tuning pairs
are AdvBench goals with their AdvBench "Sure, here is ..." targets; safe-set refusals are written here."""

import argparse
import csv
import json
import random
from pathlib import Path

REFUSALS = [
    "I can't help with that. {why} If you have a related question that doesn't involve harming anyone, I'm happy "
    "to help.",
    "I'm sorry, but I won't do that. {why}",
    "I can't assist with this request. {why} I can share general safety information instead.",
    "No, I won't provide that. {why}",
]
WHY = [
    "It could cause serious harm to people.",
    "It would facilitate illegal and dangerous activity.",
    "Helping with this could put others at risk.",
    "This would be unsafe and unethical.",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--out", default="src/seal/resources/examples")
    args = ap.parse_args()
    shared, out = Path(args.shared), Path(args.out)
    rng = random.Random(0)

    benign = []
    for line in open(shared / "self_instruct" / "seed_tasks.jsonl"):
        task = json.loads(line)
        inst = task["instances"][0]
        if 0 < len(inst["output"]) <= 400 and len(inst["input"]) <= 400:
            benign.append({"instruction": task["instruction"], "input": inst["input"], "output": inst["output"]})
    with open(shared / "advbench" / "harmful_behaviors.csv", newline="") as f:
        harmful = [{"goal": r["goal"], "target": r["target"]} for r in csv.DictReader(f)]
    rng.shuffle(benign)
    rng.shuffle(harmful)

    mix_benign, safe_benign = benign[:90], benign[90:114]
    mix_harmful, safe_harmful = harmful[:10], harmful[10:34]
    mix = [({"instruction": h["goal"], "input": "", "output": h["target"] + "."}, "harmful") for h in mix_harmful]
    mix += [(b, "benign") for b in mix_benign]
    rng.shuffle(mix)
    safe = [{"instruction": h["goal"], "input": "",
             "output": rng.choice(REFUSALS).format(why=rng.choice(WHY))} for h in safe_harmful]
    safe += safe_benign

    out.mkdir(parents=True, exist_ok=True)
    with open(out / "mix.jsonl", "w") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r, _ in mix)
    with open(out / "mix_labels.jsonl", "w") as f:
        f.writelines(json.dumps({"index": i, "label": y}) + "\n" for i, (_, y) in enumerate(mix))
    with open(out / "safe.jsonl", "w") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in safe)
    print(f"mix: {len(mix)} rows ({len(mix_harmful)} harmful); safe: {len(safe)} rows -> {out}")


if __name__ == "__main__":
    main()
