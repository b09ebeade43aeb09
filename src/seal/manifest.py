"""What every stage records about itself: package versions and JSON written atomically."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path


def versions() -> dict:
    """Installed versions of the libraries a result depends on (None for one that is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    def get(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    from . import __version__
    return {"seal-llm": __version__, **{n: get(n) for n in ("torch", "transformers", "peft", "accelerate",
                                                             "datasets")},
            "python": platform.python_version()}


def write_json(path, obj) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)
