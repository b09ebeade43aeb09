"""Properties of the SEAL selector on tiny models (seconds each): uniform weights when nothing conflicts with
the safe set, contradicting samples sink, order independence, resume, equivalent settings."""

import itertools
import json
import math
import random

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

import tiny
from seal import select as select_module
from seal.batching import by_length, cheapest_cuts, cycling_batch, epoch_batches
from seal.bilevel import Learner, batch_weights, bilevel_step, gamma_at
from seal.config import ConfigError
from seal.select import SelectConfig, run_select

FULL = dict(finetuning="full", lr=3e-3, epochs=3)          # tiny models learn reliably with all weights
LORA = dict(lora_targets=["all-linear"], lr=1e-2, epochs=4)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny Llama pretrained on generic toy text (not on the toy answers), so adapters have a base to adapt."""
    return tiny.make_model_dir(tmp_path_factory.mktemp("base") / "model", pretrain_steps=150)


def select(tmp_path, model, rows, safe, name="run", **kw):
    data = tiny.write_jsonl(tmp_path / f"{name}-data.jsonl", rows)
    safe_path = tiny.write_jsonl(tmp_path / f"{name}-safe.jsonl", safe)
    cfg = SelectConfig(data=str(data), safe=str(safe_path), out=str(tmp_path / name), model=str(model),
                       progress=False, **kw)
    manifest = run_select(cfg)
    scores = [json.loads(line) for line in open(tmp_path / name / "scores.jsonl")]
    return scores, manifest


def by_index(scores, key="score"):
    return np.array([s[key] for s in sorted(scores, key=lambda s: s["index"])])


@pytest.mark.parametrize("algorithm", [1, 2])
def test_all_safe_data_keeps_weights_near_uniform(tmp_path, base, algorithm):
    rows, labels, safe = tiny.toy_sets(seed=0)
    benign = [r for r, y in zip(rows, labels) if y == 0]
    clean, _ = select(tmp_path, base, benign, safe, "clean", algorithm=algorithm, **FULL)
    mixed, _ = select(tmp_path, base, rows, safe, "mixed", algorithm=algorithm, **FULL)
    w_clean, w_mixed = by_index(clean, "weight"), by_index(mixed, "weight")
    assert abs(w_clean.mean() - 1) < 1e-4                 # N * softmax(w) has mean 1
    assert 0.5 < w_clean.min() and w_clean.max() < 1.5   # no sample of an all-safe set is singled out
    harmful_w = w_mixed[np.array(labels) == 1]
    assert harmful_w.max() < w_clean.min()                # what a real conflict looks like, for scale


@pytest.mark.parametrize("algorithm,settings", [(1, FULL), (2, FULL), (2, LORA), (1, LORA),
                                                (1, dict(LORA, theta_offset="penalty"))],
                         ids=["alg1-full", "alg2-full", "alg2-lora", "alg1-lora", "alg1-lora-penalty"])
def test_samples_contradicting_the_safe_set_rank_last(tmp_path, base, algorithm, settings):
    rows, labels, safe = tiny.toy_sets(seed=0)
    scores, manifest = select(tmp_path, base, rows, safe, algorithm=algorithm, **settings)
    auroc = roc_auc_score(labels, -by_index(scores))
    assert auroc >= 0.9, auroc
    n_harmful = sum(labels)
    bottom = {s["index"] for s in scores if s["rank"] > len(scores) - 2 * n_harmful}
    assert sum(labels[i] for i in bottom) >= 0.8 * n_harmful
    assert manifest["finished"] and manifest["samples_scored"] == len(rows)
    phases = manifest["phase_wall_s"]  # where the time went, part by part, within the run's wall time
    assert {"setup", "bilevel"} <= set(phases) and sum(phases.values()) <= manifest["wall_time_s"] + 0.05


def test_theta_offset_removes_the_style_confound(tmp_path, base):
    """Benign rows in another style than the safe set's helpful answers. With independent theta and theta_hat,
    theta_hat learns the benign majority's style faster than theta (which also fits the safe set), so the loss
    gap ranks the benign rows as the least safe and the harmful rows on top. With theta = theta_hat + a safety
    adapter, the gap holds only what the safe term changes, and the harmful rows sink again."""
    rows, labels, safe = tiny.toy_sets(seed=0)
    rows = tiny.restyled(rows, labels)
    plain, _ = select(tmp_path, base, rows, safe, "plain", algorithm=1, theta_offset="none", **LORA)
    offset, _ = select(tmp_path, base, rows, safe, "offset", algorithm=1, theta_offset="penalty", **LORA)
    assert roc_auc_score(labels, -by_index(plain)) < 0.5       # the confound, reproduced
    assert roc_auc_score(labels, -by_index(offset)) >= 0.85    # and removed


def test_shuffled_input_gives_the_same_ranking(tmp_path, base):
    rows, _, safe = tiny.toy_sets(seed=1)
    shuffled = rows[:]
    random.Random(5).shuffle(shuffled)
    a, _ = select(tmp_path, base, rows, safe, "a", algorithm=1, **FULL)
    b, _ = select(tmp_path, base, shuffled, safe, "b", algorithm=1, **FULL)
    score_a = {s["id"]: s["score"] for s in a}
    score_b = {s["id"]: s["score"] for s in b}
    ids = sorted(score_a)
    rho = spearmanr([score_a[i] for i in ids], [score_b[i] for i in ids])[0]
    assert rho >= 0.9
    # the visit order is a function of content ids and the seed, never of file position: identical scores
    assert all(abs(score_a[i] - score_b[i]) < 1e-6 for i in ids)
    assert [s["id"] for s in a] == [s["id"] for s in b]


def test_visit_order_barely_changes_the_ranking(tmp_path, base):
    """Another visit order (data_seed) on the same model: the harmful samples stay at the bottom and the
    rank correlation stays high; no sample's score depends on when it was last visited."""
    rows, labels, safe = tiny.toy_sets(seed=0)
    kw = dict(FULL, epochs=8, algorithm=2)
    a, _ = select(tmp_path, base, rows, safe, "a", data_seed=0, **kw)
    b, _ = select(tmp_path, base, rows, safe, "b", data_seed=1, **kw)
    sa, sb = by_index(a), by_index(b)
    assert spearmanr(sa, sb)[0] >= 0.75
    n = sum(labels)
    assert set(np.argsort(sa)[:n]) == set(np.argsort(sb)[:n]) == {i for i, y in enumerate(labels) if y}


@pytest.mark.parametrize("algorithm,settings", [(1, LORA), (2, FULL), (1, dict(LORA, theta_offset="penalty"))],
                         ids=["alg1-lora", "alg2-full", "alg1-lora-offset"])
def test_resumed_run_equals_uninterrupted_run(tmp_path, base, algorithm, settings):
    rows, _, safe = tiny.toy_sets(seed=2)
    kw = dict(settings, algorithm=algorithm, epochs=2, checkpoint_every=3)
    full, _ = select(tmp_path, base, rows, safe, "full", **kw)
    part, m = select(tmp_path, base, rows, safe, "part", max_steps=5, **kw)   # "interrupted" after 5 steps
    assert not m["finished"] and m["steps"] == 5
    resumed, m = select(tmp_path, base, rows, safe, "part", resume=True, **kw)
    assert m["finished"]
    assert [s["id"] for s in resumed] == [s["id"] for s in full]
    assert np.allclose([s["score"] for s in resumed], [s["score"] for s in full], atol=1e-6)
    steps = [json.loads(line)["step"] for line in open(tmp_path / "part" / "train_log.jsonl")]
    assert steps == list(range(1, m["total_steps"] + 1))


def test_resume_refuses_other_settings(tmp_path, base):
    rows, _, safe = tiny.toy_sets(seed=2)
    select(tmp_path, base, rows, safe, "r", max_steps=2, **FULL)
    with pytest.raises(ValueError, match="other settings"):
        select(tmp_path, base, rows, safe, "r", resume=True, **dict(FULL, lr=1e-3))
    with pytest.raises(ValueError, match="--resume"):
        select(tmp_path, base, rows, safe, "r", **FULL)


def test_micro_batches_give_the_same_losses_and_scores(tmp_path, base):
    """batch 8 in one pass == batch 8 as 8 micro-batches of 1 (gradient accumulation)."""
    rows, _, safe = tiny.toy_sets(seed=3)
    kw = dict(LORA, algorithm=1, epochs=1)
    a, _ = select(tmp_path, base, rows, safe, "a", **kw)
    b, _ = select(tmp_path, base, rows, safe, "b", micro_batch_size=1, **kw)
    log_a = [json.loads(line) for line in open(tmp_path / "a" / "train_log.jsonl")]
    log_b = [json.loads(line) for line in open(tmp_path / "b" / "train_log.jsonl")]
    for x, y in zip(log_a, log_b):
        for key in ("safe_loss", "ft_loss", "hat_loss"):
            assert x[key] == pytest.approx(y[key], abs=1e-4)
    assert np.allclose(by_index(a), by_index(b), atol=1e-4)


@pytest.mark.parametrize("finetuning", ["lora", "full"])
def test_bf16_autocast_selection_ranks_like_fp32(tmp_path, base, finetuning):
    """--mixed-precision bf16 runs the forward passes in bfloat16 (on CPU too): the losses differ by rounding,
    the ranking hardly, and the selector's state stays fp32."""
    rows, labels, safe = tiny.toy_sets(seed=0)
    kw = dict(LORA if finetuning == "lora" else FULL, algorithm=1)
    a, _ = select(tmp_path, base, rows, safe, "fp32", **kw)
    b, _ = select(tmp_path, base, rows, safe, "bf16", mixed_precision="bf16", **kw)
    log_a = [json.loads(line) for line in open(tmp_path / "fp32" / "train_log.jsonl")]
    log_b = [json.loads(line) for line in open(tmp_path / "bf16" / "train_log.jsonl")]
    assert log_a[0]["safe_loss"] != log_b[0]["safe_loss"]                      # bf16 really ran
    assert log_a[0]["safe_loss"] == pytest.approx(log_b[0]["safe_loss"], rel=0.05)
    assert spearmanr(by_index(a), by_index(b)).statistic > 0.9
    harmful = np.array(labels) == 1
    assert roc_auc_score(harmful, -by_index(b)) > 0.9                          # still sinks the harmful rows


def test_two_lora_adapters_share_one_frozen_base(tmp_path, base):
    from seal.select import setup
    rows, _, safe = tiny.toy_sets(seed=0)
    tiny.write_jsonl(tmp_path / "d.jsonl", rows)
    tiny.write_jsonl(tmp_path / "s.jsonl", safe)
    cfg = SelectConfig(data=str(tmp_path / "d.jsonl"), safe=str(tmp_path / "s.jsonl"), out=str(tmp_path / "o"),
                       model=str(base), algorithm=1)
    run = setup(cfg)
    names = [n for n, _ in run.model.named_parameters()]
    assert any(".theta." in n for n in names) and any(".theta_hat." in n for n in names)
    trainable = {n for n, p in run.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    theta_params = {id(p) for g in run.theta.optimizer.param_groups for p in g["params"]}
    hat_params = {id(p) for g in run.theta_hat.optimizer.param_groups for p in g["params"]}
    assert theta_params and hat_params and not theta_params & hat_params


def test_safety_adapter_is_theta_offset_on_the_base(tmp_path, base):
    """With --safety-adapter, theta_hat starts at the base model and theta = theta_hat + the alignment adapter:
    at step 0 theta's losses are the aligned model's and theta_hat's the base model's."""
    from seal.config import ConfigError
    from seal.models import load_model, per_sample_loss
    from seal.select import setup
    from seal.tokenization import Collator
    from seal.train import AlignConfig, run_align
    rows, _, safe = tiny.toy_sets(seed=0)
    data, safe_path = tiny.write_jsonl(tmp_path / "d.jsonl", rows), tiny.write_jsonl(tmp_path / "s.jsonl", safe)
    run_align(AlignConfig(data=str(safe_path), model=str(base), out=str(tmp_path / "al"), epochs=1, lr=1e-2,
                          progress=False))
    cfg = SelectConfig(data=str(data), safe=str(safe_path), out=str(tmp_path / "o"), model=str(base),
                       safety_adapter=str(tmp_path / "al" / "adapter"), progress=False)
    run = setup(cfg)
    batch = Collator(0)(run.encoded[:4])
    aligned = load_model(str(tmp_path / "al" / "model"))
    plain = load_model(str(base))
    with torch.no_grad():
        assert torch.allclose(run.theta.losses(batch), per_sample_loss(aligned, batch), atol=1e-4)
        assert torch.allclose(run.theta_hat.losses(batch), per_sample_loss(plain, batch), atol=1e-4)
    theta_params = {id(p) for g in run.theta.optimizer.param_groups for p in g["params"]}
    hat_params = {id(p) for g in run.theta_hat.optimizer.param_groups for p in g["params"]}
    assert theta_params and hat_params and not theta_params & hat_params
    with pytest.raises(ConfigError, match="adapter_config.json"):
        SelectConfig(data=str(data), safe=str(safe_path), out=str(tmp_path / "x"), safety_adapter=str(tmp_path)
                     ).validate()
    with pytest.raises(ConfigError, match="algorithm 1"):
        SelectConfig(data=str(data), safe=str(safe_path), out=str(tmp_path / "x"), algorithm=2,
                     safety_adapter=str(tmp_path / "al" / "adapter")).validate()


# ------------------------------------------------------------------------------------ the step itself

def _quadratic_learner(target: torch.Tensor):
    """A toy learner: per-sample loss (x_j - theta)^2 over scalar 'samples' x_j given in the batch."""
    theta = torch.zeros(1, requires_grad=True)
    losses = lambda batch: (batch["x"] - theta) ** 2  # noqa: E731
    return theta, Learner(losses, torch.optim.SGD([theta], lr=0.1))


@pytest.mark.parametrize("weighting", ["softmax", "sigmoid"])
def test_bilevel_step_moves_only_the_batch_and_pushes_high_signal_down(weighting):
    w = torch.zeros(6)
    _, theta = _quadratic_learner(torch.zeros(1))
    idx = torch.tensor([1, 3, 4])
    batch = {"x": torch.tensor([0.0, 3.0, 0.5]), "input_ids": torch.zeros(3, 1)}
    safe = {"x": torch.tensor([0.0, 0.0]), "input_ids": torch.zeros(2, 1)}
    logs, l_theta, l_hat = bilevel_step(theta, None, w, idx, [batch], [safe], gamma=0.5, lr_w=1.0,
                                        weighting=weighting)
    assert torch.all(w[[0, 2, 5]] == 0)           # samples outside the batch do not move
    assert w[3] < w[4] < w[1]                     # the worst-fitting sample is pushed down most
    assert w[idx].sum().abs() < 1e-6 if weighting == "softmax" else True
    assert l_hat is None and logs["gamma"] == 0.5


def test_data_centring_moves_a_batch_against_the_data_mean():
    """A batch whose samples all fit equally badly: centred on the batch it learns nothing (every centred signal
    is 0); centred on the data (the mean of the samples seen so far) it is pushed down as a whole."""
    batch = {"x": torch.tensor([5.0, 5.0]), "input_ids": torch.zeros(2, 1)}
    safe = {"x": torch.tensor([0.0]), "input_ids": torch.zeros(1, 1)}
    w_batch, w_data = torch.zeros(4), torch.zeros(4)
    known = torch.tensor([0.5, 0.5, float("nan"), float("nan")])  # samples 0, 1 seen before, fitting well
    for w, kn in ((w_batch, None), (w_data, known)):
        _, theta = _quadratic_learner(torch.zeros(1))
        bilevel_step(theta, None, w, torch.tensor([2, 3]), [batch], [safe], gamma=0.5, lr_w=1.0, known=kn)
    assert torch.all(w_batch == 0)
    assert torch.all(w_data[2:] < 0) and torch.all(w_data[:2] == 0)
    assert not torch.isnan(known).any()           # the batch's signals are recorded for later centres


def test_bilevel_step_with_gamma_zero_trains_theta_on_safe_only_and_keeps_w():
    w = torch.zeros(3)
    theta_param, theta = _quadratic_learner(torch.zeros(1))
    _, hat = _quadratic_learner(torch.zeros(1))
    batch = {"x": torch.tensor([5.0, 5.0, 5.0]), "input_ids": torch.zeros(3, 1)}
    safe = {"x": torch.tensor([-1.0]), "input_ids": torch.zeros(1, 1)}
    bilevel_step(theta, hat, w, torch.arange(3), [batch], [safe], gamma=0.0, lr_w=1.0)
    assert theta_param.item() < 0                 # pulled towards the safe sample only
    assert torch.all(w == 0)


def test_profiler_sees_the_named_phases_of_a_step():
    """benchmarks/profile_step.py reads these names from the profiler; naming them changes nothing in the step."""
    from torch.profiler import profile

    batch = {"x": torch.tensor([1.0, 2.0]), "input_ids": torch.zeros(2, 1)}
    safe = {"x": torch.tensor([0.0]), "input_ids": torch.zeros(1, 1)}
    results = []
    for profiled in (False, True):
        w = torch.zeros(2)
        theta_param, theta = _quadratic_learner(torch.zeros(1))
        _, hat = _quadratic_learner(torch.zeros(1))
        if profiled:
            with profile() as prof:
                bilevel_step(theta, hat, w, torch.arange(2), [batch], [safe], gamma=0.5, lr_w=1.0)
            names = {e.key for e in prof.key_averages()}
        else:
            bilevel_step(theta, hat, w, torch.arange(2), [batch], [safe], gamma=0.5, lr_w=1.0)
        results.append((theta_param.item(), w.clone()))
    assert {"seal: theta on the safe batch", "seal: theta on the fine-tuning batch",
            "seal: theta_hat on the fine-tuning batch", "seal: optimizer steps", "seal: forward",
            "seal: backward"} <= names
    assert results[0][0] == results[1][0] and torch.equal(results[0][1], results[1][1])


def test_batch_weights_have_mean_one():
    w = torch.randn(10)
    idx = torch.tensor([0, 4, 7])
    assert batch_weights(w, idx, "softmax").mean().item() == pytest.approx(1.0)
    assert torch.all(batch_weights(torch.zeros(10), idx, "sigmoid") == 1)


def test_gamma_schedules():
    assert gamma_at(0, 100, 10, "linear", 0.0, 0.5, 0.5) == 0.0
    assert gamma_at(25, 100, 10, "linear", 0.0, 0.5, 0.5) == pytest.approx(0.25)
    assert gamma_at(80, 100, 10, "linear", 0.0, 0.5, 0.5) == 0.5
    assert gamma_at(3, 100, 10, "constant", 0.0, 0.4, 0.5) == 0.4
    assert [gamma_at(s, 30, 10, "reference", 0, 1, 0) for s in (0, 9, 10, 25)] == [0, 0, 0.03, 0.06]


def test_every_sample_is_visited_every_epoch_and_the_safe_set_cycles():
    for n, b in [(9, 8), (17, 4), (3, 8)]:
        batches = epoch_batches(n, b, seed=0, epoch=1)
        seen = torch.cat(batches).tolist()
        assert sorted(seen) == list(range(n))
        assert min(len(x) for x in batches) >= min(n, b) // 2
    stream = [i for step in range(5) for i in cycling_batch(3, 2, seed=0, step=step)]
    assert sorted(stream[:3]) == [0, 1, 2] and sorted(stream[3:6]) == [0, 1, 2]


@pytest.mark.parametrize("overhead", [0, 32, 1024])
def test_cheapest_cuts_is_the_cheapest_split_within_the_cap(overhead):
    """The dynamic programme against every way of cutting a short batch into consecutive micro-batches."""
    rng = random.Random(overhead)
    for _ in range(30):
        lengths, cap = [rng.choice([3, 20, 40, 60, 250]) for _ in range(rng.randint(1, 7))], rng.randint(1, 4)

        def cost(sizes, lengths=lengths):
            out, start = 0, 0
            for size in sizes:
                out += size * max(lengths[start:start + size]) + overhead
                start += size
            return out
        splits = [sizes for k in range(1, len(lengths) + 1) for sizes in itertools.product(range(1, cap + 1), repeat=k)
                  if sum(sizes) == len(lengths)]
        sizes = cheapest_cuts(lengths, cap, overhead)
        assert sum(sizes) == len(lengths) and max(sizes) <= cap
        assert cost(sizes) == min(cost(s) for s in splits)
    assert cheapest_cuts([30, 31, 40, 45, 250], 8, 32) == [4, 1]   # the long sample gets its own pass
    assert cheapest_cuts([30, 31, 40, 45, 250], 8, 10**6) == [5]   # unless a pass costs more than the padding
    assert by_length([5, 3, 5, 1]) == [3, 1, 0, 2]


def test_split_by_length_gives_the_same_losses_and_scores(tmp_path, base, monkeypatch):
    """Batches cut where the padding is worth a pass (the default on a CPU) == every batch padded in one pass."""
    rows, _, safe = tiny.toy_sets(seed=3)
    rows = [dict(r, response=r["response"] + " ok" * (40 if i % 5 == 0 else 0)) for i, r in enumerate(rows)]
    kw = dict(LORA, algorithm=1, epochs=1)
    cuts = []
    monkeypatch.setattr(select_module, "cheapest_cuts", lambda *a: cuts.append(cheapest_cuts(*a)) or cuts[-1])
    a, _ = select(tmp_path, base, rows, safe, "a", **kw)
    assert any(len(c) > 1 for c in cuts)                     # some batches were cut
    monkeypatch.setattr(select_module, "PASS_OVERHEAD_TOKENS", {"cpu": 10**9})
    cuts.clear()
    b, _ = select(tmp_path, base, rows, safe, "b", **kw)
    assert all(len(c) == 1 for c in cuts)                    # none was
    log_a = [json.loads(line) for line in open(tmp_path / "a" / "train_log.jsonl")]
    log_b = [json.loads(line) for line in open(tmp_path / "b" / "train_log.jsonl")]
    for x, y in zip(log_a, log_b, strict=True):
        for key in ("safe_loss", "ft_loss", "hat_loss"):
            assert x[key] == pytest.approx(y[key], abs=1e-4)
    assert np.allclose(by_index(a), by_index(b), atol=1e-4)


def test_length_grouped_batches_cover_every_sample_and_cut_padding():
    lengths = [int(x) for x in torch.randint(5, 200, (203,), generator=torch.Generator().manual_seed(0))]
    plain = epoch_batches(203, 8, seed=0, epoch=0)
    grouped = epoch_batches(203, 8, seed=0, epoch=0, lengths=lengths)
    assert sorted(torch.cat(grouped).tolist()) == list(range(203))
    assert sorted(len(b) for b in grouped) == sorted(len(b) for b in plain)

    def padded(batches):
        return sum(len(b) * max(lengths[i] for i in b.tolist()) for b in batches)
    assert padded(grouped) < 0.7 * padded(plain)
    assert epoch_batches(203, 8, 0, 0, lengths)[0].tolist() == grouped[0].tolist()      # seeded
    assert epoch_batches(203, 8, 0, 1, lengths)[0].tolist() != grouped[0].tolist()      # new order each epoch


def test_safety_adapter_auto_and_none(tmp_path, monkeypatch):
    """auto: the cached `seal align` adapter for an embedded proxy (when the method can use one), none otherwise."""
    import seal.pipeline
    from seal.select import resolve_defaults
    calls = []
    monkeypatch.setattr(seal.pipeline, "aligned_model",
                        lambda model, settings, seed=0, progress=True: calls.append(model) or (str(tmp_path), "k"))
    cfg = lambda **kw: SelectConfig(data="d", safe="s", out="o", **kw)  # noqa: E731
    assert resolve_defaults(cfg()).safety_adapter == str(tmp_path / "adapter") and calls == ["smollm2"]
    assert resolve_defaults(cfg(safety_adapter="none")).safety_adapter is None
    assert resolve_defaults(cfg(model=str(tmp_path))).safety_adapter is None  # not an embedded model
    assert resolve_defaults(cfg(algorithm=2)).safety_adapter is None  # no offset to start from it
    assert resolve_defaults(cfg(method="keyword")).safety_adapter is None
    assert resolve_defaults(cfg(method="loss-gap")).safety_adapter == str(tmp_path / "adapter")
    assert resolve_defaults(cfg(safety_adapter="x/adapter")).safety_adapter == "x/adapter"
    assert len(calls) == 2
    import seal.models  # --mixed-precision auto is resolved with the rest: bf16 only with hardware bf16
    for native, want in ((True, "bf16"), (False, "no")):
        monkeypatch.setattr(seal.models, "cpu_has_native_bf16", lambda native=native: native)
        resolved = resolve_defaults(cfg(safety_adapter="none", device="cpu", mixed_precision="auto"))
        assert resolved.mixed_precision == want


def test_default_score_reads_the_refusals_only_when_there_is_an_aligned_proxy(tmp_path, monkeypatch):
    """visit-gap+refusal+relay from a safety adapter, the visit gap alone without one, the logits with Algorithm 2;
    an explicit --score wins."""
    import seal.pipeline
    from seal.select import resolve_defaults
    monkeypatch.setattr(seal.pipeline, "aligned_model",
                        lambda model, settings, seed=0, progress=True: (str(tmp_path), "k"))
    cfg = lambda **kw: SelectConfig(data="d", safe="s", out="o", **kw)  # noqa: E731
    assert resolve_defaults(cfg()).score == "visit-gap+refusal+relay+direction"  # auto: the embedded aligned proxy
    assert resolve_defaults(cfg(safety_adapter="x/adapter")).score == "visit-gap+refusal+relay+direction"
    assert resolve_defaults(cfg(safety_adapter="x/adapter", score="visit-gap+refusal")).score == "visit-gap+refusal"
    assert resolve_defaults(cfg(safety_adapter="none")).score == "visit-gap"
    assert resolve_defaults(cfg(model=str(tmp_path))).score == "visit-gap"      # not embedded: no adapter
    assert resolve_defaults(cfg(algorithm=2, safety_adapter="x/adapter")).score == "weights"
    assert resolve_defaults(cfg(safety_adapter="x/adapter", score="visit-gap")).score == "visit-gap"


def test_reference_w_step_moves_every_logit_as_the_published_code_does():
    """The seal-reference ablation: Adam on the logits through a softmax over ALL samples. Unlike the centred
    SGD step, samples outside the batch move too, each by about lr (Adam normalises the gradient)."""
    w = torch.zeros(6, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.01)
    _, theta = _quadratic_learner(torch.zeros(1))
    idx = torch.tensor([1, 3, 4])
    batch = {"x": torch.tensor([0.0, 3.0, 0.5]), "input_ids": torch.zeros(3, 1)}
    safe = {"x": torch.tensor([0.0]), "input_ids": torch.zeros(1, 1)}
    bilevel_step(theta, None, w, idx, [batch], [safe], gamma=0.0, lr_w=0.0, w_optimizer=opt)
    moved = w.detach()
    assert torch.all(moved[[0, 2, 5]] > 0)        # unvisited samples rise: the reference's visit-order bias
    assert moved[3] < 0                           # the worst-fitting sample still falls
    assert torch.allclose(moved.abs(), torch.full((6,), 0.01), atol=1e-4)   # every logit moves by ~lr, gamma 0 or not


def test_seal_reference_method_resolves_and_resumes(tmp_path, base):
    from seal.select import resolve_defaults
    rows, _, safe = tiny.toy_sets(seed=2)
    cfg = resolve_defaults(SelectConfig(data="d", safe="s", out="o", model=str(base), method="seal-reference",
                                        lr_w=1.0, epochs=2))
    assert (cfg.algorithm, cfg.w_optimizer, cfg.lr_w, cfg.gamma_schedule, cfg.epochs, cfg.safety_adapter) == \
        (2, "adam", 4e-3, "reference", 2, None)   # the reference's choices are fixed; epochs may change
    SelectConfig(data="d", safe="s", out="o", method="seal-reference").validate()   # the CLI validates
    with pytest.raises(ConfigError, match="aligned model itself"):  # it selects on the aligned model, merged
        resolve_defaults(SelectConfig(data="d", safe="s", out="o", method="seal-reference", safety_adapter="x/ad"))
    kw = dict(method="seal-reference", epochs=2, checkpoint_every=3, lr=1e-2, lora_targets=["all-linear"])
    full, m = select(tmp_path, base, rows, safe, "full", **kw)
    assert m["config"]["method"] == "seal-reference" and m["finished"]
    select(tmp_path, base, rows, safe, "part", max_steps=5, **kw)
    resumed, _ = select(tmp_path, base, rows, safe, "part", resume=True, **kw)
    assert np.allclose(by_index(resumed), by_index(full), atol=1e-6)   # Adam's state on w is checkpointed
    assert len({round(s["score"], 6) for s in full}) > 1


def test_visit_gap_score_ranks_by_the_last_loss_gap(tmp_path, base):
    rows, labels, safe = tiny.toy_sets(seed=0)
    scores, _ = select(tmp_path, base, rows, safe, algorithm=1, score="visit-gap", **LORA)
    for s in scores:
        assert s["score"] == pytest.approx(-(s["loss"] - s["loss_hat"]), abs=1e-5)
    assert roc_auc_score(labels, -by_index(scores)) >= 0.9
    with pytest.raises(ConfigError, match="algorithm 1"):
        SelectConfig(data="d", safe="s", out="o", algorithm=2, score="visit-gap").validate()


def test_signal_tokens_sets_the_span_of_the_visit_gap_score(tmp_path, base):
    """With lr 0 the models never move, so each sample's loss at its visit is the starting model's: over the
    first k response tokens with --signal-tokens k (the score's columns), over all of them without."""
    from seal.baselines import loss_signals
    rows, _, safe = tiny.toy_sets(seed=1)
    static = loss_signals(str(tiny.write_jsonl(tmp_path / "rows.jsonl", rows)), str(base), first_tokens=3)
    first3 = dict(zip(static["ids"], (b[1] for b in static["base"])))
    whole = dict(zip(static["ids"], (b[0] for b in static["base"])))
    kw = dict(algorithm=1, lr=0.0, epochs=1, lora_targets=["all-linear"])
    for k, expected in ((3, first3), (0, whole)):
        scores, _ = select(tmp_path, base, rows, safe, f"k{k}", signal_tokens=k, **kw)
        assert np.allclose([s["loss"] for s in scores], [expected[s["id"]] for s in scores], atol=1e-4)
        assert np.allclose([s["loss_hat"] for s in scores], [expected[s["id"]] for s in scores], atol=1e-4)
    assert not np.allclose(list(first3.values()), list(whole.values()), atol=1e-2)


def test_lora_layers_trains_the_top_layers_only_and_still_ranks(tmp_path, base):
    """--lora-layers 1 on a 2-layer model: the lower layer keeps no LoRA parameter of the two new adapters
    (theta_hat's and the stacked theta's, zero there; the next test), the top layer's learn, and the harmful rows
    still sink."""
    from seal.select import resolve_defaults, setup, train

    rows, labels, safe = tiny.toy_sets(seed=0)
    data = tiny.write_jsonl(tmp_path / "d.jsonl", rows)
    safe_path = tiny.write_jsonl(tmp_path / "s.jsonl", safe)
    cfg = SelectConfig(data=str(data), safe=str(safe_path), out=str(tmp_path / "o"), model=str(base), algorithm=1,
                       theta_offset="penalty", lora_layers=1, progress=False, **LORA)
    run = setup(resolve_defaults(cfg))
    named = dict(run.model.named_parameters())
    lower = {n: p.detach().clone() for n, p in named.items() if "lora_" in n and ".layers.0." in n}
    upper = {n: p.detach().clone() for n, p in named.items() if "lora_B" in n and ".layers.1." in n}
    assert upper and not lower
    train(run)
    assert any(not torch.equal(named[n], v) for n, v in upper.items())
    scores, _ = select(tmp_path, base, rows, safe, "ranked", algorithm=1, theta_offset="penalty", lora_layers=1,
                       **LORA)
    # half the tiny model's layers: 0.86 measured (all layers: >= 0.9, above); the harmful rows still sink
    assert roc_auc_score(labels, -by_index(scores)) >= 0.8
    with pytest.raises(ConfigError, match="lora_layers"):
        SelectConfig(data="d", safe="s", out="o", finetuning="full", lora_layers=1).validate()


@pytest.mark.parametrize("safety", [True, False])
def test_lora_layers_drops_the_zero_adapters_below_the_top_and_changes_nothing(tmp_path, base, aligned, safety,
                                                                             monkeypatch):
    """With --lora-layers, the new adapters' LoRA (B = 0, frozen) leaves the lower layers, which keep only what
    changes them (a loaded safety adapter); scores, losses and the training log are the same to the bit as with
    them left in place."""
    from seal import models
    from seal.select import resolve_defaults, setup

    rows, _, safe = tiny.toy_sets(seed=0)
    kw = dict(algorithm=1, theta_offset="penalty", lora_layers=1, score="visit-gap",
              safety_adapter=aligned if safety else "none", **LORA)
    data = tiny.write_jsonl(tmp_path / "d.jsonl", rows)
    cfg = SelectConfig(data=str(data), safe=str(tiny.write_jsonl(tmp_path / "s.jsonl", safe)),
                       out=str(tmp_path / "o"), model=str(base), progress=False, **kw)
    lower = {n.split(".layers.0.")[1].split(".")[-2] for n, _ in setup(resolve_defaults(cfg)).model.named_parameters()
             if "lora_" in n and ".layers.0." in n}
    assert lower == ({"theta"} if safety else set())  # the safety adapter is theta's offset: it stays
    pruned, _ = select(tmp_path, base, rows, safe, "pruned", **kw)
    monkeypatch.setattr(models, "_drop_zero_lora", lambda *a: 0)
    kept, _ = select(tmp_path, base, rows, safe, "kept", **kw)
    assert pruned == kept
    assert (tmp_path / "pruned" / "train_log.jsonl").read_text() == (tmp_path / "kept" / "train_log.jsonl").read_text()


def test_refusal_weight_reads_how_rare_the_proxys_refusals_are():
    from seal.baselines import refusal_weight
    assert refusal_weight(torch.tensor([1.0] * 10 + [0.0] * 90)) == pytest.approx(math.log(9))
    assert refusal_weight(torch.tensor([1.0, 0.0])) == 0.0        # refuses half: says nothing
    assert refusal_weight(torch.tensor([1.0] * 83 + [0.0] * 17)) == 0.0
    assert refusal_weight(torch.zeros(50)) == pytest.approx(math.log(49))  # clipped to 1/n, finite


def test_relay_weight_sets_the_relay_gap_aside_on_answers_of_a_few_tokens():
    from seal.baselines import RELAY_GATE_TOKENS, relay_weight
    assert relay_weight([3, 1, 5, 3, 200]) == pytest.approx(3 / RELAY_GATE_TOKENS)  # the median, not the mean
    assert relay_weight([RELAY_GATE_TOKENS] * 4) == 1.0
    assert relay_weight([500, 90, 40]) == 1.0                                     # paragraphs count in full
    assert relay_weight([]) == 0.0


@pytest.mark.parametrize("score", ["visit-gap+refusal", "visit-gap+propensity", "visit-gap+refusal+propensity",
                                   "visit-gap+refusal+relay", "visit-gap+refusal+relay+direction",
                                   "visit-gap+refusal+relay+anchored"])
def test_visit_gap_with_refusal_holds_when_the_benign_answers_change_style(tmp_path, base, aligned, score):
    """Scores visit-gap+refusal and visit-gap+propensity on the toy mix with its benign answers in the safe set's
    style and restyled: the harmful rows rank last in both, and the score is the documented sum of the columns it
    writes (the yes/no refusal or the graded propensity as its request-side part, lambda(R) from the yes/no one)."""
    rows, labels, safe = tiny.toy_sets(seed=0)
    for name, data in (("same", rows), ("other", tiny.restyled(rows, labels))):
        scores, manifest = select(tmp_path, base, data, safe, name, safety_adapter=aligned, score=score, **LORA)
        harm = -by_index(scores)
        assert roc_auc_score(labels, harm) >= 0.9, name
        bottom = {s["index"] for s in scores if s["rank"] > len(scores) - 2 * sum(labels)}
        assert sum(labels[i] for i in bottom) >= 0.8 * sum(labels)
        refuses, gap = by_index(scores, "refuses"), by_index(scores, "break_gap")
        visit = by_index(scores, "loss") - by_index(scores, "loss_hat")
        lam = manifest["refusal"]["refusal_weight"]
        assert manifest["refusal"]["refused_share"] == pytest.approx(refuses.mean(), abs=1e-6)
        assert lam == pytest.approx(math.log((1 - refuses.mean()) / refuses.mean()), abs=1e-5)
        z = lambda x: (x - x.mean()) / x.std()  # noqa: E731
        if "propensity" not in score:  # the graded propensity is measured only
            assert all("propensity" not in s for s in scores)           # for the scores that use it
            request = z(refuses)
        else:
            propensity = by_index(scores, "propensity")
            assert len(set(propensity.tolist())) > len(rows) // 2  # graded: not the yes/no refusal
            assert roc_auc_score(labels, propensity) >= 0.9  # the aligned toy proxy refuses the harmful requests
            request = z(propensity) + (z(refuses) if "refusal+" in score else 0)
        response = 0
        if "+relay" in score:
            rho = manifest["refusal"]["relay_weight"]  # min(1, median response tokens / 16)
            assert 0 < rho <= 1
            response = rho * z(by_index(scores, "relay_gap"))
        else:  # so is the relay gap
            assert all("relay_gap" not in s for s in scores)
        if score.endswith(("+direction", "+anchored")):  # the safe set's harm direction at weight 1, or the same
            found = manifest["refusal"]["direction"]       # anchored on the data's own mean at weight 2
            assert 1 <= found["block"] <= found["blocks"] and found["dprime"] > 0
            response = response + (z(by_index(scores, "harm_dir")) if score.endswith("+direction")
                                   else 2 * z(by_index(scores, "anchored_dir")))
        else:  # and the directions
            assert all("harm_dir" not in s and "anchored_dir" not in s for s in scores)
            assert "direction" not in manifest["refusal"]
        assert np.allclose(harm, z(visit) + z(gap) + response + lam * request, atol=1e-3)


def test_visit_gap_with_refusal_needs_a_safety_adapter(tmp_path, base):
    rows, _, safe = tiny.toy_sets(seed=0)
    with pytest.raises(ConfigError, match="needs --safety-adapter"):
        select(tmp_path, base, rows, safe, "none", score="visit-gap+refusal", **LORA)
