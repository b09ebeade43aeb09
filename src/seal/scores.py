"""The scores file: one JSON line per scored sample, keyed by the sample's content id.

    {"id": "3f2a...", "index": 17, "score": 0.42, "weight": 1.31, "rank": 3, ...}

`score` is the learned logit (higher = keep), `weight` the sample's weight N*softmax(w) or 2*sigmoid(w),
`rank` 1 = keep first, `index` the row in the file that was scored. Extra diagnostic fields may follow."""

from __future__ import annotations

import json
import os
from pathlib import Path


class ScoresError(ValueError):
    pass


def write_scores(path, rows) -> None:
    """Write score rows (dicts with id, index, score, weight, rank) atomically, ranked order."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    os.replace(tmp, path)


def read_scores(path) -> dict[str, dict]:
    """Read a scores file into {id: row}; a malformed line or a duplicated id is an error naming the line."""
    path = Path(path)
    if not path.exists():
        raise ScoresError(f"{path}: scores file not found (seal select writes <out>/scores.jsonl)")
    out: dict[str, dict] = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ScoresError(f"{path}:{line_no}: not valid JSON ({e.msg})") from None
            for key in ("id", "score"):
                if key not in row:
                    raise ScoresError(f"{path}:{line_no}: field '{key}' missing")
            if row["id"] in out:
                raise ScoresError(f"{path}:{line_no}: id {row['id']} appears twice")
            out[row["id"]] = row
    if not out:
        raise ScoresError(f"{path}: no scores in file")
    return out


def ranked(ids: list[str], scores: list[float]) -> list[int]:
    """Positions sorted best first: by score descending, ties broken by id so the order is reproducible."""
    return sorted(range(len(ids)), key=lambda i: (-scores[i], ids[i]))
