"""What every stage records about itself: package versions and JSON written atomically."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path


def versions() -> dict:
    import accelerate
    import datasets
    import peft
    import torch
    import transformers

    from . import __version__
    return {"seal-llm": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__, "accelerate": accelerate.__version__, "datasets": datasets.__version__,
            "python": platform.python_version()}


def write_json(path, obj) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)
