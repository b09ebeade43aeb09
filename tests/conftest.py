import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))

import tiny  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Llama with a ChatML chat template, saved as a model folder."""
    return tiny.make_model_dir(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_model_plain(tmp_path_factory) -> Path:
    """The same tiny model without a chat template (exercises the documented fallback format)."""
    return tiny.make_model_dir(tmp_path_factory.mktemp("tiny_plain") / "model", chat_template=False)


@pytest.fixture(scope="module")
def aligned(base, tmp_path_factory):
    """A LoRA adapter that made the tiny base (the test module's `base` fixture) refuse the toy harmful requests
    (seal align on the toy safe set)."""
    from seal.train import AlignConfig, run_align
    out = tmp_path_factory.mktemp("aligned")
    safe_path = tiny.write_jsonl(out / "safe.jsonl", tiny.toy_sets(seed=0)[2])
    run_align(AlignConfig(data=str(safe_path), model=str(base), out=str(out / "run"), epochs=20, lr=3e-3,
                          progress=False))  # enough for its greedy answers to refuse unseen harmful requests
    return str(out / "run" / "adapter")
