"""seal filter: top fraction by id, any format, reordered copies, mismatched data refused, weight column."""

import csv
import json
import random

import pytest

import tiny
from seal.data import load_samples
from seal.filter import FilterConfig, run_filter
from seal.scores import ScoresError, write_scores


def scored(tmp_path, rows):
    """A data file and a scores file for it with known scores (row i scores i)."""
    data = tiny.write_jsonl(tmp_path / "data.jsonl", rows)
    samples, _, _ = load_samples(data)
    ranked = sorted(samples, key=lambda s: -s.index)
    write_scores(tmp_path / "scores.jsonl", [
        {"id": s.id, "index": s.index, "score": float(s.index), "weight": 0.1 * s.index, "rank": r}
        for r, s in enumerate(ranked, 1)])
    return data, tmp_path / "scores.jsonl"


def rows_n(n):
    return [{"prompt": f"what is {i} plus 1 ?", "response": f"the answer is {i + 1} ."} for i in range(n)]


def test_keep_top_fraction_in_input_order(tmp_path):
    data, scores = scored(tmp_path, rows_n(10))
    result = run_filter(FilterConfig(data=str(data), scores=str(scores), out=str(tmp_path / "kept.jsonl"),
                                     keep=0.8))
    kept = [json.loads(line) for line in open(tmp_path / "kept.jsonl")]
    assert result["kept"] == 8 and result["removed"] == 2
    assert kept == rows_n(10)[2:]             # the two lowest scores (rows 0, 1) are dropped; order kept


def test_reordered_and_reformatted_copy_selects_the_same_samples(tmp_path):
    rows = rows_n(12)
    data, scores = scored(tmp_path, rows)
    shuffled = rows[:]
    random.Random(0).shuffle(shuffled)
    with open(tmp_path / "copy.csv", "w", newline="") as f:        # the same data as CSV, other column names
        w = csv.DictWriter(f, fieldnames=["question", "answer"])
        w.writeheader()
        w.writerows({"question": r["prompt"], "answer": r["response"]} for r in shuffled)
    run_filter(FilterConfig(data=str(tmp_path / "copy.csv"), scores=str(scores), out=str(tmp_path / "k.csv"),
                            keep=0.5, fields=["prompt=question", "response=answer"]))
    with open(tmp_path / "k.csv", newline="") as f:
        kept = {r["question"] for r in csv.DictReader(f)}
    assert kept == {r["prompt"] for r in rows[6:]}


def test_a_split_of_the_scored_data_is_covered(tmp_path):
    rows = rows_n(10)
    _, scores = scored(tmp_path, rows)
    part = tiny.write_jsonl(tmp_path / "part.jsonl", rows[5:])
    result = run_filter(FilterConfig(data=str(part), scores=str(scores), out=str(tmp_path / "o.jsonl"), keep=0.6))
    assert result["kept"] == 3
    kept = [json.loads(line)["prompt"] for line in open(tmp_path / "o.jsonl")]
    assert kept == [r["prompt"] for r in rows[7:]]


def test_data_not_covered_by_the_scores_is_refused(tmp_path):
    _, scores = scored(tmp_path, rows_n(10))
    other = tiny.write_jsonl(tmp_path / "other.jsonl", rows_n(10)[:7] + [
        {"prompt": "new", "response": "x"}, {"prompt": "new 2", "response": "y"}])
    with pytest.raises(ScoresError, match="2 of 9 samples have no score"):
        run_filter(FilterConfig(data=str(other), scores=str(scores), out=str(tmp_path / "o.jsonl"), keep=0.5))
    assert not (tmp_path / "o.jsonl").exists()


def test_weights_column_writes_every_row(tmp_path):
    data, scores = scored(tmp_path, rows_n(5))
    result = run_filter(FilterConfig(data=str(data), scores=str(scores), out=str(tmp_path / "w.parquet"),
                                     weights_column="seal_weight", out_format="parquet"))
    assert result["written"] == 5
    samples, records, _ = load_samples(tmp_path / "w.parquet")
    assert [r.raw["seal_weight"] for r in records] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_duplicates_are_dropped_and_counted_as_in_select(tmp_path):
    rows = rows_n(6)
    data, scores = scored(tmp_path, rows)
    dup = tiny.write_jsonl(tmp_path / "dup.jsonl", rows + [rows[0]])
    result = run_filter(FilterConfig(data=str(dup), scores=str(scores), out=str(tmp_path / "o.jsonl"), keep=1.0))
    assert result["kept"] == 6 and result["dropped"] == {"duplicate": 1}


def test_keep_or_weights_column_required():
    with pytest.raises(ValueError, match="exactly one"):
        FilterConfig(data="a", scores="b", out="c").validate()
    with pytest.raises(ValueError, match="fraction"):
        FilterConfig(data="a", scores="b", out="c", keep=1.5).validate()
