"""How the visit gap of a `seal select` run drifts with the step at which each sample was visited, and how it ranks
once that drift is taken out (offline, from a finished run's scores.jsonl; Algorithm 1, one epoch).

Per quarter of the epoch: the mean gap l(theta) - l(theta_hat) and the AUROC among the samples visited then; over
the run: the AUROC / harmful share among the lowest 20% of the raw gap and of the gap minus a moving average of the
per-step mean gap over +-W steps (docs/selection-quality.md).

    python benchmarks/visit_drift.py runs/hard/alpaca-heldout/select/defaults --labels runs/hard/alpaca-heldout/mix
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from seal.batching import epoch_batches
from seal.metrics import ranking_metrics, read_labels


def score(y: np.ndarray, s: np.ndarray) -> str:
    m = ranking_metrics(y, s)
    return f"{m['auroc']:.3f} / {m['harmful_recall_in_dropped']:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a finished seal select folder (scores.jsonl, manifest.json)")
    ap.add_argument("--labels", required=True, help="the mix folder holding labels.jsonl")
    ap.add_argument("--windows", type=int, nargs="+", default=[1, 2, 4, 8])
    args = ap.parse_args()
    run = Path(args.run)
    cfg = json.loads((run / "manifest.json").read_text())["config"]
    labels = read_labels(Path(args.labels) / "labels.jsonl")
    scores = sorted((json.loads(line) for line in open(run / "scores.jsonl")), key=lambda s: s["id"])  # id order
    step = np.zeros(len(scores), dtype=int)
    seed = cfg.get("data_seed") if cfg.get("data_seed") is not None else cfg.get("seed", 0)
    for k, idx in enumerate(epoch_batches(len(scores), cfg["batch_size"], seed, 0)):
        step[idx.numpy()] = k
    y = np.array([labels[s["index"]] for s in scores])
    gap = np.array([s["loss"] - s["loss_hat"] for s in scores])
    quarters = np.array_split(np.arange(step.max() + 1), 4)
    for q, steps in enumerate(quarters, 1):
        m = np.isin(step, steps)
        auc = f"{roc_auc_score(y[m], gap[m]):.2f}" if 0 < y[m].sum() < m.sum() else "-"
        print(f"quarter {q}: {m.sum()} samples, {y[m].sum()} harmful, mean gap {gap[m].mean():+.3f}, AUROC {auc}")
    per_step = np.array([gap[step == k].mean() for k in range(step.max() + 1)])
    print(f"raw visit gap: {score(y, gap)}")
    for w in args.windows:
        trend = np.array([per_step[max(0, k - w):k + w + 1].mean() for k in range(len(per_step))])
        print(f"minus a moving average over +-{w} steps: {score(y, gap - trend[step])}")


if __name__ == "__main__":
    main()
