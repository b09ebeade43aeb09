"""What every stage records about itself: package versions and JSON written atomically."""

from __future__ import annotations

import json
import os
import platform
import threading
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


def process_peak_rss_mib() -> float | None:
    """This process's lifetime peak resident memory (VmHWM, Linux), in MiB; unlike ru_maxrss it does not carry a
    parent's peak over fork/exec. None where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


class PeakMemory:
    """Peak resident memory of this process while the block runs, sampled from /proc/self/statm every `every`
    seconds (the process's own lifetime peak, VmHWM, would include earlier stages of the same process), and the
    peak CUDA memory allocated by torch when a GPU is in use. Linux; elsewhere rss_mib stays None.

        with PeakMemory() as peak:
            ...
        peak.as_dict()  # {"peak_rss_mib": ..., "peak_cuda_mib": ...}
    """

    def __init__(self, every: float = 0.2):
        self.every, self.rss = every, None
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def _sample(self) -> None:
        try:
            with open("/proc/self/statm") as f:
                rss = int(f.read().split()[1]) * self._page
        except OSError:
            return
        self.rss = rss if self.rss is None else max(self.rss, rss)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self):
        import torch
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.reset_peak_memory_stats()
        self._sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()

    def as_dict(self) -> dict:
        import torch
        cuda = torch.cuda.max_memory_allocated() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
        return {"peak_rss_mib": None if self.rss is None else round(self.rss / 2**20, 1),
                "peak_cuda_mib": None if cuda is None else round(cuda / 2**20, 1)}
