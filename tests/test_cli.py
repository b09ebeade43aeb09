"""The `seal` command line: settings from flags, YAML and key=value; bad input gives a clear error, no traceback."""

import json
import subprocess
import sys

import pytest

import tiny
from seal.cli import main


@pytest.fixture
def toy_files(tmp_path):
    rows, _, safe = tiny.toy_sets(seed=0, n_benign=12, n_harmful=2, n_safe_refusals=4, n_safe_benign=4)
    return tiny.write_jsonl(tmp_path / "data.jsonl", rows), tiny.write_jsonl(tmp_path / "safe.jsonl", safe)


def test_select_then_filter_from_the_command_line(tmp_path, tiny_model, toy_files, capsys):
    data, safe = toy_files
    (tmp_path / "cfg.yaml").write_text("algorithm: 2\nepochs: 1\nbatch_size: 4\nlr: 0.01\n")
    rc = main(["select", "--data", str(data), "--safe", str(safe), "--model", str(tiny_model), "--out",
               str(tmp_path / "run"), "--config", str(tmp_path / "cfg.yaml"), "epochs=2", "--seed", "3",
               "--progress", "false"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["samples_scored"] == 14 and summary["finished"]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    cfg = manifest["config"]
    # precedence: YAML < key=value < --flags
    assert (cfg["algorithm"], cfg["epochs"], cfg["batch_size"], cfg["seed"]) == (2, 2, 4, 3)
    assert manifest["inputs"]["data"]["sha256"] and manifest["versions"]["torch"]
    assert manifest["total_steps"] == 2 * 4 and manifest["wall_time_s"] > 0
    scores = [json.loads(line) for line in open(tmp_path / "run" / "scores.jsonl")]
    assert [s["rank"] for s in scores] == list(range(1, 15))
    assert sorted(s["index"] for s in scores) == list(range(14))
    assert all(set(s) >= {"id", "index", "score", "weight", "rank"} for s in scores)
    assert scores[0]["score"] >= scores[-1]["score"]

    rc = main(["filter", "--data", str(data), "--scores", str(tmp_path / "run" / "scores.jsonl"), "--keep", "0.5",
               "--out", str(tmp_path / "kept.jsonl")])
    assert rc == 0
    kept = [json.loads(line) for line in open(tmp_path / "kept.jsonl")]
    assert len(kept) == 7


def test_dropped_samples_are_logged(tmp_path, tiny_model, toy_files):
    data, safe = toy_files
    rows = [json.loads(line) for line in open(data)]
    rows += [rows[0], {"prompt": "what is 1 plus 1 ?", "response": "  "}]
    tiny.write_jsonl(data, rows)
    assert main(["select", "--data", str(data), "--safe", str(safe), "--model", str(tiny_model), "--out",
                 str(tmp_path / "run"), "--epochs", "1", "--progress", "false", "-q"]) == 0
    log = [json.loads(line) for line in open(tmp_path / "run" / "data_log.jsonl")]
    assert {(r["reason"], r["line"]) for r in log} == {("duplicate", 15), ("empty_response", 16)}
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["data"]["data"]["duplicate"] == 1 and manifest["samples_scored"] == 14


@pytest.mark.parametrize("content,expected", [
    ('{"prompt": "a", "response": "b"}\n{"prompt": "c", "response": \n', "data.jsonl:2"),
    ('{"prompt": "a", "response": "b"}\n{"prompt": "c"}\n', "data.jsonl:2: field 'response'"),
    ("", "data.jsonl"),
])
def test_bad_input_gives_a_clear_error_not_a_traceback(tmp_path, tiny_model, toy_files, capsys, content,
                                                       expected):
    data, safe = toy_files
    data.write_text(content)
    rc = main(["select", "--data", str(data), "--safe", str(safe), "--model", str(tiny_model), "--out",
               str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "seal select: error:" in err and expected in err and "Traceback" not in err


def test_bad_settings_are_named(tmp_path, capsys):
    assert main(["select", "--data", "x", "--safe", "y", "--out", "z", "epoch=3"]) == 2
    assert "unknown config key(s) epoch" in capsys.readouterr().err
    assert main(["select", "--data", "x", "--safe", "y", "--out", "z", "--batch-size", "many"]) == 2
    assert "batch_size" in capsys.readouterr().err
    assert main(["select", "--data", "x", "--out", "z"]) == 2
    assert "--safe" in capsys.readouterr().err


def test_missing_model_folder_is_a_clear_error(tmp_path, toy_files, capsys):
    data, safe = toy_files
    (tmp_path / "empty").mkdir()
    assert main(["select", "--data", str(data), "--safe", str(safe), "--model", str(tmp_path / "empty"),
                 "--out", str(tmp_path / "run")]) == 2
    assert "no config.json" in capsys.readouterr().err


def test_console_script_and_module_entry_points():
    out = subprocess.run([sys.executable, "-m", "seal", "--help"], capture_output=True, text=True, check=True)
    assert "select" in out.stdout and "filter" in out.stdout
