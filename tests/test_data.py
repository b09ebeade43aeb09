"""Tests for seal.data: formats, shapes, ids, dropped-row accounting, atomic writes."""

import json

import pytest

from seal.data import (
    DataError,
    DataReport,
    detect_shape,
    file_fingerprint,
    load_samples,
    read_records,
    sample_id,
    write_records,
)

ROWS = [
    {"prompt": "What is 2+2?", "response": "4"},
    {"prompt": "Say hi", "response": "Hi! ünïcödé", "system": "Be brief."},
    {"prompt": "Capital of France?", "response": "Paris"},
]
EXT = {"jsonl": "data.jsonl", "json": "data.json", "csv": "data.csv", "parquet": "data.parquet", "hf": "ds"}


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def ids(path, **kw):
    samples, _, _ = load_samples(path, **kw)
    return [s.id for s in samples]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet", "hf"])
def test_round_trip_every_format(tmp_path, fmt):
    rows = [dict(r, system=r.get("system", "")) for r in ROWS]  # same keys everywhere (CSV has no nulls)
    first = tmp_path / EXT[fmt]
    write_records(rows, first, fmt)
    records, got_fmt = read_records(first)
    assert got_fmt == fmt
    assert [r.raw for r in records] == rows
    second = tmp_path / "copy" / EXT[fmt]  # parent folder is created
    write_records([r.raw for r in records], second, fmt)
    again, _ = read_records(second)
    assert [r.raw for r in again] == rows
    assert ids(first) == ids(second) == ids(write_jsonl(tmp_path / "ref.jsonl", rows))
    assert not [p for p in second.parent.iterdir() if p.name.endswith(".tmp")]


def test_write_adds_extra_column_and_overwrites(tmp_path):
    rows = [dict(r) for r in ROWS]
    rows[2]["weight"] = 0.5  # only the last row has the new key
    for fmt in ["jsonl", "csv", "parquet", "hf"]:
        out = tmp_path / EXT[fmt]
        write_records(rows[:1], out, fmt)
        write_records(rows, out, fmt)  # replaces the earlier output
        records, _ = read_records(out)
        assert len(records) == 3
        assert str(records[2].raw["weight"]) == "0.5"
        assert records[0].raw.get("weight") in (None, "")


def test_json_wrapped_object_and_line_numbers(tmp_path):
    p = tmp_path / "d.json"
    p.write_text(json.dumps({"data": ROWS}))
    records, fmt = read_records(p)
    assert fmt == "json" and [r.line for r in records] == [1, 2, 3]
    p2 = tmp_path / "d.jsonl"
    p2.write_text("\n" + json.dumps(ROWS[0]) + "\n\n" + json.dumps(ROWS[1]) + "\n")
    assert [(r.index, r.line) for r in read_records(p2)[0]] == [(0, 2), (1, 4)]


def test_csv_line_is_where_row_starts(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text('prompt,response\n"multi\nline",a\nq2,b\n', encoding="utf-8")
    records, _ = read_records(p)
    assert [r.line for r in records] == [2, 4]
    assert records[0].raw == {"prompt": "multi\nline", "response": "a"}


def test_folder_with_one_data_file(tmp_path):
    (tmp_path / "dir").mkdir()
    write_jsonl(tmp_path / "dir" / "x.jsonl", ROWS)
    records, fmt = read_records(tmp_path / "dir")
    assert fmt == "jsonl" and len(records) == 3


def test_hf_dataset_and_datasetdict(tmp_path):
    import datasets

    datasets.Dataset.from_list(ROWS[:2]).save_to_disk(str(tmp_path / "single"))
    records, fmt = read_records(tmp_path / "single")
    assert fmt == "hf" and records[0].raw["prompt"] == "What is 2+2?" and records[1].line == 2

    dd = datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS),
                               "test": datasets.Dataset.from_list(ROWS[:1])})
    dd.save_to_disk(str(tmp_path / "dd"))
    samples, _, report = load_samples(tmp_path / "dd")
    assert len(samples) == 3 and report.format == "hf" and report.shape == "prompt_response"

    datasets.DatasetDict({"a": datasets.Dataset.from_list(ROWS), "b": datasets.Dataset.from_list(ROWS)}
                         ).save_to_disk(str(tmp_path / "ab"))
    with pytest.raises(DataError, match="splits a, b"):
        read_records(tmp_path / "ab")


@pytest.mark.parametrize("row,shape", [
    ({"prompt": "q", "response": "a"}, "prompt_response"),
    ({"question": "q", "answer": "a"}, "prompt_response"),
    ({"instruction": "q", "input": "", "output": "a"}, "alpaca"),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}, "messages"),
    ({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}, "sharegpt"),
])
def test_detect_shape(tmp_path, row, shape):
    p = write_jsonl(tmp_path / "d.jsonl", [row])
    assert detect_shape(read_records(p)[0], p) == shape
    samples, _, report = load_samples(p)
    assert report.shape == shape
    assert samples[0].prompt == [{"role": "user", "content": "q"}] and samples[0].response == "a"


def test_detect_failure_names_keys_and_shapes(tmp_path):
    p = write_jsonl(tmp_path / "odd.jsonl", [{"foo": 1, "bar": 2}])
    with pytest.raises(DataError) as e:
        load_samples(p)
    msg = str(e.value)
    assert "odd.jsonl" in msg and "foo, bar" in msg and "alpaca" in msg and "--shape" in msg


def test_fields_override(tmp_path):
    p = write_jsonl(tmp_path / "d.jsonl", [{"q": "A", "a": "B", "instruction": "x", "output": "y"}])
    samples, _, report = load_samples(p, fields={"prompt": "q", "response": "a"})
    assert report.shape == "prompt_response" and samples[0].id == sample_id(
        [{"role": "user", "content": "A"}], "B")
    p2 = write_jsonl(tmp_path / "e.jsonl", [{"task": "A", "ctx": "C", "ans": "B"}])
    s2, _, r2 = load_samples(p2, fields={"instruction": "task", "input": "ctx", "output": "ans"})
    assert r2.shape == "alpaca" and s2[0].prompt[-1]["content"] == "A\n\nC"
    chat = [{"role": "system", "content": "S"}, {"role": "user", "content": "A"},
            {"role": "assistant", "content": "B"}]
    p3 = write_jsonl(tmp_path / "f.jsonl", [{"chat": chat}])
    s3, _, r3 = load_samples(p3, fields={"messages": "chat"})
    assert r3.shape == "messages" and s3[0].prompt == chat[:2] and s3[0].response == "B"


def test_same_sample_same_id_across_formats_and_shapes(tmp_path):
    want = sample_id([{"role": "user", "content": "A"}], "B")
    pr = [{"prompt": "A", "response": "B"}]
    for fmt in ["jsonl", "csv", "parquet"]:
        write_records(pr, tmp_path / EXT[fmt], fmt)
        assert ids(tmp_path / EXT[fmt]) == [want]
    alpaca = write_jsonl(tmp_path / "alpaca.jsonl", [{"instruction": "A", "input": "", "output": "B"}])
    msgs = write_jsonl(tmp_path / "msgs.jsonl", [{"messages": [
        {"role": "user", "content": "A"}, {"role": "assistant", "content": "B"}]}])
    share = write_jsonl(tmp_path / "share.jsonl", [{"conversations": [
        {"from": "human", "value": "A"}, {"from": "gpt", "value": "B"}]}])
    assert ids(alpaca) == ids(msgs) == ids(share) == [want]
    with_sys = write_jsonl(tmp_path / "sys.jsonl", [{"prompt": "A", "response": "B", "system": "S"},
                                                  {"prompt": "A", "response": "B", "system": ""}])
    assert ids(with_sys) == [sample_id([{"role": "system", "content": "S"},
                                        {"role": "user", "content": "A"}], "B"), want]


def test_id_whitespace_normalisation():
    base = sample_id([{"role": "user", "content": "Hello world\nline two"}], "Answer here")
    messy = sample_id([{"role": "User", "content": "  Hello \t  world  \r\nline two \n"}], "Answer  here\n")
    assert base == messy and len(base) == 16
    assert sample_id([{"role": "user", "content": "caf\u00e9"}], "x") == \
        sample_id([{"role": "user", "content": "cafe\u0301"}], "x")  # NFC
    assert sample_id([{"role": "user", "content": "Hello world\nline two"}], "Answer there") != base
    assert sample_id([{"role": "user", "content": "Hello world line two"}], "Answer here") != base


def test_bad_json_line_names_file_and_line(tmp_path):
    p = tmp_path / "data.jsonl"
    p.write_text(json.dumps(ROWS[0]) + "\n{not json\n")
    with pytest.raises(DataError, match=r"data\.jsonl:2: invalid JSON"):
        read_records(p)


def test_missing_field_names_field_and_line(tmp_path):
    p = write_jsonl(tmp_path / "data.jsonl", [ROWS[0], {"prompt": "q"}])
    with pytest.raises(DataError) as e:
        load_samples(p, shape="prompt_response")
    msg = str(e.value)
    assert "data.jsonl:2" in msg and "field 'response': missing" in msg and "--fields response=NAME" in msg


def test_wrong_type_is_malformed(tmp_path):
    p = write_jsonl(tmp_path / "data.jsonl", [ROWS[0], {"prompt": ["q"], "response": "a"}])
    with pytest.raises(DataError, match=r"data\.jsonl:2: field 'prompt': expected a string, got list"):
        load_samples(p)


@pytest.mark.parametrize("content", ["", "   \n"])
def test_empty_inputs_are_errors(tmp_path, content):
    p = tmp_path / "empty.jsonl"
    p.write_text(content)
    with pytest.raises(DataError, match="empty.jsonl: no rows"):
        read_records(p)


def test_missing_path_and_non_object_row(tmp_path):
    with pytest.raises(DataError, match="nope.jsonl: no such file"):
        read_records(tmp_path / "nope.jsonl")
    p = tmp_path / "list.jsonl"
    p.write_text('{"prompt": "q", "response": "a"}\n[1, 2]\n')
    with pytest.raises(DataError, match=r"list\.jsonl:2: expected an object"):
        read_records(p)


def test_duplicates_and_empty_are_dropped_and_counted(tmp_path):
    rows = [
        {"prompt": "q1", "response": "a1"},
        {"prompt": "q2", "response": "   "},
        {"prompt": "q1 ", "response": "a1\n"},  # whitespace-only difference -> duplicate of row 0
        {"prompt": "", "response": "a3"},
        {"prompt": "q4", "response": "a4"},
    ]
    samples, records, report = load_samples(write_jsonl(tmp_path / "data.jsonl", rows))
    assert [s.index for s in samples] == [0, 4] and len(records) == 5
    assert report.rows == 5 and report.kept == 2
    assert report.counts() == {"empty_response": 1, "duplicate": 1, "empty_prompt": 1}
    by_reason = {d["reason"]: d for d in report.dropped}
    assert by_reason["duplicate"]["line"] == 3 and by_reason["duplicate"]["index"] == 2
    assert by_reason["duplicate"]["detail"] == "same as row 0 (line 1)"
    assert by_reason["duplicate"]["id"] == samples[0].id
    assert by_reason["empty_response"]["line"] == 2
    assert report.summary() == ("data.jsonl: 5 rows, 2 kept; dropped 1 empty_response, 1 duplicate, "
                                "1 empty_prompt; truncated 0")
    d = json.loads(json.dumps(report.to_dict()))
    assert d["kept"] == 2 and d["counts"]["duplicate"] == 1 and len(d["dropped"]) == 3


def test_skip_counts_malformed(tmp_path):
    rows = [{"prompt": "q1", "response": "a1"}, {"prompt": "q2"}, {"prompt": "q3", "response": 3}]
    samples, _, report = load_samples(write_jsonl(tmp_path / "d.jsonl", rows), on_error="skip")
    assert len(samples) == 1 and report.counts() == {"malformed": 2}
    assert [(d["line"], d["id"]) for d in report.dropped] == [(2, None), (3, None)]
    assert "field 'response': missing" in report.dropped[0]["detail"]


@pytest.mark.parametrize("msgs,why", [
    ([{"role": "user", "content": "q"}], "no assistant"),
    ([{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}], "must follow a user"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
      {"role": "assistant", "content": "b"}], "must follow a user"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
      {"role": "user", "content": "more"}], "continues after"),
    ([{"role": "robot", "content": "q"}, {"role": "assistant", "content": "a"}], "role 'robot'"),
    ([{"role": "user", "content": None}, {"role": "assistant", "content": "a"}], "not a string"),
])
def test_messages_malformed(tmp_path, msgs, why):
    p = write_jsonl(tmp_path / "m.jsonl", [{"messages": msgs}])
    with pytest.raises(DataError, match=why) as e:
        load_samples(p)
    assert "m.jsonl:1: field 'messages'" in str(e.value)
    _, _, report = load_samples(p, on_error="skip")
    assert report.counts() == {"malformed": 1}


def test_multi_turn_messages_prompt_is_everything_before_last_answer(tmp_path):
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "u1"},
            {"role": "assistant", "content": "a1"}, {"role": "user", "content": "u2"},
            {"role": "assistant", "content": "a2"}]
    samples, _, _ = load_samples(write_jsonl(tmp_path / "m.jsonl", [{"messages": msgs}]))
    assert samples[0].prompt == msgs[:4] and samples[0].response == "a2"


def test_report_counts_truncated():
    report = DataReport("x.jsonl", "jsonl", "messages", rows=2, dropped=[], truncated=[
        {"index": 1, "line": 2, "id": "ab", "reason": "truncated", "detail": "too long"}])
    assert report.counts() == {"truncated": 1} and report.kept == 2
    assert report.summary().endswith("dropped 0; truncated 1")


def test_file_fingerprint(tmp_path):
    p = write_jsonl(tmp_path / "a.jsonl", ROWS)
    fp = file_fingerprint(p)
    assert fp["bytes"] == p.stat().st_size and len(fp["sha256"]) == 64 and fp["path"] == str(p.resolve())
    write_records(ROWS, tmp_path / "ds", "hf")
    f1 = file_fingerprint(tmp_path / "ds")
    assert f1 == file_fingerprint(tmp_path / "ds") and f1["bytes"] > 0
    write_jsonl(p, ROWS[:1])
    assert file_fingerprint(p)["sha256"] != fp["sha256"]


def test_gzip_jsonl_and_messages_in_csv(tmp_path):
    gz = tmp_path / "d.jsonl.gz"
    write_records(ROWS, gz, "jsonl")
    assert gz.read_bytes()[:2] == b"\x1f\x8b"
    assert [r.raw for r in read_records(gz)[0]] == ROWS
    rows = [{"messages": [{"role": "user", "content": "A"}, {"role": "assistant", "content": "B"}]}]
    write_records(rows, tmp_path / "m.csv", "csv")  # lists are stored as JSON text in CSV cells
    assert ids(tmp_path / "m.csv") == [sample_id([{"role": "user", "content": "A"}], "B")]
