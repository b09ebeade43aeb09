"""Proxy-to-target transfer: scores made with one model's tokenizer select the same rows for a target with
another tokenizer, including rows one of them truncates; rows the proxy dropped follow --unscored."""

import json

import pytest

import tiny
from seal.filter import FilterConfig, run_filter
from seal.models import load_tokenizer
from seal.scores import ScoresError, read_scores
from seal.select import SelectConfig, run_select
from seal.tokenization import load_and_encode
from seal.train import FinetuneConfig, run_finetune


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    # two tokenisations of the same text: ChatML template (longer) and the plain prompt format (shorter)
    return tiny.make_model_dir(root / "proxy", chat_template=True), \
        tiny.make_model_dir(root / "target", seed=1, chat_template=False)


def _lengths(model, data, max_length=10_000):
    encoded, _ = load_and_encode(str(data), load_tokenizer(str(model)), max_length=max_length)
    return {e.id: len(e) for e in encoded}


def test_scores_select_the_same_rows_whatever_tokenizer(tmp_path, models):
    proxy, target = models
    rows, _, safe = tiny.toy_sets(seed=0)
    data = tiny.write_jsonl(tmp_path / "data.jsonl", rows)
    safe_path = tiny.write_jsonl(tmp_path / "safe.jsonl", safe)
    a, b = _lengths(proxy, data), _lengths(target, data)
    # a length limit that some rows exceed under one tokenisation and not under the other
    limit = next(n for n in sorted(set(a.values()) | set(b.values())) if any((a[i] > n) != (b[i] > n) for i in a))
    split = {i for i in a if (a[i] > limit) != (b[i] > limit)}

    run_select(SelectConfig(data=str(data), safe=str(safe_path), out=str(tmp_path / "sel"), model=str(proxy),
                            algorithm=2, finetuning="full", lr=3e-3, epochs=2, max_length=limit, progress=False))
    scores = read_scores(tmp_path / "sel" / "scores.jsonl")
    assert set(scores) == set(a)                      # truncate (the default): every row is scored
    run_filter(FilterConfig(data=str(data), scores=str(tmp_path / "sel" / "scores.jsonl"),
                            out=str(tmp_path / "kept.jsonl"), keep=0.8))
    top = sorted(scores, key=lambda i: -scores[i]["score"])[:int(0.8 * len(rows))]
    kept_ids = set(_lengths(target, tmp_path / "kept.jsonl"))
    assert kept_ids == set(top)                       # filtering matches ids, it never tokenises
    assert split & kept_ids                            # including rows only one of them truncates

    m = run_finetune(FinetuneConfig(data=str(tmp_path / "kept.jsonl"), out=str(tmp_path / "ft"), model=str(target),
                                    max_length=limit, epochs=1, merge=False, progress=False))
    assert m["samples"] == len(kept_ids)              # the target trains on exactly the kept rows


def test_rows_the_proxy_dropped_follow_the_unscored_policy(tmp_path, models):
    proxy, _ = models
    rows, _, safe = tiny.toy_sets(seed=0)
    data = tiny.write_jsonl(tmp_path / "data.jsonl", rows)
    safe_path = tiny.write_jsonl(tmp_path / "safe.jsonl", safe)
    a = _lengths(proxy, data)
    limit = max(n for n in a.values() if n < max(a.values()))   # the longest rows are over the limit
    long_ids = {i for i, n in a.items() if n > limit}
    run_select(SelectConfig(data=str(data), safe=str(safe_path), out=str(tmp_path / "sel"), model=str(proxy),
                            algorithm=2, finetuning="full", lr=3e-3, epochs=1, max_length=limit,
                            length_policy="drop", progress=False))
    scores = str(tmp_path / "sel" / "scores.jsonl")
    with pytest.raises(ScoresError, match="--unscored"):
        run_filter(FilterConfig(data=str(data), scores=scores, out=str(tmp_path / "x.jsonl"), keep=0.5))
    n_scored = len(rows) - len(long_ids)
    for policy, expect_long in (("drop", False), ("keep", True)):
        out = tmp_path / f"{policy}.jsonl"
        res = run_filter(FilterConfig(data=str(data), scores=scores, out=str(out), keep=0.5, unscored=policy))
        kept = set(_lengths(proxy, out))
        assert res["unscored"] == len(long_ids) and (long_ids <= kept) == expect_long
        assert len(kept) == n_scored // 2 + (len(long_ids) if expect_long else 0)
    res = run_filter(FilterConfig(data=str(data), scores=scores, out=str(tmp_path / "w.jsonl"),
                                  weights_column="w", unscored="keep"))
    weights = [json.loads(line)["w"] for line in open(tmp_path / "w.jsonl")]
    assert len(weights) == len(rows) and weights.count(1.0) >= len(long_ids)
