"""How well a ranking finds known-harmful samples (labels are used only here, never by a selector)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def read_labels(path) -> dict[int, int]:
    """A labels file: JSON lines {"index": row, "label": "harmful" | "benign" | 1 | 0} -> {row: 1 if harmful}."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                label = row["label"]
                out[int(row["index"])] = int(label == "harmful" or label is True or label == 1)
    return out


def detection_metrics(scores: list[dict], labels: dict[int, int], drop_fraction: float = 0.2) -> dict:
    """AUROC and average precision of (-score) for the harmful class, and the share of harmful samples among
    the lowest-ranked `drop_fraction` (the ones `seal filter --keep 1-drop_fraction` removes)."""
    rows = [s for s in scores if s["index"] in labels]
    out = ranking_metrics(np.array([labels[s["index"]] for s in rows]), -np.array([s["score"] for s in rows]),
                          drop_fraction)
    for key in ("auroc", "average_precision", "harmful_recall_in_dropped"):
        if key in out:
            out[key] = round(out[key], 4)
    return out


def ranking_metrics(y: np.ndarray, risk: np.ndarray, drop_fraction: float = 0.2) -> dict:
    """detection_metrics on arrays, unrounded: y 1 = harmful, risk higher = dropped first."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    n_drop = int(round(drop_fraction * len(y)))
    dropped = np.argsort(-risk, kind="stable")[:n_drop]
    out = {"samples": len(y), "harmful": int(y.sum()), "drop_fraction": drop_fraction,
           "harmful_in_dropped": int(y[dropped].sum()), "dropped": n_drop}
    if 0 < y.sum() < len(y):
        out["auroc"] = float(roc_auc_score(y, risk))
        out["average_precision"] = float(average_precision_score(y, risk))
        out["harmful_recall_in_dropped"] = float(y[dropped].sum() / y.sum())
    return out


def read_scores_list(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
