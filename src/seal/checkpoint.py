"""Run folders and checkpoints: one `checkpoint/state.pt` per run, written atomically."""

from __future__ import annotations

import json
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


def trainable_params(model) -> dict[str, torch.Tensor]:
    """The trainable parameters of a model, on CPU, for a checkpoint."""
    return {n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad}


def restore_params(model, params: dict[str, torch.Tensor]) -> None:
    """Copy checkpointed parameters back into a model built the same way."""
    named = dict(model.named_parameters())
    with torch.no_grad():
        for n, v in params.items():
            named[n].copy_(v)


def truncate_log(path: Path, step: int) -> None:
    """Keep only the lines of a per-step JSONL log whose step is already done: a resumed run rewrites the rest,
    so steps logged after the last checkpoint are not duplicated."""
    if not path.exists():
        return
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
    path.write_text("".join(ln + "\n" for ln in lines))


def save_state(out, state: dict) -> None:
    d = Path(out) / "checkpoint"
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / "state.pt.tmp"
    torch.save(state, tmp)
    os.replace(tmp, d / "state.pt")


def load_state(out) -> dict | None:
    path = Path(out) / "checkpoint" / "state.pt"
    return torch.load(path, weights_only=False) if path.exists() else None
