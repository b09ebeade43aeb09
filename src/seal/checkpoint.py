"""Run folders and checkpoints: one `checkpoint/state.pt` per run, written atomically."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from .config import ConfigError


def prepare_out(out, resume: bool, overwrite: bool, outputs: tuple[str, ...]) -> Path:
    """Create the run folder; refuse to mix a new run with an earlier one unless told to resume or overwrite."""
    out = Path(out)
    if out.exists() and not resume:
        earlier = [name for name in ("checkpoint",) + outputs if (out / name).exists()]
        if earlier and not overwrite:
            raise ConfigError(f"{out}: holds an earlier run ({', '.join(earlier)}); use --resume to continue it or "
                              "--overwrite to replace it")
        for name in earlier:
            p = out / name
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


def save_state(out, state: dict) -> None:
    d = Path(out) / "checkpoint"
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / "state.pt.tmp"
    torch.save(state, tmp)
    os.replace(tmp, d / "state.pt")


def load_state(out) -> dict | None:
    path = Path(out) / "checkpoint" / "state.pt"
    return torch.load(path, weights_only=False) if path.exists() else None
