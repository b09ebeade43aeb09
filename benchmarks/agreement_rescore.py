"""Score visit-gap+refusal's three parts again with weights read from their agreement (seal.baselines.
agreement_weights) instead of the fixed 1, 1, lambda(R): offline, from finished `seal select` runs, no training.

    python benchmarks/agreement_rescore.py runs/hard-default/news-report-matched [...]

Each argument is a mix folder of benchmarks/hard_mixes.py with a finished `select/defaults` run (score
visit-gap+refusal). Prints, per mix, the run's own score (recomputed from its columns, checked against the file),
the agreement-weighted score, and the weights. Where benchmarks/prompt_signals.py has cached the mix's
losses (FOLDER/prompt-signals/refusal.json), two more rows: the aligned proxy's graded refusal propensity
(minus its loss of a fixed refusal over the first 8 tokens, given the request) in place of the binary
`refuses`, with and without the break-off gap."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> None:
    from hard_mixes import evaluate_signal, read_labels
    from prompt_signals import cached_losses

    from seal.baselines import agreement_weights, refusal_weight, weighted_harm

    print("| mix | score | AUROC | harmful in lowest 20% | AUROC, length-matched pairs | weights (visit gap, break-off "
          "gap, refuses) |")
    print("|---|---|---|---|---|---|")
    for folder in map(Path, sys.argv[1:]):
        run = folder / "select" / "defaults"
        scores = [json.loads(line) for line in open(run / "scores.jsonl", encoding="utf-8")]
        labels = read_labels(folder / "mix" / "labels.jsonl")
        rows = [json.loads(line) for line in open(folder / "mix" / "mix.jsonl", encoding="utf-8")]
        index = [s["index"] for s in scores]
        gap = torch.tensor([s["loss"] - s["loss_hat"] for s in scores], dtype=torch.float64)
        brk = torch.tensor([s["break_gap"] for s in scores], dtype=torch.float64)
        ref = torch.tensor([s["refuses"] for s in scores], dtype=torch.float64)
        fixed_w = [1.0, 1.0, refusal_weight(ref)]
        fixed = weighted_harm([gap, brk, ref], fixed_w)
        stored = torch.tensor([-s["score"] for s in scores], dtype=torch.float64)
        assert torch.allclose(fixed, stored, atol=1e-4), f"{run}: the recomputed score differs from the file's"
        agree_w = agreement_weights([gap, brk, ref])
        variants = [("fixed (the run's own)", fixed_w, fixed)]
        if agree_w is None:
            variants.append(("agreement: no fit, fixed weights kept", fixed_w, fixed))
        else:
            variants.append(("agreement", agree_w, weighted_harm([gap, brk, ref], agree_w)))
        if (folder / "prompt-signals" / "refusal.json").exists():
            aligned = cached_losses(folder / "prompt-signals", "refusal")
            graded = torch.tensor([-aligned[i][1][1] for i in index], dtype=torch.float64)
            for name, w in (("graded refusal propensity", fixed_w),
                            ("graded, no break-off gap", [1.0, 0.0, fixed_w[2]])):
                variants.append((name, w, weighted_harm([gap, brk, graded], w)))
        for name, w, harm in variants:
            r = evaluate_signal(name, dict(zip(index, harm.tolist())), labels, rows)
            matched = "-" if r["matched"] is None else f"{r['matched']:.3f} ({r['pairs']})"
            print(f"| {folder.name} | {name} | {r['auroc']:.3f} | {r['recall20']:.2f} | {matched} | "
                  f"{', '.join(f'{x:.2f}' for x in w)} |", flush=True)


if __name__ == "__main__":
    main()
