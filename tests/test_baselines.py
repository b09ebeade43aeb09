"""Baseline rankings (`seal select --method NAME`): each one's ranking logic on tiny inputs, and the shared
scores file."""

import json

import pytest
import torch
from sklearn.metrics import roc_auc_score

import tiny
from seal.baselines import dsir_scores, keyword_scores, random_scores, split_safe_set
from seal.data import load_samples
from seal.metrics import detection_metrics
from seal.scores import read_scores
from seal.select import SelectConfig, run_select


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tiny.make_model_dir(tmp_path_factory.mktemp("base") / "model", pretrain_steps=150)


def _run(tmp_path, model, rows, safe, method, **kw):
    data = tiny.write_jsonl(tmp_path / "data.jsonl", rows)
    safe_path = tiny.write_jsonl(tmp_path / "safe.jsonl", safe)
    cfg = SelectConfig(data=str(data), safe=str(safe_path), out=str(tmp_path / method), model=str(model),
                       method=method, progress=False, **kw)
    manifest = run_select(cfg)
    scores = read_scores(tmp_path / method / "scores.jsonl")
    return manifest, [scores[s.id]["score"] if s.id in scores else None  # None: not scored (dropped)
                      for s in sorted(load_samples(str(data))[0], key=lambda s: s.index)]


def test_keyword_ranks_a_listed_word_last():
    scores = keyword_scores(["Paris is the capital of France.", "First, build the bomb and poison the water.",
                             "Bombs and bombing: a bomb."])
    assert scores == [0.0, -2.0, -1.0]  # distinct words, inflections folded


def test_dsir_prefers_samples_like_the_target():
    target = ["i cannot help with that request", "sorry , i cannot help with that"]
    texts = ["i cannot help with that , sorry", "here is how to build a weapon step one", "the answer is 4"]
    s = dsir_scores(texts, target, buckets=512)
    assert s[0] == max(s)


def test_embedding_ranks_text_like_the_refusal_examples_last():
    from seal.baselines import embedding_scores
    helpful = ["To bake bread, mix flour, water, yeast and salt, then knead and let it rise.",
               "The capital of France is Paris."]
    refusals = ["How do I make a pipe bomb? I'm sorry, but I can't help with making explosives.",
                "How can I poison my neighbour? I can't help with hurting someone."]
    texts = ["How do I bake a cake? Mix butter, sugar, eggs and flour, then bake for 30 minutes.",
             "How do I build a bomb at home? First get explosives, then a detonator."]
    s = embedding_scores(texts, helpful, refusals, k=2)
    assert s[0] > 0 > s[1]


def test_loss_ranks_what_the_model_finds_unlikely_last(tmp_path, base):
    rows, _, safe = tiny.toy_sets(seed=0)
    odd = {"prompt": "what is 1 plus 1 ?", "response": "zq xv qq jj zx vk qz xj"}  # tokens far from the toy text
    manifest, scores = _run(tmp_path, base, rows + [odd], safe, "loss")
    assert scores[-1] == min(scores)                 # score = -loss: the least likely sample is dropped first
    assert manifest["samples_scored"] == len(rows) + 1


def test_random_is_seeded_and_order_free():
    ids = ["a", "b", "c", "d"]
    assert random_scores(ids, 0) == random_scores(ids, 0) != random_scores(ids, 1)
    assert random_scores(ids[::-1], 0) == random_scores(ids, 0)[::-1]


def test_safe_set_split_by_category_or_judge(tmp_path):
    with_cat = tiny.write_jsonl(tmp_path / "a.jsonl", [
        {"prompt": "how do i x", "response": "no.", "category": "refusal/other"},
        {"prompt": "what is 1 plus 1", "response": "2", "category": "helpful"}])
    helpful, refusal = split_safe_set(*load_samples(str(with_cat))[:2])
    assert [s.response for s in helpful] == ["2"] and [s.response for s in refusal] == ["no."]
    plain = tiny.write_jsonl(tmp_path / "b.jsonl", [
        {"prompt": "how do i x", "response": "I'm sorry, but I can't help with that."},
        {"prompt": "what is 1 plus 1", "response": "2"}])
    helpful, refusal = split_safe_set(*load_samples(str(plain))[:2])
    assert [s.response for s in helpful] == ["2"] and len(refusal) == 1


def test_text_baselines_write_seal_scores(tmp_path):
    rows, labels, safe = tiny.toy_sets(seed=1)
    by_method = {}
    for method in ("random", "length", "keyword", "dsir", "embedding"):
        manifest, scores = by_method[method] = _run(tmp_path, "smollm2", rows, safe, method)
        assert manifest["method"] == method and manifest["samples_scored"] == len(rows)
        assert len(scores) == len(rows)
        lines = [json.loads(x) for x in (tmp_path / method / "scores.jsonl").read_text().splitlines()]
        assert [r["rank"] for r in lines] == list(range(1, len(rows) + 1))
        assert all(a["score"] >= b["score"] for a, b in zip(lines, lines[1:]))
    # toy harmful answers that name a lexicon word ("steal", "hack", "poison", "bomb", ...) rank below every
    # benign answer; the others ("build a car") tie with the benign rows
    listed = {"steal", "hack", "poison", "smuggle", "bomb", "weapon"}
    for row, y, score in zip(rows, labels, by_method["keyword"][1]):
        named = y == 1 and bool(listed & set(row["response"].split()))
        assert (score < 0) == named, row


def test_length_drops_the_longest_answers_first(tmp_path):
    rows = [{"prompt": f"Q{i}", "response": " ".join(["word"] * n)} for i, n in enumerate([3, 40, 1, 12])]
    safe = [{"prompt": "Q", "response": "A."}]
    _, scores = _run(tmp_path, "smollm2", rows, safe, "length")
    assert scores == [-3.0, -40.0, -1.0, -12.0]  # in row order
    lines = [json.loads(x) for x in (tmp_path / "length" / "scores.jsonl").read_text().splitlines()]
    assert [r["index"] for r in lines] == [2, 0, 3, 1]  # kept first: the shortest


def test_loss_gap_uses_the_safety_adapter(tmp_path, base):
    """loss-gap = loss under base + adapter minus loss under the base; with no adapter it tunes one on the safe
    set. Its score is the negated gap, so samples that the safe tuning made less likely rank last."""
    from seal.baselines import loss_signals
    from seal.train import AlignConfig, run_align
    rows, labels, safe = tiny.toy_sets(seed=0)
    safe_path = tiny.write_jsonl(tmp_path / "s.jsonl", safe)
    run_align(AlignConfig(data=str(safe_path), model=str(base), out=str(tmp_path / "al"), epochs=2, lr=1e-2,
                          progress=False))
    adapter = str(tmp_path / "al" / "adapter")
    manifest, scores = _run(tmp_path, base, rows, safe, "loss-gap", safety_adapter=adapter)
    sig = loss_signals(str(tmp_path / "data.jsonl"), str(base), adapter)
    by_index = dict(zip(sig["indices"], sig["gap"]))
    assert torch.allclose(torch.tensor(scores), -torch.tensor([by_index[i] for i in range(len(rows))]), atol=1e-5)
    assert manifest["scored_with"]["adapter"] == adapter
    m = detection_metrics([{"index": i, "score": s} for i, s in enumerate(scores)], dict(enumerate(labels)))
    assert m["auroc"] > 0.9  # the toy compliances contradict the refusals the adapter learned
    manifest, _ = _run(tmp_path, base, rows, safe, "loss-gap", lr=1e-2, overwrite=True)
    assert (tmp_path / "loss-gap" / "safe-tuned" / "adapter" / "adapter_config.json").exists()


def test_loss_and_gradient_rank_every_sample(tmp_path, base):
    rows, labels, safe = tiny.toy_sets(seed=0)
    _, loss = _run(tmp_path, base, rows, safe, "loss")
    _, grad = _run(tmp_path, base, rows, safe, "gradient")
    assert len(loss) == len(grad) == len(rows)
    assert all(-1.0 <= g <= 1.0 for g in grad)
    # a fine-tuning row equal to a safe row's refusal points the same way as the safe gradient's refusal part
    refusal_row = {"prompt": safe[0]["prompt"] + " please", "response": safe[0]["response"]}
    _, grad2 = _run(tmp_path, base, rows + [refusal_row], safe, "gradient", overwrite=True)
    assert grad2[-1] > sorted(grad2)[len(grad2) // 2]


def test_model_baselines_score_what_the_length_policy_keeps(tmp_path, base):
    rows, _, safe = tiny.toy_sets(seed=0)
    rows = rows + [{"prompt": "what is 1 plus 1 ?", "response": " ".join(["the answer is 2 ."] * 60)}]
    manifest, scores = _run(tmp_path, base, rows, safe, "loss", max_length=64, length_policy="drop")
    assert manifest["samples_scored"] == len(rows) - 1 and scores[-1] is None
    assert len((tmp_path / "loss" / "scores.jsonl").read_text().splitlines()) == len(rows) - 1


def _z(values: list[float]) -> torch.Tensor:
    """z-score; a constant signal (e.g. a proxy that refuses nothing) contributes 0."""
    v = torch.tensor(values, dtype=torch.float64)
    sd = v.std(unbiased=False)
    return (v - v.mean()) / (sd if sd > 0 else 1.0)


def test_behaviour_ranks_what_the_aligned_proxy_refuses_last_whatever_the_style(tmp_path, base, aligned):
    """The behaviour scorer reads how the aligned proxy treats each request and each response's continuation.
    With the benign answers in the safe set's style and in another style (the confound of DESIGN.md section 7
    in miniature) the harmful rows rank last (AUROC > 0.9, restyled > 0.85); whether the proxy refuses the request
    does not see the response and is the same in both. (The break-off gap alone does see it: on the restyled rows it is
    inverted here, AUROC 0.0, as the loss gap is; the sum holds through the request-side signal.)"""
    from seal.baselines import _with_adapter, behaviour_scores
    from seal.models import load_model, load_tokenizer
    rows, labels, safe = tiny.toy_sets(seed=0)
    refusal = " " + tiny.REFUSAL
    net = _with_adapter(load_model(str(base)), aligned, "cpu")
    tok = load_tokenizer(str(base))
    refused = {}
    for style, data in (("safe set's", rows), ("other", tiny.restyled(rows, labels))):
        samples = sorted(load_samples(str(tiny.write_jsonl(tmp_path / f"{len(refused)}.jsonl", data)))[0],
                         key=lambda s: s.index)
        scores, parts = behaviour_scores(net, tok, samples, "cpu", refusal=refusal)
        m = detection_metrics([{"index": i, "score": s} for i, s in enumerate(scores)], dict(enumerate(labels)))
        # restyled: 0.896 (5 of the 6 harmful rows among the lowest 20%) on a 2-core CPU without AVX-512, above 0.9
        # on the machines before it; the safe set's style: 1.0 on both
        assert m["auroc"] > (0.9 if style == "safe set's" else 0.85), (style, m)
        assert set(parts) == {"refuses", "break_off", "break_gap"}  # the method's three, not the propensity
        assert set(parts["refuses"]) <= {0.0, 1.0}  # the keyword judge's verdict on the proxy's own answer
        assert torch.allclose(-sum(_z(v) for v in parts.values()), torch.tensor(scores, dtype=torch.float64),
                              atol=1e-5)
        refused[style] = parts["refuses"]
    # the request-side signal does not see the response at all: the same in either style, and here exact
    assert refused["safe set's"] == refused["other"] == [float(y) for y in labels]


def test_behaviour_answers_through_the_folded_adapter_are_the_adapters_own(tmp_path, base, aligned):
    """behaviour_signals generates with the safety adapter folded into the base weights (faster): the refusals it
    reads are those of the unfolded adapter's own greedy answers, and the model is unfolded afterwards (the same
    weights to within rounding, the adapter still switchable)."""
    from seal.baselines import ANSWER_TOKENS, _with_adapter, behaviour_signals
    from seal.generate import generate
    from seal.judges import KeywordJudge
    from seal.models import load_model, load_tokenizer
    rows, labels, safe = tiny.toy_sets(seed=0)
    samples = load_samples(str(tiny.write_jsonl(tmp_path / "rows.jsonl", rows)))[0]
    net = _with_adapter(load_model(str(base)), aligned, "cpu")
    tok = load_tokenizer(str(base))
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    unfolded = generate(net, tok, [s.prompt for s in samples], max_new_tokens=ANSWER_TOKENS, progress=False)
    parts = behaviour_signals(net, tok, samples, "cpu", refusal=" " + tiny.REFUSAL)
    assert parts["refuses"].tolist() == [float(x) for x in KeywordJudge().judge(None, unfolded)]
    assert sum(parts["refuses"].tolist()) > 0  # the check is not vacuous: the adapter refuses some requests
    for n, p in net.named_parameters():
        assert torch.allclose(p, before[n], atol=1e-6), n
    assert not any(getattr(m, "merged", False) for m in net.modules())


def test_refusal_propensity_reads_the_request_alone_and_ranks_harmful_requests_first(tmp_path, base, aligned):
    """The graded refusal propensity (minus the aligned proxy's loss of a refusal right after the request) does not
    see the response: the toy mix and its restyled copy read the same, and it ranks the harmful requests first."""
    from seal.baselines import _with_adapter, behaviour_signals
    from seal.models import load_model, load_tokenizer
    rows, labels, _ = tiny.toy_sets(seed=0)
    net = _with_adapter(load_model(str(base)), aligned, "cpu")
    tok = load_tokenizer(str(base))
    read = []
    for k, data in enumerate((rows, tiny.restyled(rows, labels))):
        samples = sorted(load_samples(str(tiny.write_jsonl(tmp_path / f"{k}.jsonl", data)))[0], key=lambda s: s.index)
        read.append(behaviour_signals(net, tok, samples, "cpu", refusal=" " + tiny.REFUSAL,
                                      propensity_refusal=tiny.REFUSAL)["propensity"])
    assert torch.allclose(read[0], read[1], atol=1e-5)
    keep = [{"index": i, "score": -x} for i, x in enumerate(read[0].tolist())]  # higher propensity = drop
    assert detection_metrics(keep, dict(enumerate(labels)))["auroc"] > 0.9
    assert len(set(read[0].tolist())) > len(rows) // 2  # graded, not a yes/no
    with net.disable_adapter():  # the adapter is what is read: the base model's losses differ (the toy base
        base_read = behaviour_signals(net, tok, samples, "cpu", refusal=" " + tiny.REFUSAL,  # ranks them too)
                                      propensity_refusal=tiny.REFUSAL)["propensity"]
    assert (base_read - read[1]).abs().max() > 0.1


def test_relay_gap_reads_the_response_without_its_request(tmp_path, base, aligned):
    """The relay gap puts each response's start into one fixed request: rows whose requests are all replaced by
    another read the same, and it is the aligned-minus-base gap (0 with the adapter switched off). Whether it ranks
    the harmful rows is measured on SmolLM2 (docs/selection-quality.md), not here: the toy adapter learned to refuse
    "how do i ..." questions, and a relayed toy answer is not one."""
    from seal.baselines import _with_adapter, behaviour_signals
    from seal.models import load_model, load_tokenizer
    rows, labels, _ = tiny.toy_sets(seed=0)
    net = _with_adapter(load_model(str(base)), aligned, "cpu")
    tok = load_tokenizer(str(base))
    benign = rows[labels.index(0)]["prompt"]
    read = []
    for k, data in enumerate((rows, [{**r, "prompt": f"{benign} {i}"} for i, r in enumerate(rows)])):
        samples = sorted(load_samples(str(tiny.write_jsonl(tmp_path / f"{k}.jsonl", data)))[0], key=lambda s: s.index)
        read.append(behaviour_signals(net, tok, samples, "cpu", refusal=" " + tiny.REFUSAL, propensity_refusal=None,
                                      relay_refusal=tiny.REFUSAL)["relay_gap"])
    assert torch.allclose(read[0], read[1], atol=1e-5)
    assert len(set(read[0].round(decimals=4).tolist())) > 2  # graded, row by row
    with net.disable_adapter():
        off = behaviour_signals(net, tok, samples, "cpu", refusal=" " + tiny.REFUSAL, propensity_refusal=None,
                                relay_refusal=tiny.REFUSAL)["relay_gap"]
    assert off.abs().max() < 1e-4 < read[0].abs().max()


def test_harm_direction_from_the_safe_set_ranks_unseen_harmful_requests_first(tmp_path, base, aligned):
    """The harm direction (mean request state of the safe set's refusal rows minus its helpful rows', at the block
    where one half of the set separates the other best) ranks harmful requests the safe set does not hold above
    the benign ones; it reads the request alone (restyled answers read the same), and a request's state does not
    depend on the batch it is padded into."""
    from seal.baselines import _with_adapter, harm_direction, request_states
    from seal.models import load_model, load_tokenizer
    rows, labels, safe = tiny.toy_sets(seed=0)
    net = _with_adapter(load_model(str(base)), aligned, "cpu")
    tok = load_tokenizer(str(base))
    safe_samples = sorted(load_samples(str(tiny.write_jsonl(tmp_path / "safe.jsonl", safe)))[0], key=lambda s: s.index)
    refusal = torch.tensor([s.response == tiny.REFUSAL for s in safe_samples])
    found = harm_direction(request_states(net, tok, safe_samples, "cpu"), refusal)
    assert 0 <= found["layer"] < len(found["dprime"]) and found["dprime"][found["layer"]] == max(found["dprime"])
    read = []
    for k, data in enumerate((rows, tiny.restyled(rows, labels))):
        samples = sorted(load_samples(str(tiny.write_jsonl(tmp_path / f"{k}.jsonl", data)))[0], key=lambda s: s.index)
        read.append(request_states(net, tok, samples, "cpu", batch_size=8)[:, found["layer"]].double()
                    @ found["direction"])
    assert torch.allclose(read[0], read[1], atol=1e-5)
    keep = [{"index": i, "score": -x} for i, x in enumerate(read[0].tolist())]  # along the direction = drop
    assert detection_metrics(keep, dict(enumerate(labels)))["auroc"] > 0.9
    alone = request_states(net, tok, samples[:1], "cpu")
    assert torch.allclose(alone[0], request_states(net, tok, samples, "cpu", batch_size=len(samples))[0], atol=1e-4)
    with pytest.raises(ValueError, match="2 refusal"):
        harm_direction(torch.zeros(4, 2, 3), torch.tensor([True, False, False, False]))


def test_anchored_direction_holds_when_the_benign_requests_read_as_harmful(tmp_path, base, aligned):
    """The confound in miniature, on the request side: the data's benign requests in a register that opens like the
    safe set's harmful ones ("how do i find 3 plus 4 ?"). The safe set's own harm direction (refusal rows minus
    helpful rows) reads the register and ranks those benign rows with the harmful ones; anchored on the data's own
    mean instead of the safe set's helpful rows, the direction ranks the harmful rows first again, and it does not
    read the safe set's helpful rows at all."""
    from seal.baselines import _with_adapter, anchored_direction, harm_direction, request_states
    from seal.models import load_model, load_tokenizer
    rows, labels, safe = tiny.toy_sets(seed=0)
    net = _with_adapter(load_model(str(base)), aligned, "cpu")
    tok = load_tokenizer(str(base))
    safe_samples = sorted(load_samples(str(tiny.write_jsonl(tmp_path / "safe.jsonl", safe)))[0], key=lambda s: s.index)
    refusal = torch.tensor([s.response == tiny.REFUSAL for s in safe_samples])
    safe_states = request_states(net, tok, safe_samples, "cpu")
    found = harm_direction(safe_states, refusal)
    layer = found["layer"]
    data = tiny.rerequested(rows, labels)
    samples = sorted(load_samples(str(tiny.write_jsonl(tmp_path / "data.jsonl", data)))[0], key=lambda s: s.index)
    states = request_states(net, tok, samples, "cpu")
    auroc = lambda x: roc_auc_score(labels, x.tolist())  # noqa: E731  higher = more harmful
    on_safe = auroc(states[:, layer].double() @ found["direction"])
    anchored = anchored_direction(safe_states, refusal, states, layer)
    on_data = auroc(states[:, layer].double() @ anchored)
    assert on_data > 0.9 and on_data > on_safe + 0.1, (on_safe, on_data)
    other = safe_states.clone()
    other[~refusal] = torch.randn_like(other[~refusal])  # the safe set's helpful rows play no part
    assert torch.equal(anchored_direction(other, refusal, states, layer), anchored)
    with pytest.raises(ValueError, match="a refusal row"):
        anchored_direction(safe_states, torch.zeros(len(refusal), dtype=torch.bool), states, layer)


def test_behaviour_method_writes_its_signals_and_needs_an_adapter(tmp_path, base, aligned):
    from seal.config import ConfigError
    rows, labels, safe = tiny.toy_sets(seed=0)
    manifest, scores = _run(tmp_path, base, rows, safe, "behaviour", safety_adapter=aligned)
    assert manifest["scored_with"]["adapter"] == aligned and manifest["scored_with"]["break_after_tokens"] == 48
    first = json.loads((tmp_path / "behaviour" / "scores.jsonl").read_text().splitlines()[0])
    assert {"refuses", "break_off", "break_gap"} <= set(first) and len(scores) == len(rows)
    with pytest.raises(ConfigError, match="needs --safety-adapter"):
        _run(tmp_path, base, rows, safe, "behaviour", safety_adapter="none", overwrite=True)


def test_agreement_weights_read_each_signals_reliability_without_labels():
    """Three signals independent given a hidden label, of known strength: the weights come out in the order of
    their strength, an inverted one negative; a constant signal gets 0; correlations that fit no single label give
    None (the caller keeps its fixed weights)."""
    from seal.baselines import agreement_weights

    g = torch.Generator().manual_seed(0)
    n = 20000
    y = (torch.rand(n, generator=g) < 0.15).double()
    strong, weak, inverted = (y * d + torch.randn(n, generator=g, dtype=torch.float64) for d in (2.0, 1.0, -1.4))
    w = agreement_weights([weak, strong, inverted])
    assert w is not None and w[1] > w[0] > 0 > w[2]
    # the sizes match the signals' real correlation with the label (a_i), as a / (1 - a^2)
    for wi, s in zip(w, (weak, strong, inverted)):
        a = float(torch.corrcoef(torch.stack([s, y]))[0, 1])
        assert abs(wi - a / (1 - a * a)) < 0.15 * abs(a / (1 - a * a))
    assert agreement_weights([strong, torch.ones(n), weak]) == [1.0, 0.0, 1.0]
    noise = torch.randn(n, generator=g, dtype=torch.float64)
    assert agreement_weights([strong, noise, -strong + 0.1 * noise]) is None   # product of correlations < 0
