"""`seal mix`: build a fine-tuning set from benign and harmful data at a given harmful fraction.

Samples round(size * harmful_fraction) harmful rows and the rest benign (seeded, without replacement),
shuffles them (--match-length first cuts the harmful responses to the benign ones' lengths) and writes to the
folder --out: mix.jsonl (prompt/response rows only, nothing that tells the two apart), labels.jsonl (id, index,
label, source; no training stage reads it) and manifest.json."""

from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .config import ConfigError, to_dict
from .data import SHAPES, DataError, file_fingerprint, load_samples, sample_id, write_records
from .manifest import write_json

MATCH_MIN_WORDS = 16  # --match-length never cuts a harmful response shorter: its opening must still say what it is


def cut_to_words(text: str, n: int) -> str:
    """text up to the end of its n-th whitespace-separated word (its own spacing and line breaks kept)."""
    words = list(re.finditer(r"\S+", text))
    return text if len(words) <= n else text[:words[n - 1].end()]


@dataclass
class MixConfig:
    """Settings of `seal mix`. Every field is a CLI flag (--harmful-fraction), a YAML key and a key=value override."""

    benign: str = field(metadata={"help": "benign prompt/response data (any format seal reads, or builtin:NAME)"})
    harmful: str = field(metadata={"help": "harmful prompt/response data (any format seal reads, or builtin:NAME)"})
    out: str = field(metadata={"help": "output folder for mix.jsonl, labels.jsonl and manifest.json"})
    size: int = field(default=500, metadata={"help": "rows in the mix"})
    harmful_fraction: float = field(default=0.1, metadata={
        "help": "fraction of harmful rows: round(size * fraction) harmful, the rest benign"})
    seed: int = field(default=0, metadata={"help": "seed of the sampling and of the row order"})
    benign_shape: str | None = field(default=None, metadata={
        "help": "record shape of --benign (auto-detected)"})
    harmful_shape: str | None = field(default=None, metadata={
        "help": "record shape of --harmful (auto-detected)"})
    match_length: bool = field(default=False, metadata={
        "help": "cut each harmful response, at a word boundary, to the word count of a benign response of the mix "
                f"drawn at random (never below {MATCH_MIN_WORDS} words), so that length alone does not tell the "
                "two apart; the same rows in the same order as without it"})

    def validate(self) -> None:
        if self.size < 1:
            raise ConfigError(f"size must be >= 1, got {self.size}")
        if not 0.0 <= self.harmful_fraction <= 1.0:
            raise ConfigError(f"harmful_fraction must lie in [0, 1], got {self.harmful_fraction}")
        for name in ("benign_shape", "harmful_shape"):
            if getattr(self, name) not in (None, *SHAPES):
                raise ConfigError(f"{name} must be one of {', '.join(SHAPES)}, got {getattr(self, name)!r}")


def run_mix(cfg: MixConfig) -> dict:
    """Write the mix, its labels and a manifest into cfg.out; returns counts and paths."""
    cfg.validate()
    n_harmful = round(cfg.size * cfg.harmful_fraction)
    n_benign = cfg.size - n_harmful
    harmful, _, harmful_report = load_samples(cfg.harmful, shape=cfg.harmful_shape)
    benign, _, benign_report = load_samples(cfg.benign, shape=cfg.benign_shape)
    harmful_ids = {s.id for s in harmful}
    overlap = sum(s.id in harmful_ids for s in benign)
    benign = [s for s in benign if s.id not in harmful_ids]  # a sample in both inputs counts as harmful
    for name, pool, need in (("harmful", harmful, n_harmful), ("benign", benign, n_benign)):
        if len(pool) < need:
            raise DataError(f"--{name} {getattr(cfg, name)} has {len(pool)} usable rows, but --size {cfg.size} with "
                            f"--harmful-fraction {cfg.harmful_fraction} needs {need} {name} rows. Lower --size or "
                            "change --harmful-fraction, or add data.")

    rng = random.Random(cfg.seed)
    picked = [(s, "harmful", cfg.harmful) for s in rng.sample(harmful, n_harmful)]
    picked += [(s, "benign", cfg.benign) for s in rng.sample(benign, n_benign)]
    truncated = 0
    if cfg.match_length and n_benign:  # its own seeded draw: the rows and their order stay those of the plain mix
        lengths = [len(s.response.split()) for s, label, _ in picked if label == "benign"]
        draw = random.Random(f"{cfg.seed}:match-length")
        for j, (s, label, source) in enumerate(picked):
            if label == "harmful":
                cut = cut_to_words(s.response, max(draw.choice(lengths), MATCH_MIN_WORDS))
                if cut != s.response:
                    picked[j] = (dataclasses.replace(s, response=cut, id=sample_id(s.prompt, cut, s.prefill)),
                                 label, source)
                    truncated += 1
    rng.shuffle(picked)
    if all(len(s.prompt) == 1 for s, _, _ in picked):
        rows = [{"prompt": s.prompt[0]["content"], "response": s.response} for s, _, _ in picked]
    else:  # a system message or earlier turns somewhere: chat messages for every row (one shape per file)
        rows = [{"messages": s.prompt + [{"role": "assistant", "content": s.response}]} for s, _, _ in picked]
    for row, (s, _, _) in zip(rows, picked, strict=True):
        if s.prefill:
            row["prefill"] = s.prefill
    labels = [{"id": s.id, "index": i, "label": label, "source": source,
               "source_index": s.index} for i, (s, label, source) in enumerate(picked)]

    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder; --out names a folder for the mix files.")
    out.mkdir(parents=True, exist_ok=True)
    paths = {"mix": str(out / "mix.jsonl"), "labels": str(out / "labels.jsonl"), "manifest": str(out / "manifest.json")}
    write_records(rows, paths["mix"], "jsonl")
    write_records(labels, paths["labels"], "jsonl")
    counts = {"rows": len(rows), "harmful": n_harmful, "benign": n_benign,
              "available_harmful": len(harmful), "available_benign": len(benign),
              "benign_dropped_as_also_harmful": overlap, "harmful_cut_to_benign_length": truncated}
    write_json(paths["manifest"], {
        "command": "mix", "seal_version": __version__, "created": datetime.now(timezone.utc).isoformat(),
        "config": to_dict(cfg), "counts": counts,
        "inputs": {"benign": {"spec": cfg.benign, **file_fingerprint(cfg.benign), "read": benign_report.counts()},
                   "harmful": {"spec": cfg.harmful, **file_fingerprint(cfg.harmful),
                               "read": harmful_report.counts()}},
        "files": paths})
    return {**counts, **paths}
