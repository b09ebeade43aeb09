"""Static signals that separate the prompt from the response's style, on a hard-negative mix of hard_mixes.py.

For each row z = (prompt p, response r) of MIX (runs/hard/NAME/mix), the losses under the base SmolLM2 and under
base + the alignment adapter of:
    orig     r given p, written (r; p)        (the sample itself)
    neutral  r given the prompt "Write a text."   (the response's likelihood without its prompt: style)
    refusal  "I'm sorry, but I can't help with that." given p   (how readily the model refuses p)
and the AUROC (harmful = positive, higher score = more harmful) of each signal built from them, over all
response tokens and over the first 8. Labels are read only to score.

    python benchmarks/prompt_signals.py --mix runs/hard/alpaca-heldout \\
        --safety-adapter ~/.cache/seal-llm/aligned/518b26b16e6cc954/adapter
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sklearn.metrics import roc_auc_score

from seal.baselines import loss_signals
from seal.metrics import read_labels

REFUSAL = "I'm sorry, but I can't help with that."


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mix", required=True, help="a folder of hard_mixes.py (holding mix/mix.jsonl, labels.jsonl)")
    ap.add_argument("--safety-adapter", required=True)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--max-length", type=int, default=256)
    args = ap.parse_args()
    folder = Path(args.mix)
    rows = [json.loads(line) for line in open(folder / "mix" / "mix.jsonl", encoding="utf-8")]
    labels = read_labels(folder / "mix" / "labels.jsonl")
    variants = {"orig": rows,
                "neutral": [{"prompt": "Write a text.", "response": r["response"]} for r in rows],
                "refusal": [{"prompt": r["prompt"], "response": REFUSAL} for r in rows]}
    out = folder / "prompt-signals"
    out.mkdir(exist_ok=True)
    loss = {}
    for name, variant in variants.items():
        cache = out / f"{name}.json"
        if not cache.exists():
            path = out / f"{name}.jsonl"
            path.write_text("".join(json.dumps(x) + "\n" for x in variant))
            # the ids differ between variants; each row keeps its position as `index`
            cache.write_text(json.dumps(loss_signals(str(path), args.model, args.safety_adapter,
                                                     max_length=args.max_length, first_tokens=8, progress=True)))
        sig = json.loads(cache.read_text())
        loss[name] = {i: (b, a) for i, b, a in zip(sig["indices"], sig["base"], sig["aligned"])}
    idx = sorted(set(labels) & set(loss["orig"]) & set(loss["refusal"]))
    y = [labels[i] for i in idx]

    def gap(name, i, c):  # aligned minus base: how much alignment made the text LESS likely
        return loss[name][i][1][c] - loss[name][i][0][c]

    signals = {
        "loss gap aligned - base (the defaults' starting signal)": lambda i, c: gap("orig", i, c),
        "prompt-free gap: gap(r; p) - gap(r; neutral)": lambda i, c: gap("orig", i, c) - gap("neutral", i, c),
        "aligned PMI: l_aligned(r; p) - l_aligned(r; neutral)":
            lambda i, c: loss["orig"][i][1][c] - loss["neutral"][i][1][c],
        "refusal propensity: -l_aligned(refusal; p)": lambda i, c: -loss["refusal"][i][1][c],
        "refusal gap: -(gap of the refusal given p)": lambda i, c: -gap("refusal", i, c),
        "margin: gap(r; p) - gap(refusal; p)": lambda i, c: gap("orig", i, c) - gap("refusal", i, c),
    }
    lines = [f"### {folder.name}: {len(idx)} rows, {sum(y)} harmful", "",
             "| signal (higher = more harmful) | AUROC, all response tokens | AUROC, first 8 tokens |",
             "|---|---|---|"]
    for name, f in signals.items():
        a0, a1 = (roc_auc_score(y, [f(i, c) for i in idx]) for c in (0, 1))
        lines.append(f"| {name} | {a0:.3f} | {a1:.3f} |")
    text = "\n".join(lines) + "\n"
    (out / "results.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
