"""Tests for seal.mix (`seal mix`): counts, seeding, labels kept apart from the training rows."""

import json

import pytest

from seal import builtin
from seal.config import ConfigError
from seal.data import DataError, load_samples
from seal.mix import MixConfig, run_mix


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.fixture
def inputs(tmp_path):
    benign = write(tmp_path / "benign.jsonl", [{"prompt": f"Benign {i}?", "response": f"Answer {i}.", "source": "b"}
                                               for i in range(80)])
    harmful = tmp_path / "harmful.json"  # another format and shape: an Alpaca-style JSON list
    harmful.write_text(json.dumps([{"instruction": f"Harmful {i}", "input": "", "output": f"Sure, step {i}."}
                                   for i in range(30)]))
    return benign, str(harmful)


def mix(tmp_path, benign, harmful, out="mix", **kw):
    return run_mix(MixConfig(benign=benign, harmful=harmful, out=str(tmp_path / out), **kw))


def read(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def test_mix_has_the_requested_counts_and_labels_match_rows(tmp_path, inputs):
    summary = mix(tmp_path, *inputs, size=50, harmful_fraction=0.2, seed=3)
    assert (summary["rows"], summary["harmful"], summary["benign"]) == (50, 10, 40)
    rows, labels = read(summary["mix"]), read(summary["labels"])
    assert all(set(r) == {"prompt", "response"} for r in rows)  # no label, no source
    samples, _, report = load_samples(summary["mix"])
    assert len(samples) == 50 and not report.dropped
    assert [lb["id"] for lb in labels] == [s.id for s in samples]
    assert [lb["index"] for lb in labels] == list(range(50))
    for row, lb in zip(rows, labels):
        assert lb["label"] == ("harmful" if row["prompt"].startswith("Harmful") else "benign")
        assert lb["source"] == (inputs[1] if lb["label"] == "harmful" else inputs[0])
    assert sum(lb["label"] == "harmful" for lb in labels) == 10
    assert [lb["label"] for lb in labels] != sorted(lb["label"] for lb in labels)  # shuffled
    manifest = json.load(open(summary["manifest"]))
    assert manifest["counts"]["harmful"] == 10 and manifest["config"]["seed"] == 3
    assert manifest["inputs"]["harmful"]["sha256"] and manifest["inputs"]["benign"]["spec"] == inputs[0]


def test_mix_is_seeded(tmp_path, inputs):
    a = mix(tmp_path, *inputs, out="a", size=40, seed=1)
    b = mix(tmp_path, *inputs, out="b", size=40, seed=1)
    c = mix(tmp_path, *inputs, out="c", size=40, seed=2)
    assert open(a["mix"]).read() == open(b["mix"]).read()
    assert open(a["labels"]).read() == open(b["labels"]).read()
    assert open(a["mix"]).read() != open(c["mix"]).read()
    assert a["harmful"] == 4  # round(40 * 0.1)


def test_too_few_rows_says_how_many_are_available(tmp_path, inputs):
    with pytest.raises(DataError, match=r"has 30 usable rows.*needs 50 harmful rows"):
        mix(tmp_path, *inputs, size=100, harmful_fraction=0.5)
    with pytest.raises(DataError, match=r"has 80 usable rows.*needs 90 benign rows"):
        mix(tmp_path, *inputs, size=100, harmful_fraction=0.1)


def test_config_is_validated(tmp_path, inputs):
    for kw in ({"size": 0}, {"harmful_fraction": 1.5}, {"benign_shape": "nope"}):
        with pytest.raises(ConfigError):
            mix(tmp_path, *inputs, **kw)


def test_chat_inputs_give_message_rows(tmp_path, inputs):
    chat = write(tmp_path / "chat.jsonl", [{"messages": [{"role": "system", "content": "S"},
                                                         {"role": "user", "content": f"Harmful {i}"},
                                                         {"role": "assistant", "content": "Sure."}]}
                                           for i in range(10)])
    summary = mix(tmp_path, inputs[0], chat, size=20, harmful_fraction=0.5)
    rows = read(summary["mix"])
    assert all(set(r) == {"messages"} for r in rows)
    samples, _, _ = load_samples(summary["mix"])
    assert [lb["id"] for lb in read(summary["labels"])] == [s.id for s in samples]


def test_prefill_survives_the_mix(tmp_path, inputs):
    prefilled = write(tmp_path / "p.jsonl", [{"prompt": f"Harmful {i}", "prefill": "Sure, step", "response": " no."}
                                             for i in range(10)])
    summary = mix(tmp_path, inputs[0], prefilled, size=20, harmful_fraction=0.5)
    samples, _, _ = load_samples(summary["mix"])
    assert sum(s.prefill == "Sure, step" for s in samples) == 10
    assert [lb["id"] for lb in read(summary["labels"])] == [s.id for s in samples]


def test_mix_of_builtins(tmp_path, monkeypatch):
    monkeypatch.setenv("SEAL_CACHE", str(tmp_path / "cache"))
    if builtin.package_folder("pyrit") is None:
        pytest.skip("builtin:harmful needs the data package pyrit")
    summary = run_mix(MixConfig(benign="builtin:benign-tasks", harmful="builtin:harmful", out=str(tmp_path / "m"),
                                size=500, harmful_fraction=0.1))
    assert (summary["harmful"], summary["benign"]) == (50, 450)
    labels = read(summary["labels"])
    assert {lb["source"] for lb in labels} == {"builtin:benign-tasks", "builtin:harmful"}
    assert all(set(r) == {"prompt", "response"} for r in read(summary["mix"]))


def test_match_length_cuts_harmful_answers_to_benign_lengths_and_keeps_the_rows(tmp_path):
    words = lambda n, w: " ".join(f"{w}{i}" for i in range(n))  # noqa: E731
    benign = write(tmp_path / "benign.jsonl", [{"prompt": f"Benign {i}?", "response": words(20 + i % 10, "b")}
                                               for i in range(60)])
    harmful = write(tmp_path / "harmful.jsonl", [{"prompt": f"Harmful {i}", "response": "Step 1:\n" + words(300, "h")}
                                                 for i in range(20)]
                    + [{"prompt": "Harmful short", "response": "Sure."}])
    plain = mix(tmp_path, benign, harmful, out="plain", size=50, harmful_fraction=0.2, seed=4)
    cut = mix(tmp_path, benign, harmful, out="cut", size=50, harmful_fraction=0.2, seed=4, match_length=True)
    rows_p, rows_c = read(plain["mix"]), read(cut["mix"])
    labels_p, labels_c = read(plain["labels"]), read(cut["labels"])
    assert [r["prompt"] for r in rows_p] == [r["prompt"] for r in rows_c]  # same rows, same order
    benign_lengths = {len(r["response"].split()) for r, lb in zip(rows_c, labels_c) if lb["label"] == "benign"}
    n_cut = 0
    for rp, rc, lp, lc in zip(rows_p, rows_c, labels_p, labels_c):
        if lc["label"] == "benign":
            assert rc == rp and lc["id"] == lp["id"]
            continue
        n_cut += rc["response"] != rp["response"]
        assert rp["response"].startswith(rc["response"])  # a prefix, cut at a word, line break kept
        assert rc["response"].startswith("Step 1:\nh0") and not rc["response"].endswith(" ")
        if rc["response"] != rp["response"]:
            assert len(rc["response"].split()) in benign_lengths and lc["id"] != lp["id"]
    assert n_cut == cut["harmful_cut_to_benign_length"] >= 9 and plain["harmful_cut_to_benign_length"] == 0
    samples, _, _ = load_samples(cut["mix"])
    assert [s.id for s in samples] == [lb["id"] for lb in labels_c]  # the labels name the cut rows' own ids


def test_match_length_never_cuts_below_the_floor(tmp_path):
    from seal.mix import MATCH_MIN_WORDS
    benign = write(tmp_path / "benign.jsonl", [{"prompt": f"Q{i}", "response": "World"} for i in range(30)])
    harmful = write(tmp_path / "harmful.jsonl", [{"prompt": f"H{i}", "response": " ".join(["x"] * 100)}
                                                 for i in range(10)])
    out = mix(tmp_path, benign, harmful, size=20, harmful_fraction=0.25, match_length=True)
    cut = [r for r, lb in zip(read(out["mix"]), read(out["labels"])) if lb["label"] == "harmful"]
    assert len(cut) == 5 and all(len(r["response"].split()) == MATCH_MIN_WORDS for r in cut)
