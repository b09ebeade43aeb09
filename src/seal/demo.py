"""`seal demo`: `seal run` on the embedded default config (seal/resources/configs/demo.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from .config import build


def demo_config_path() -> Path:
    return Path(str(files("seal") / "resources" / "configs" / "demo.yaml"))


@dataclass(kw_only=True)
class DemoConfig:
    out: str = field(default="runs/demo", metadata={"help": "run folder"})
    progress: bool = field(default=True, metadata={"help": "show progress bars"})


def run_demo(cfg: DemoConfig) -> dict:
    from .pipeline import RunConfig, run_pipeline
    run_cfg = build(RunConfig, {"out": cfg.out, "progress": cfg.progress}, str(demo_config_path()))
    return run_pipeline(run_cfg)
