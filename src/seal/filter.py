"""`seal filter`: keep the top fraction of a dataset by score, or write every row with its weight.

Rows are matched to scores by content id, never by position, so a reordered or re-split copy of the scored
data selects the same samples. Rows that the data layer drops (duplicates, empty responses, malformed rows
with --on-error skip) are dropped here too and counted. Filtering never tokenises, so the rows kept do not depend
on the tokenizer of the model that scored them or of the model that will be trained on them.

A usable row with no score (e.g. `seal select --length-policy drop` left it out as too long for the proxy) is an
error by default; `--unscored drop` removes such rows and `--unscored keep` keeps them all, in both cases counted
in the result, and --keep then applies to the scored rows. With the default `--length-policy truncate` every
row is scored (a long one on its first max_length tokens), whatever the target model later truncates."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .config import ConfigError, parse_fields
from .data import load_samples, write_records
from .scores import ScoresError, ranked, read_scores


@dataclass
class FilterConfig:
    data: str = field(metadata={"help": "dataset to filter (any format seal reads; written back in that format)"})
    scores: str = field(metadata={"help": "scores.jsonl written by seal select"})
    out: str = field(metadata={"help": "output file (or folder for a Hugging Face dataset)"})
    keep: float | None = field(default=None, metadata={"help": "fraction to keep, e.g. 0.8 (top by score)"})
    weights_column: str | None = field(default=None, metadata={
        "help": "instead of filtering, write every row with its weight in this column"})
    shape: str | None = field(default=None, metadata={"help": "record shape of --data (auto-detected)"})
    fields: list[str] | None = field(default=None, metadata={"help": "field names, e.g. prompt=q,response=a"})
    on_error: str = field(default="raise", metadata={"help": "malformed records: raise or skip",
                                                      "choices": ("raise", "skip")})
    format: str | None = field(default=None, metadata={
        "help": "input format when the file name does not say: jsonl, json, csv, parquet or hf"})
    out_format: str | None = field(default=None, metadata={"help": "output format (default: the input's format)"})
    unscored: str = field(default="error", metadata={
        "help": "rows with no score: error, drop (remove them) or keep (keep them all; --keep applies to the rest)",
        "choices": ("error", "drop", "keep")})

    def validate(self) -> None:
        if (self.keep is None) == (self.weights_column is None):
            raise ConfigError("give exactly one of --keep FRACTION or --weights-column NAME")
        if self.keep is not None and not 0.0 < self.keep <= 1.0:
            raise ConfigError(f"--keep must be a fraction in (0, 1], got {self.keep}")


def n_kept(keep: float, n: int) -> int:
    """How many of n samples a keep fraction keeps (at least one): the count seal filter, seal run's random
    subset and the report all use."""
    return max(1, math.floor(keep * n + 1e-9))


def run_filter(cfg: FilterConfig) -> dict:
    """Apply a scores file to a dataset; returns counts of what was kept, dropped and why."""
    samples, records, report = load_samples(cfg.data, shape=cfg.shape, fields=parse_fields(cfg.fields),
                                            on_error=cfg.on_error, fmt=cfg.format)
    scores = read_scores(cfg.scores)
    missing = [s for s in samples if s.id not in scores]
    if missing and cfg.unscored == "error":
        first = ", ".join(f"row {s.index} (line {s.line})" for s in missing[:3])
        raise ScoresError(
            f"{cfg.scores} does not cover {cfg.data}: {len(missing)} of {len(samples)} samples have no score "
            f"(first: {first}). Score this data with seal select, pass the data that was scored, or choose "
            "--unscored drop|keep (e.g. rows seal select --length-policy drop left out)."
        )
    unscored = missing
    samples = [s for s in samples if s.id in scores]
    raw = {r.index: r.raw for r in records}
    fmt = cfg.out_format or report.format
    extra = {"unscored": len(unscored), "unscored_action": cfg.unscored} if unscored else {}
    if cfg.weights_column is not None:
        written = sorted(samples + (unscored if cfg.unscored == "keep" else []), key=lambda s: s.index)
        rows = [{**raw[s.index], cfg.weights_column: scores[s.id].get("weight", scores[s.id]["score"])
                 if s.id in scores else 1.0} for s in written]  # an unscored row kept: weight 1, the mean
        write_records(rows, cfg.out, fmt)
        return {"rows": report.rows, "written": len(rows), "dropped": report.counts(), "mode": "weights", **extra}
    order = ranked([s.id for s in samples], [scores[s.id]["score"] for s in samples])
    n_keep = n_kept(cfg.keep, len(samples))
    kept = [samples[i] for i in order[:n_keep]] + (unscored if cfg.unscored == "keep" else [])
    kept.sort(key=lambda s: s.index)  # keep the input's row order
    write_records([raw[s.index] for s in kept], cfg.out, fmt)
    return {"rows": report.rows, "usable": len(samples) + len(unscored), "kept": len(kept),
            "removed": len(samples) + len(unscored) - len(kept), "dropped": report.counts(), "mode": "keep",
            **extra}
