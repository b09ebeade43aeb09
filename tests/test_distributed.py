"""Data-parallel selection: `torchrun --nproc_per_node 2 -m seal select` on CPU (gloo, through Accelerate) gives
the scores of a single-process run with the same global batch, and only process 0 writes the outputs."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import tiny
from seal.select import SelectConfig, run_select
from seal.train import FinetuneConfig, run_finetune


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tiny.make_model_dir(tmp_path_factory.mktemp("base") / "model", pretrain_steps=150)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(command: str, settings: dict, out, env: dict | None = None) -> None:
    args = []
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        args += [flag, *value] if isinstance(value, list) else [flag, str(value)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           "-m", "seal", command, *args, "--out", str(out), "--progress", "false", "--quiet"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("settings", [
    {"algorithm": 1, "lora_targets": ["all-linear"], "lr": 1e-2, "epochs": 2},
    {"algorithm": 2, "finetuning": "full", "lr": 3e-3, "epochs": 2},
], ids=["alg1-lora", "alg2-full"])
def test_two_processes_match_one(tmp_path, base, settings):
    rows, labels, safe = tiny.toy_sets(seed=0)
    data = tiny.write_jsonl(tmp_path / "data.jsonl", rows)
    safe_path = tiny.write_jsonl(tmp_path / "safe.jsonl", safe)
    common = dict(data=str(data), safe=str(safe_path), model=str(base), batch_size=8, safe_batch_size=4,
                  checkpoint_every=5, **settings)
    single = run_select(SelectConfig(out=str(tmp_path / "one"), progress=False, **common))

    _torchrun("select", common, tmp_path / "two")

    one = {s["id"]: s for s in map(json.loads, open(tmp_path / "one" / "scores.jsonl"))}
    two = {s["id"]: s for s in map(json.loads, open(tmp_path / "two" / "scores.jsonl"))}
    assert one.keys() == two.keys()
    ids = sorted(one)
    # the same global batch: equal up to the summation order of the gradients across processes
    diff = np.abs(np.array([one[i]["score"] for i in ids]) - np.array([two[i]["score"] for i in ids]))
    print(f"max |score difference| {diff.max():.2e}")
    assert diff.max() < 1e-4
    assert np.allclose([one[i]["loss"] for i in ids], [two[i]["loss"] for i in ids], atol=1e-4)
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["processes"] == 2 and manifest["finished"] and manifest["steps"] == single["steps"]
    # one set of outputs, written once by process 0
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    log = (tmp_path / "two" / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == list(range(1, single["total_steps"] + 1))


def test_two_process_finetune_matches_one(tmp_path, base):
    """seal finetune under torchrun (Accelerate's DDP wrapper): the same losses and the same adapter as one
    process with the same global batch, micro-batches included; one set of outputs."""
    rows, _, _ = tiny.toy_sets(seed=1)
    data = tiny.write_jsonl(tmp_path / "data.jsonl", [{**r, "w": 0.5 + (i % 3)} for i, r in enumerate(rows)])
    common = dict(data=str(data), model=str(base), lr=1e-2, epochs=2, batch_size=8, micro_batch_size=2,
                  weights_column="w", merge="false")
    run_finetune(FinetuneConfig(out=str(tmp_path / "one"), progress=False, **{**common, "merge": False}))
    _torchrun("finetune", common, tmp_path / "two")
    loss = lambda d: [json.loads(x)["loss"] for x in open(tmp_path / d / "train_log.jsonl")]  # noqa: E731
    assert np.allclose(loss("one"), loss("two"), atol=1e-5)
    from safetensors.torch import load_file
    a = load_file(tmp_path / "one" / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "two" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(np.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert json.loads((tmp_path / "two" / "manifest.json").read_text())["processes"] == 2
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())


def _weights(folder):
    from safetensors.torch import load_file
    return load_file(next(folder.glob("*.safetensors")))


@pytest.mark.parametrize("finetuning", ["lora", "full"])
def test_fsdp_finetune_matches_one_process(tmp_path, base, finetuning):
    """seal finetune --fsdp under torchrun (FSDP2 over gloo: model, gradients and optimizer states sharded
    between 2 processes): the losses, the adapter and the merged or fully fine-tuned model of one process with
    the same global batch, micro-batches included (batches of 7 split 4 + 3, the epoch's last 3 + 2: a process
    runs a padding pass to join the other's collectives); interrupted after 3 steps and resumed from its
    (gathered) checkpoint on the way. LoRA is sharded because the environment says so, as `accelerate launch` with
    configs/accelerate/fsdp.yaml does; full fine-tuning by --fsdp."""
    rows, _, _ = tiny.toy_sets(seed=2)
    data = tiny.write_jsonl(tmp_path / "data.jsonl", [{**r, "w": 0.5 + (i % 3)} for i, r in enumerate(rows)])
    common = dict(data=str(data), model=str(base), lr=3e-3, epochs=2,
                  batch_size=7, micro_batch_size=2, weights_column="w", finetuning=finetuning, checkpoint_every=2)
    single = run_finetune(FinetuneConfig(out=str(tmp_path / "one"), progress=False, **common))
    how, env = ({}, {"ACCELERATE_USE_FSDP": "true"}) if finetuning == "lora" else ({"fsdp": "true"}, {})
    _torchrun("finetune", {**common, **how, "max_steps": 3}, tmp_path / "two", env)
    cut = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert cut["steps"] == 3 and not cut["finished"] and cut["fsdp"]
    _torchrun("finetune", {**common, **how, "resume": "true"}, tmp_path / "two", env)

    loss = lambda d: [json.loads(x)["loss"] for x in open(tmp_path / d / "train_log.jsonl")]  # noqa: E731
    assert len(loss("two")) == single["total_steps"] and np.allclose(loss("one"), loss("two"), atol=1e-5)
    parts = ["model"] + (["adapter"] if finetuning == "lora" else [])
    for part in parts:
        a, b = _weights(tmp_path / "one" / part), _weights(tmp_path / "two" / part)
        assert a.keys() == b.keys() and all(np.allclose(a[k], b[k], atol=1e-5) for k in a), part
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["processes"] == 2 and manifest["fsdp"] and manifest["finished"]
    assert manifest["model"]["parameters"] == single["model"]["parameters"]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())


@pytest.mark.parametrize("settings", [
    {"algorithm": 1, "lora_targets": ["all-linear"], "lr": 1e-2},
    {"algorithm": 1, "finetuning": "full", "lr": 3e-3},
], ids=["alg1-lora", "alg1-full"])
def test_fsdp_select_matches_one_process(tmp_path, base, settings):
    """seal select with the proxy sharded between 2 processes (FSDP2 over gloo) gives the scores of one process
    with the same global batch. Batches of 7 in micro-batches of 2 and safe batches of 3 split unevenly (4 + 3,
    the epoch's last batch 3 + 2, safe 2 + 1), so a process runs padding passes to join the others' collectives;
    interrupted after 3 steps and resumed from its gathered checkpoint; a checkpoint made without FSDP is
    refused."""
    rows, labels, safe = tiny.toy_sets(seed=0)
    data = tiny.write_jsonl(tmp_path / "data.jsonl", rows)
    safe_path = tiny.write_jsonl(tmp_path / "safe.jsonl", safe)
    common = dict(data=str(data), safe=str(safe_path), model=str(base), batch_size=7, micro_batch_size=2,
                  safe_batch_size=3, epochs=2, checkpoint_every=2, **settings)
    single = run_select(SelectConfig(out=str(tmp_path / "one"), progress=False, **common))
    _torchrun("select", {**common, "max_steps": 3}, tmp_path / "two", {"ACCELERATE_USE_FSDP": "true"})
    _torchrun("select", {**common, "resume": "true", "fsdp": "true"}, tmp_path / "two")

    one = {s["id"]: s for s in map(json.loads, open(tmp_path / "one" / "scores.jsonl"))}
    two = {s["id"]: s for s in map(json.loads, open(tmp_path / "two" / "scores.jsonl"))}
    ids = sorted(one)
    assert one.keys() == two.keys()
    diff = np.abs(np.array([one[i]["score"] for i in ids]) - np.array([two[i]["score"] for i in ids]))
    print(f"max |score difference| {diff.max():.2e}")
    assert diff.max() < 1e-4
    assert [one[i]["rank"] for i in ids] == [two[i]["rank"] for i in ids]
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["processes"] == 2 and manifest["finished"] and manifest["steps"] == single["steps"]
    assert manifest["model"]["parameters"] == single["model"]["parameters"]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    # a data-parallel checkpoint cannot be resumed sharded
    _torchrun("select", {**common, "max_steps": 2}, tmp_path / "ddp")
    with pytest.raises(AssertionError, match="made without FSDP"):
        _torchrun("select", {**common, "resume": "true", "fsdp": "true"}, tmp_path / "ddp")


def test_deepspeed_launch_is_refused_with_a_pointer_to_fsdp(monkeypatch):
    from seal.distributed import current_shard
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    with pytest.raises(RuntimeError, match="DeepSpeed is not supported.*fsdp"):
        current_shard()
