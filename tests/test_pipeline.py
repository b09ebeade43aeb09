"""seal run end to end on a tiny model: every artefact exists and parses; a rerun skips the cached stages; a
changed setting reruns that stage and what follows it, not what comes before."""

import json

import pytest
import yaml

import tiny
from seal.cli import main


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tiny.make_model_dir(tmp_path_factory.mktemp("base") / "model", pretrain_steps=100)


def _labelled_sets(tmp_path, n_benign: int) -> tuple:
    """A toy fine-tuning set with 4 harmful rows, its labels file and a safe set, written as JSONL."""
    rows, labels, safe = tiny.toy_sets(seed=0, n_benign=n_benign, n_harmful=4, n_safe_refusals=8, n_safe_benign=8)
    data = tiny.write_jsonl(tmp_path / "data.jsonl", rows)
    labels_path = tiny.write_jsonl(tmp_path / "labels.jsonl", [
        {"index": i, "label": "harmful" if y else "benign"} for i, y in enumerate(labels)])
    return data, labels_path, tiny.write_jsonl(tmp_path / "safe.jsonl", safe)


def test_seal_run_end_to_end_with_caching(tmp_path, base, capsys, monkeypatch):
    monkeypatch.setenv("SEAL_CACHE", str(tmp_path / "cache"))       # aligned models are cached here
    data, labels_path, safe_path = _labelled_sets(tmp_path, n_benign=24)
    harmful = tiny.write_jsonl(tmp_path / "eh.jsonl", [{"prompt": p} for p in tiny.harmful_prompts()[-4:]])
    benign = tiny.write_jsonl(tmp_path / "eb.jsonl", [{"prompt": f"what is {i} plus 3 ?"} for i in range(4)])
    tasks = tiny.write_jsonl(tmp_path / "et.jsonl", [{"prompt": f"what is {i} plus 4 ?",
                                                      "answer": f"the answer is {i + 4} ."} for i in range(4)])
    config = {
        "out": str(tmp_path / "run"), "model": str(base), "align": True,
        "align_settings": {"data": str(safe_path), "epochs": 1, "lr": 1e-2},
        "data": str(data), "labels": str(labels_path), "safe": str(safe_path),
        "select": {"epochs": 1, "finetuning": "full", "lr": 3e-3}, "keep": 0.75,
        "finetune": {"epochs": 1, "lr": 1e-2},
        "evaluate": {"harmful": str(harmful), "benign": str(benign), "tasks": str(tasks), "heldout": str(data),
                     "judges": ["keyword:seal-v1"], "max_new_tokens": 4, "task_max_new_tokens": 4},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))

    assert main(["run", str(tmp_path / "run.yaml"), "--progress", "false", "-q"]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = tmp_path / "run"
    expected = ["aligned", "select", "data", "eval-start", "ft-full", "eval-full", "ft-random", "eval-random",
                "ft-seal", "eval-seal"]
    assert first["ran"] == expected and first["skipped"] == []
    assert first["model"].startswith(str(tmp_path / "cache" / "aligned"))
    assert (tmp_path / "cache" / "aligned" / first["model"].split("/")[-1] / "model" / "config.json").exists()
    assert len([json.loads(line) for line in open(run / "select" / "scores.jsonl")]) == 28
    sizes = {name: len(open(run / "data" / f"{name}.jsonl").read().splitlines()) for name in ("full", "random",
                                                                                              "seal")}
    assert sizes == {"full": 28, "random": 21, "seal": 21}
    for name in ("start", "full", "random", "seal"):
        metrics = json.loads((run / f"eval-{name}" / "metrics.json").read_text())
        assert metrics["harmful"]["n"] == 4 and metrics["tasks"]["n"] == 4 and "mean_loss" in metrics["heldout"]
        assert len((run / f"eval-{name}" / "generations.jsonl").read_text().splitlines()) == 12
    report = (run / "report.md").read_text()
    assert "AUROC" in report and "fine-tuned on SEAL's selection" in report and "Lowest-ranked" in report
    assert (run / "plots" / "scores.png").stat().st_size > 1000
    assert (run / "plots" / "selector.png").stat().st_size > 1000
    assert "data:image/png;base64," in (run / "report.html").read_text()

    assert main(["run", str(tmp_path / "run.yaml"), "--progress", "false", "-q"]) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert second["ran"] == [] and second["skipped"] == expected

    assert main(["run", str(tmp_path / "run.yaml"), "keep=0.5", "--progress", "false", "-q"]) == 0
    third = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert third["skipped"] == ["aligned", "select", "eval-start", "ft-full", "eval-full"]   # full set unchanged
    assert third["ran"] == ["data", "ft-random", "eval-random", "ft-seal", "eval-seal"]


def test_report_of_a_missing_folder_is_an_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_seal_run_with_a_target_aligns_it_and_compares_its_own_selection(tmp_path, base, capsys, monkeypatch):
    """Proxy and target differ (another tokenisation): both are aligned, the target fine-tuned on the proxy's
    selection and on its own (seal-target), and the report puts the two selections and their overlap side by side."""
    monkeypatch.setenv("SEAL_CACHE", str(tmp_path / "cache"))
    target = tiny.make_model_dir(tmp_path / "target", seed=1, chat_template=False, pretrain_steps=50)
    data, labels_path, safe_path = _labelled_sets(tmp_path, n_benign=12)
    prompts = tiny.write_jsonl(tmp_path / "e.jsonl", [{"prompt": p} for p in tiny.harmful_prompts()[-2:]])
    config = {
        "out": str(tmp_path / "run"), "model": str(base), "target": str(target), "align": True,
        "align_settings": {"data": str(safe_path), "epochs": 1, "lr": 1e-2},
        "data": str(data), "labels": str(labels_path), "safe": str(safe_path), "compare": ["seal", "seal-target"],
        "select": {"epochs": 1, "lr": 1e-3, "lora_layers": 1}, "target_select": {"lora_layers": None},
        "keep": 0.75, "finetune": {"epochs": 1, "lr": 1e-2},
        "evaluate": {"harmful": str(prompts), "benign": str(prompts), "tasks": None, "heldout": None,
                     "judges": ["keyword:seal-v1"], "max_new_tokens": 2},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    assert main(["run", str(tmp_path / "run.yaml"), "--progress", "false", "-q"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = tmp_path / "run"
    assert out["ran"] == ["aligned", "aligned", "select", "select-target", "data", "eval-start", "ft-seal",
                          "eval-seal", "ft-seal-target", "eval-seal-target"]
    assert out["target"] != out["model"] and out["target"].startswith(str(tmp_path / "cache" / "aligned"))
    proxy = json.loads((run / "select" / "manifest.json").read_text())
    own = json.loads((run / "select-target" / "manifest.json").read_text())
    assert proxy["model"]["name"] == str(base) and own["model"]["name"] == str(target)
    assert own["config"]["safety_adapter"] == out["target"] + "/adapter"     # Algorithm 1 on the aligned target
    assert proxy["config"]["lora_layers"] == 1 and own["config"]["lora_layers"] is None   # target_select
    assert own["config"]["epochs"] == proxy["config"]["epochs"] == 1
    assert proxy["peak_rss_mib"] > 0 and proxy["wall_time_s"] > 0
    ft = json.loads((run / "ft-seal-target" / "manifest.json").read_text())
    assert ft["config"]["model"] == out["target"] and ft["samples"] == 12
    report = (run / "report.md").read_text()
    assert "target (own selector)" in report and "Proxy and target rankings" in report
    assert "fine-tuned on the target's own SEAL selection" in report


def test_demo_config_is_valid_and_matches_its_copy():
    """The embedded demo config (what `seal demo` runs) equals configs/demo.yaml and every stage's settings are
    settings of that stage (a typo would otherwise surface only after the alignment has run)."""
    from pathlib import Path

    from seal.config import build
    from seal.demo import demo_config_path
    from seal.pipeline import RunConfig
    from seal.train import AlignConfig, FinetuneConfig

    embedded = demo_config_path()
    assert embedded.read_text() == (Path(__file__).parents[1] / "configs" / "demo.yaml").read_text()
    cfg = build(RunConfig, {}, str(embedded))
    AlignConfig(out="x", **cfg.align_settings).validate()
    FinetuneConfig(data="x", out="x", **cfg.finetune).validate()
    assert cfg.align_settings["safety_data"] == "builtin:align-deep-borderline"
    assert cfg.align_settings["data"] == "builtin:align-broad"  # what the README's demo numbers were measured with
    assert cfg.align_settings["mixed_precision"] == "auto"     # bf16 only where the hardware computes it


def test_transfer_config_is_valid():
    """configs/transfer.yaml (benchmarks/transfer.py): every stage's settings, both selections' included, are
    settings of that stage, and the target selects for itself with every layer while the proxy uses its top 4."""
    from pathlib import Path

    from seal.config import build
    from seal.pipeline import RunConfig
    from seal.select import SelectConfig
    from seal.train import AlignConfig, FinetuneConfig

    cfg = build(RunConfig, {}, str(Path(__file__).parents[1] / "configs" / "transfer.yaml"))
    cfg.validate()
    AlignConfig(out="x", **cfg.align_settings).validate()
    FinetuneConfig(data="x", out="x", **cfg.finetune).validate()
    proxy = SelectConfig(data="x", safe="x", out="x", **cfg.select)
    own = SelectConfig(data="x", safe="x", out="x", **{**cfg.select, **cfg.target_select})
    proxy.validate()
    own.validate()
    assert (proxy.lora_layers, own.lora_layers) == (4, None) and "seal-target" in cfg.compare
    assert (proxy.max_length, own.max_length) == (128, 256)
    assert cfg.align_settings["data"] == "builtin:align"  # what docs/transfer.md was measured with
