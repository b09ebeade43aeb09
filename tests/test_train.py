"""seal finetune / seal align plumbing on tiny models: the loss falls, the model is saved and reloads, weights
act as per-sample loss weights, a resumed run equals an uninterrupted one."""

import json

import numpy as np
import pytest
import torch

import tiny
from seal.cli import main
from seal.models import load_model, load_tokenizer, per_sample_loss
from seal.tokenization import Collator, load_and_encode
from seal.train import AlignConfig, FinetuneConfig, run_finetune


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tiny.make_model_dir(tmp_path_factory.mktemp("base") / "model", pretrain_steps=150)


def mean_loss(model_path, data):
    tok = load_tokenizer(str(model_path))
    model = load_model(str(model_path))
    encoded, _ = load_and_encode(str(data), tok)
    with torch.no_grad():
        return per_sample_loss(model, Collator(tok.pad_token_id)(encoded)).mean().item()


def test_finetune_lowers_the_loss_and_saves_a_loadable_model(tmp_path, base):
    rows, _, _ = tiny.toy_sets(seed=0)
    data = tiny.write_jsonl(tmp_path / "d.jsonl", rows)
    m = run_finetune(FinetuneConfig(data=str(data), out=str(tmp_path / "ft"), model=str(base), lr=1e-2, epochs=3,
                                    progress=False))
    assert m["finished"] and m["steps"] == 3 * 7
    assert (tmp_path / "ft" / "adapter" / "adapter_config.json").exists()
    assert (tmp_path / "ft" / "model" / "config.json").exists()
    assert mean_loss(tmp_path / "ft", data) < mean_loss(base, data) - 0.2   # the run folder resolves to model/
    log = [json.loads(line)["loss"] for line in open(tmp_path / "ft" / "train_log.jsonl")]
    assert np.mean(log[-5:]) < np.mean(log[:5])


def test_weights_column_weights_each_sample(tmp_path, base):
    rows, labels, _ = tiny.toy_sets(seed=1)
    doubled = [{**r, "w": 2.0} for r in rows]
    dropped = [{**r, "w": 0.0 if y else 1.0} for r, y in zip(rows, labels)]
    kw = dict(model=str(base), lr=1e-2, epochs=2, progress=False)
    run_finetune(FinetuneConfig(data=str(tiny.write_jsonl(tmp_path / "a.jsonl", rows)), out=str(tmp_path / "a"), **kw))
    run_finetune(FinetuneConfig(data=str(tiny.write_jsonl(tmp_path / "b.jsonl", doubled)), out=str(tmp_path / "b"),
                                weights_column="w", **kw))
    la = [json.loads(line)["loss"] for line in open(tmp_path / "a" / "train_log.jsonl")]
    lb = [json.loads(line)["loss"] for line in open(tmp_path / "b" / "train_log.jsonl")]
    assert np.allclose(la, lb, atol=1e-5)                # a constant weight is the plain weighted mean
    run_finetune(FinetuneConfig(data=str(tiny.write_jsonl(tmp_path / "c.jsonl", dropped)), out=str(tmp_path / "c"),
                                weights_column="w", **kw))
    harmful = tiny.write_jsonl(tmp_path / "h.jsonl", [r for r, y in zip(rows, labels) if y])
    assert mean_loss(tmp_path / "c", harmful) > mean_loss(tmp_path / "a", harmful) + 0.5   # weight 0: not learnt


def test_bad_weight_is_named(tmp_path, base):
    rows, _, _ = tiny.toy_sets(seed=1)
    rows[3]["w"] = "heavy"
    data = tiny.write_jsonl(tmp_path / "d.jsonl", [{**r, "w": r.get("w", 1.0)} for r in rows])
    with pytest.raises(ValueError, match="column 'w' must be a number"):
        run_finetune(FinetuneConfig(data=str(data), out=str(tmp_path / "o"), model=str(base), weights_column="w",
                                    progress=False))


def test_resumed_finetune_equals_uninterrupted(tmp_path, base):
    rows, _, _ = tiny.toy_sets(seed=2)
    data = tiny.write_jsonl(tmp_path / "d.jsonl", rows)
    kw = dict(data=str(data), model=str(base), lr=1e-2, epochs=2, progress=False, checkpoint_every=4)
    run_finetune(FinetuneConfig(out=str(tmp_path / "full"), **kw))
    m = run_finetune(FinetuneConfig(out=str(tmp_path / "part"), max_steps=5, **kw))
    assert not m["finished"] and not (tmp_path / "part" / "model").exists()
    with open(tmp_path / "part" / "train_log.jsonl", "a") as f:      # a step logged after the last checkpoint
        f.write(json.dumps({"step": 6, "epoch": 0, "loss": 9.9}) + "\n")   # (as when a run is killed)
    m = run_finetune(FinetuneConfig(out=str(tmp_path / "part"), resume=True, **kw))
    assert m["finished"]
    full = [json.loads(line)["loss"] for line in open(tmp_path / "full" / "train_log.jsonl")]
    part = [json.loads(line) for line in open(tmp_path / "part" / "train_log.jsonl")]
    assert [r["step"] for r in part] == list(range(1, m["total_steps"] + 1))
    assert np.allclose(full, [r["loss"] for r in part], atol=1e-6)
    assert mean_loss(tmp_path / "full", data) == pytest.approx(mean_loss(tmp_path / "part", data), abs=1e-6)


def test_align_defaults_and_cli(tmp_path, base, capsys):
    cfg = AlignConfig(out="x")
    assert cfg.data == "builtin:align-broad" and cfg.lora_targets == ["all-linear"]
    _, _, safe = tiny.toy_sets(seed=0)
    data = tiny.write_jsonl(tmp_path / "safe.jsonl", safe)
    assert main(["align", "--data", str(data), "--model", str(base), "--out", str(tmp_path / "al"), "--epochs", "1",
                 "--progress", "false", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["output_model"].endswith("model")


def test_safeinstr_adds_seeded_safety_demonstrations(tmp_path, base):
    """--safety-data mixes safety demonstrations into the training set: the model then learns them, the draw is
    seeded, and the manifest says how many were added."""
    rows, labels, safe = tiny.toy_sets(seed=0)
    benign = tiny.write_jsonl(tmp_path / "b.jsonl", [r for r, y in zip(rows, labels) if not y])
    demos = tiny.write_jsonl(tmp_path / "demos.jsonl", safe)
    kw = dict(data=str(benign), model=str(base), lr=1e-2, epochs=2, progress=False, max_steps=None)
    plain = run_finetune(FinetuneConfig(out=str(tmp_path / "plain"), **kw))
    mixed = run_finetune(FinetuneConfig(out=str(tmp_path / "mixed"), safety_data=str(demos), safety_count=6, **kw))
    assert mixed["samples"] == plain["samples"] + 6
    assert mixed["safety_demos"] == {"data": str(demos), "added": 6, "available": len(safe)}
    assert mean_loss(tmp_path / "mixed", demos) < mean_loss(tmp_path / "plain", demos)
    with pytest.raises(Exception, match="safety_count"):
        FinetuneConfig(out="x", data="d", safety_count=3).validate()


def test_bf16_autocast_trains_close_to_fp32(tmp_path, base):
    rows, _, _ = tiny.toy_sets(seed=0)
    data = str(tiny.write_jsonl(tmp_path / "d.jsonl", rows))
    kw = dict(data=data, model=str(base), lr=1e-2, epochs=2, progress=False, merge=False)
    fp32 = run_finetune(FinetuneConfig(out=str(tmp_path / "a"), **kw))
    bf16 = run_finetune(FinetuneConfig(out=str(tmp_path / "b"), mixed_precision="bf16", **kw))
    assert bf16["config"]["mixed_precision"] == "bf16"
    la = [json.loads(x)["loss"] for x in open(tmp_path / "a" / "train_log.jsonl")]
    lb = [json.loads(x)["loss"] for x in open(tmp_path / "b" / "train_log.jsonl")]
    assert la != lb and np.allclose(la, lb, rtol=0.1)     # bf16 rounding, the same training
    assert bf16["final_loss"] < lb[0] and fp32["finished"]


def test_bf16_on_a_cpu_without_bf16_instructions_warns_once(monkeypatch, caplog):
    """bf16 autocast is emulated (slower than fp32) on a CPU without AVX512-BF16/AMX: the user is told, once, and
    the setting is still honoured; with hardware bf16, or fp32, nothing is said."""
    import logging

    import seal.models as models
    assert isinstance(models.cpu_has_native_bf16(), bool)   # this machine's answer, from torch's CPU checks
    models._warn_emulated_bf16.cache_clear()
    with caplog.at_level(logging.WARNING, logger="seal.models"):
        monkeypatch.setattr(models, "cpu_has_native_bf16", lambda: True)
        assert models.mixed_precision_autocast("cpu", "bf16").fast_dtype == torch.bfloat16
        models.mixed_precision_autocast("cpu", None)
        assert not caplog.records
        monkeypatch.setattr(models, "cpu_has_native_bf16", lambda: False)
        models.mixed_precision_autocast("cpu", "no")
        assert not caplog.records
        ctx = models.mixed_precision_autocast("cpu", "bf16")
        models.mixed_precision_autocast("cpu", "bf16")
    assert ctx._enabled and ctx.fast_dtype == torch.bfloat16
    models._warn_emulated_bf16.cache_clear()
    assert len(caplog.records) == 1 and "without bfloat16 instructions" in caplog.records[0].getMessage()


def test_mixed_precision_auto_is_bf16_only_where_the_hardware_computes_it(tmp_path, base, monkeypatch):
    """--mixed-precision auto: bf16 on a CPU with bfloat16 instructions, fp32 ("no") on one without, where emulated
    bf16 is slower; resolved before the run, so the manifest (and a cached stage's key) names what was used."""
    import seal.models as models
    from seal.pipeline import _precision_resolved

    monkeypatch.setattr(models, "cpu_has_native_bf16", lambda: True)
    assert models.resolve_mixed_precision("auto", "cpu") == "bf16"
    assert _precision_resolved({"mixed_precision": "auto", "device": "cpu"})["mixed_precision"] == "bf16"
    monkeypatch.setattr(models, "cpu_has_native_bf16", lambda: False)
    assert models.resolve_mixed_precision("auto", "cpu") == "no"
    assert [models.resolve_mixed_precision(v, "cpu") for v in ("bf16", "no", None)] == ["bf16", "no", None]
    assert _precision_resolved({"lr": 1.0}) == {"lr": 1.0}
    assert _precision_resolved({"mixed_precision": False})["mixed_precision"] == "no"  # YAML's `no`
    rows, _, _ = tiny.toy_sets(seed=0)
    data = str(tiny.write_jsonl(tmp_path / "d.jsonl", rows))
    manifest = run_finetune(FinetuneConfig(out=str(tmp_path / "a"), data=data, model=str(base), epochs=1,
                                           progress=False, merge=False, device="cpu", mixed_precision="auto"))
    assert manifest["config"]["mixed_precision"] == "no"
    with pytest.raises(SystemExit):  # not a choice
        main(["finetune", "--model", str(base), "--data", data, "--out", str(tmp_path / "b"),
              "--mixed-precision", "fp16"])
