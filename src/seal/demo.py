"""`seal demo`: SEAL selection on the embedded SmolLM2 and the shipped example mix, with known labels.

select (resumable) -> filter (keep the top fraction) -> how well the dropped samples match the known harmful
ones. Everything lands in one run folder; rerunning skips the finished selection."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from .filter import FilterConfig, run_filter
from .metrics import detection_metrics, read_labels, read_scores_list
from .select import SelectConfig, run_select

log = logging.getLogger(__name__)


def example_path(name: str) -> Path:
    return Path(str(files("seal") / "resources" / "examples" / name))


@dataclass
class DemoConfig:
    out: str = field(default="runs/demo", metadata={"help": "run folder"})
    model: str = field(default="smollm2", metadata={"help": "proxy model (embedded SmolLM2 by default)"})
    algorithm: int = field(default=1, metadata={"help": "SEAL algorithm", "choices": (1, 2)})
    epochs: int = field(default=2, metadata={"help": "selection epochs"})
    keep: float = field(default=0.8, metadata={"help": "fraction of the mix to keep"})
    max_length: int = field(default=256, metadata={"help": "tokens per sample"})
    seed: int = field(default=0, metadata={"help": "seed"})
    overwrite: bool = field(default=False, metadata={"help": "start again instead of reusing a finished run"})
    progress: bool = field(default=True, metadata={"help": "show progress bars"})


def run_demo(cfg: DemoConfig) -> dict:
    out = Path(cfg.out)
    mix, safe, labels = example_path("mix.jsonl"), example_path("safe.jsonl"), example_path("mix_labels.jsonl")
    select_cfg = SelectConfig(data=str(mix), safe=str(safe), out=str(out / "select"), model=cfg.model,
                              algorithm=cfg.algorithm, epochs=cfg.epochs, max_length=cfg.max_length, seed=cfg.seed,
                              resume=not cfg.overwrite, overwrite=cfg.overwrite, progress=cfg.progress)
    manifest = run_select(select_cfg)
    kept = run_filter(FilterConfig(data=str(mix), scores=str(out / "select" / "scores.jsonl"),
                                   out=str(out / "selected.jsonl"), keep=cfg.keep))
    detection = detection_metrics(read_scores_list(out / "select" / "scores.jsonl"), read_labels(labels),
                                  drop_fraction=1 - cfg.keep)
    summary = {"scores": str(out / "select" / "scores.jsonl"), "selected": str(out / "selected.jsonl"),
               "kept": kept["kept"], "removed": kept["removed"], "detection": detection,
               "selection_wall_time_s": manifest["wall_time_s"], "algorithm": cfg.algorithm}
    (out / "demo.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("harmful samples found: AUROC %s, %d of %d harmful among the %d dropped",
             detection.get("auroc"), detection["harmful_in_dropped"], detection["harmful"], detection["dropped"])
    log.info("results in %s (demo.json, select/scores.jsonl, selected.jsonl)", out)
    return summary
