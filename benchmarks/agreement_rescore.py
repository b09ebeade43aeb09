"""Score the parts of seal select's refusal scores again, offline, from finished `seal select` runs (no training):
with weights read from their agreement (seal.baselines.agreement_weights) instead of the fixed 1, 1, lambda(R), and
with the graded refusal propensity in place of the yes/no refusal and the reverse.

    python benchmarks/agreement_rescore.py runs/hard-default/news-report-matched [...]

Each argument is a mix folder of benchmarks/hard_mixes.py with a finished `select/defaults` run (score
visit-gap+refusal or visit-gap+propensity). Prints, per mix, the run's own score (recomputed from its columns,
checked against the file), the agreement-weighted score, and the weights. The graded refusal propensity (minus
the aligned proxy's loss of a fixed refusal over its first 8 tokens, given the request) is the run's own
`propensity` column where it wrote one (runs of 2026-12-05 before commit 9ebe468, and since then the scores
that use it), else benchmarks/prompt_signals.py's cache of the mix
(FOLDER/prompt-signals/refusal.json). Rows: the run's own score, the agreement weights, and the yes/no refusal and
the graded propensity (where known) as the request-side part, each with and without the break-off gap, and both
(score visit-gap+refusal+propensity: lambda(R) on each)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


def run_parts(run: Path) -> tuple[list[dict], list[int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """A finished `seal select` run with a refusal score: its scores.jsonl rows, their mix indices, and the three
    parts every such score sums (higher = more harmful each, float64): the visit gap, the break-off gap, and
    whether the aligned proxy refuses the request."""
    scores = [json.loads(line) for line in open(run / "scores.jsonl", encoding="utf-8")]
    column = lambda f: torch.tensor([f(s) for s in scores], dtype=torch.float64)  # noqa: E731
    return scores, [s["index"] for s in scores], (column(lambda s: s["loss"] - s["loss_hat"]),
                                                  column(lambda s: s["break_gap"]), column(lambda s: s["refuses"]))


def main() -> None:
    from hard_mixes import evaluate_signal, read_labels
    from prompt_signals import cached_losses

    from seal.baselines import agreement_weights, refusal_weight, weighted_harm

    print("| mix | score | AUROC | harmful in lowest 20% | AUROC, length-matched pairs | weights (visit gap, break-off "
          "gap, request side) |")
    print("|---|---|---|---|---|---|")
    for folder in map(Path, sys.argv[1:]):
        run = folder / "select" / "defaults"
        scores, index, (gap, brk, ref) = run_parts(run)
        labels = read_labels(folder / "mix" / "labels.jsonl")
        rows = [json.loads(line) for line in open(folder / "mix" / "mix.jsonl", encoding="utf-8")]
        graded = None
        if "propensity" in scores[0]:  # seal select wrote the graded propensity itself
            graded = torch.tensor([s["propensity"] for s in scores], dtype=torch.float64)
        elif (folder / "prompt-signals" / "refusal.json").exists():
            aligned = cached_losses(folder / "prompt-signals", "refusal")
            graded = torch.tensor([-aligned[i][1][1] for i in index], dtype=torch.float64)
        kind = json.loads((run / "manifest.json").read_text())["config"]["score"]
        if kind not in ("visit-gap+refusal", "visit-gap+propensity", "visit-gap+refusal+propensity"):
            sys.exit(f"{run}: score {kind} has other parts than the three this script weighs")
        own = {"visit-gap+propensity": graded, "visit-gap+refusal+propensity": None}.get(kind, ref)  # None: both
        fixed_w = [1.0, 1.0, refusal_weight(ref)]
        both_w = fixed_w + fixed_w[2:]
        both = None if graded is None else weighted_harm([gap, brk, ref, graded], both_w)
        own_w, fixed = (both_w, both) if own is None else (fixed_w, weighted_harm([gap, brk, own], fixed_w))
        stored = torch.tensor([-s["score"] for s in scores], dtype=torch.float64)
        assert torch.allclose(fixed, stored, atol=1e-4), f"{run}: the recomputed score differs from the file's"
        three = [gap, brk, ref if own is None else own]  # agreement weights take three parts
        agree_w = agreement_weights(three)
        variants = [(f"fixed (the run's own, {kind})", own_w, fixed)]
        if agree_w is None:
            variants.append(("agreement: no fit, fixed weights kept", own_w, fixed))
        else:
            variants.append(("agreement", agree_w, weighted_harm(three, agree_w)))
        no_break = [1.0, 0.0, fixed_w[2]]
        for request, part in (("yes/no refusal", ref), ("graded refusal propensity", graded)):
            for name, w in ((request, fixed_w), (f"{request}, no break-off gap", no_break)):
                if part is not None and not (part is own and w is fixed_w):  # the run's own is listed first
                    variants.append((name, w, weighted_harm([gap, brk, part], w)))
        if both is not None and own is not None:
            variants.append(("both request-side parts (visit-gap+refusal+propensity)", both_w, both))
        for name, w, harm in variants:
            r = evaluate_signal(name, dict(zip(index, harm.tolist())), labels, rows)
            matched = "-" if r["matched"] is None else f"{r['matched']:.3f} ({r['pairs']})"
            print(f"| {folder.name} | {name} | {r['auroc']:.3f} | {r['recall20']:.2f} | {matched} | "
                  f"{', '.join(f'{x:.2f}' for x in w)} |", flush=True)


if __name__ == "__main__":
    main()
