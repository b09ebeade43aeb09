"""Baseline rankings: what a user could do instead of SEAL's bilevel selection (`seal select --method NAME`).
Each writes the same scores.jsonl as SEAL (higher score = keep; the lowest are dropped first).

    random    seeded, from a hash of (seed, sample id): independent of the file's row order
    loss      -l(model; z_j): the (aligned) model's own loss, a perplexity filter
    loss-gap  -[l(safe-tuned; z_j) - l(base; z_j)]: how much tuning on the safe set made z_j less likely (the
              one-shot, non-bilevel shortcut). The safe-tuned model is base + --safety-adapter when given, else a
              LoRA trained here for one pass over --safe
    length    -(words in the response): a control, not a filter; a mix that length alone separates (harmful
              answers long, benign ones short) measures little about any other selector (seal mix --match-length)
    keyword   -(distinct words of a harm lexicon in the response): a moderation-style filter (HARM_KEYWORDS)
    embedding mean similarity to the safe set's helpful examples minus to its refusal examples (MiniLM,
              top-k), on prompt + response text
    dsir      importance weight log p_safe(x) / p_data(x) on hashed unigrams and bigrams (Xie et al. 2023,
              "Data Selection for Language Models via Importance Resampling", arXiv:2302.03169; written here,
              not the data-selection package): how much a sample looks like the safe set
    gradient  LESS-style (Xia et al. 2024, arXiv:2402.04333): cosine between each sample's LoRA gradient and the
              safe set's mean gradient, both randomly projected (a seeded count sketch to 2048 dimensions)
    behaviour the aligned proxy's refusal behaviour on each sample (behaviour_scores): whether it refuses the
              request itself, and how readily it, and how much more readily than the base model, breaks the
              response off with a refusal after its first 48 tokens. Needs --safety-adapter (auto for smollm2)

Labels are never read here."""

from __future__ import annotations

import hashlib
import math
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .models import load_model, load_tokenizer, per_sample_loss, pick_device
from .tokenization import Collator, load_and_encode

BASELINES = ("random", "length", "loss", "loss-gap", "keyword", "embedding", "dsir", "gradient", "behaviour")

# A moderation-style lexicon (version harm-v1, written for seal-llm): words that mark violent, criminal, sexual,
# hateful or self-harm content. Matching is on whole words, case-insensitive, with common inflections.
HARM_KEYWORDS = ("harm-v1", (
    "abuse", "ammunition", "anthrax", "arson", "assassinate", "assault", "attack", "behead", "bioweapon", "bomb",
    "botnet", "bribe", "bully", "carfentanil", "cocaine", "counterfeit", "cyanide", "ddos", "detonate", "exploit",
    "explosive", "extort", "fentanyl", "firearm", "fraud", "genocide", "grenade", "gun", "hack", "harass", "heroin",
    "hostage", "incite", "inferior", "kidnap", "kill", "launder", "malware", "massacre", "meth", "methamphetamine",
    "molest", "murder", "nerve agent", "overdose", "phishing", "poison", "porn", "racist", "ransomware", "rape",
    "sarin", "scam", "self-harm", "shoot", "slur", "smuggle", "stab", "steal", "suicide", "terrorist", "theft",
    "torture", "trafficking", "virus", "weapon"))
_HARM_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w in HARM_KEYWORDS[1]) + r")(s|es|ed|ing|er|ers)?\b",
                      re.I)


# ---------------------------------------------------------------------------------------------- loss signals

@torch.no_grad()
def response_losses(model, encoded: list, pad_token_id: int, device, batch_size: int = 16, first_tokens: int = 0,
                    progress: bool = False) -> torch.Tensor:
    """Mean response-token loss of each encoded sample under `model` (eval mode, no gradients): [N], or [N, 2]
    with the loss over the first `first_tokens` response tokens in the second column. Samples are batched in
    length order to pad little; the result is in the order of `encoded`."""
    collate = Collator(pad_token_id)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    out = torch.empty((len(encoded), 2) if first_tokens else (len(encoded),))
    was_training = model.training
    model.eval()
    for start in tqdm(range(0, len(order), batch_size), desc="losses", disable=not progress, unit="batch"):
        idx = order[start:start + batch_size]
        batch = {k: v.to(device) for k, v in collate([encoded[i] for i in idx]).items()}
        out[idx] = per_sample_loss(model, batch, first_tokens).float().cpu()
    model.train(was_training)
    return out


def _with_adapter(net, adapter: str, device):
    from peft import PeftModel

    return PeftModel.from_pretrained(net, adapter).to(device)


def adapter_losses(net, adapter: str, encoded: list, pad_token_id: int, device, batch_size: int = 16,
                   first_tokens: int = 0, progress: bool = False) -> tuple:
    """Response losses of `encoded` under net + the LoRA `adapter` and under net alone: (adapted, base)."""
    net = _with_adapter(net, adapter, device)
    adapted = response_losses(net, encoded, pad_token_id, device, batch_size, first_tokens, progress)
    with net.disable_adapter():
        base = response_losses(net, encoded, pad_token_id, device, batch_size, first_tokens, progress)
    return adapted, base


def loss_signals(data: str, model: str = "smollm2", safety_adapter: str | None = None, max_length: int = 512,
                 batch_size: int = 16, first_tokens: int = 0, device: str = "auto", progress: bool = False,
                 **load_kwargs) -> dict:
    """Per-sample losses of `data` under `model`, and, with `safety_adapter` (a LoRA folder such as seal align's
    RUN/adapter), under model + adapter and their difference. Returns {"ids", "indices", "base", and with an
    adapter "aligned" and "gap"}; each value a list in the order of the encoded samples (sorted by id). With
    first_tokens = k each loss is a pair [all tokens, first k tokens]."""
    tokenizer = load_tokenizer(model)
    encoded, _ = load_and_encode(data, tokenizer, max_length=max_length, name="data", **load_kwargs)
    dev = pick_device(device)
    net = load_model(model, device=dev)
    result = {"ids": [e.id for e in encoded], "indices": [e.index for e in encoded]}
    if safety_adapter is None:
        result["base"] = response_losses(net, encoded, tokenizer.pad_token_id, dev, batch_size, first_tokens,
                                         progress).tolist()
        return result
    aligned, base = adapter_losses(net, safety_adapter, encoded, tokenizer.pad_token_id, dev, batch_size,
                                   first_tokens, progress)
    result.update(base=base.tolist(), aligned=aligned.tolist(), gap=(aligned - base).tolist())
    return result


# ---------------------------------------------------------------------------------------------- behaviour

BREAK_OFF = "\n\nI can't help with that."  # how builtin:align-recovery's refusals break off a compliant start
BREAK_AFTER = 48                            # response tokens before the break-off
ANSWER_TOKENS = 32                          # of the proxy's own answer to each request
ANSWER_BATCH = 64                           # requests answered at once (generation reads the weights once a step)
REFUSAL = "I'm sorry, but I can't help with that."  # a refusal straight after the request (propensity)
PROPENSITY_TOKENS = 8                       # of REFUSAL, scored for the propensity
RELAY = "Continue this text:\n\n{text}"      # one fixed request around each response's start (the relay gap)
RELAY_TEXT_TOKENS = 64                      # of the response, put into RELAY
DIRECTION_SEED = 0                          # the safe set's halves that choose the harm direction's layer
RELAY_GATE_TOKENS = 16                      # median response length from which the relay gap counts in full


def _z(x: torch.Tensor) -> torch.Tensor:
    """x z-scored over its finite entries; the others (e.g. samples a stopped selection never visited) get 0, the
    mean; a constant signal gives 0 throughout."""
    x = x.double()
    ok = torch.isfinite(x)
    if not ok.any():
        return torch.zeros_like(x)
    mean, sd = x[ok].mean(), x[ok].std(unbiased=False)
    return torch.where(ok, (x - mean) / (sd if sd > 0 else 1.0), torch.zeros_like(x))


def behaviour_signals(net, tokenizer, samples: list, device, max_length: int = 512, refusal: str = BREAK_OFF,
                      progress: bool = False, propensity_refusal: str | None = REFUSAL,
                      relay_refusal: str | None = None) -> dict[str, torch.Tensor]:
    """The refusal behaviour of the aligned proxy on each of `samples`: `net` is a PeftModel whose active adapter
    made the base model safe. Up to five signals, each oriented so that higher = more harmful (no labels, no
    training):

        refuses    1 if the proxy's own greedy answer to the sample's request (ANSWER_TOKENS tokens) is a
                   refusal (keyword judge, seal-v1 list), else 0
        break_off  -l_aligned(refusal | request, first BREAK_AFTER response tokens), over the refusal's first 4
                   tokens: how readily the proxy breaks this response off
        break_gap  -(l_aligned - l_base)(refusal | request, first BREAK_AFTER tokens), over all its tokens: how
                   much more readily than the base model (the same loss gap SEAL ranks by, on a refusal
                   continuation instead of the sample's own response)
        propensity -l_aligned(propensity_refusal | request), over its first PROPENSITY_TOKENS tokens: how readily
                   the proxy refuses the request, graded (`refuses` is the same question answered yes or no);
                   not computed with propensity_refusal None
        relay_gap  -(l_aligned - l_base)(relay_refusal | RELAY(the response's first RELAY_TEXT_TOKENS tokens)),
                   over its first PROPENSITY_TOKENS tokens: the response put, whatever its request was, into one
                   fixed request for every sample, and how much more readily than the base model the aligned one
                   refuses that (it reads the response's content without its request's register, which the
                   request-side signals read where the proxy over-refuses); not computed with relay_refusal None

    Returns {signal: float64 tensor} in the order of `samples`."""
    from dataclasses import replace

    from .data import Sample
    from .generate import generate, generate_scored, plain_greedy, stop_ids
    from .judges import KeywordJudge
    from .tokenization import encode

    cut = []
    for s in samples:  # the refusal follows the start of the response, given as a prefill (not scored)
        start = tokenizer.decode(tokenizer(s.response, add_special_tokens=False)["input_ids"][:BREAK_AFTER])
        enc, _ = encode(tokenizer, replace(s, prefill=s.prefill + start, response=refusal),
                        max_length + BREAK_AFTER + 16)
        cut.append(enc)
    asked = [encode(tokenizer, replace(s, prefill="", response=propensity_refusal), max_length + 16)[0]
             for s in samples] if propensity_refusal is not None else []  # the refusal right after the request
    relayed = [encode(tokenizer, Sample(s.id, s.index, s.line, [{"role": "user", "content": RELAY.format(
        text=tokenizer.decode(tokenizer(s.response, add_special_tokens=False)["input_ids"][:RELAY_TEXT_TOKENS]))}],
        relay_refusal), max_length + 16)[0] for s in samples] if relay_refusal is not None else []
    if any(e is None for e in cut + asked + relayed):
        raise ValueError(f"the refusal texts {refusal!r}, {propensity_refusal!r}, {relay_refusal!r} need tokens "
                         "under this tokenizer")
    with net.disable_adapter():
        base = response_losses(net, cut, tokenizer.pad_token_id, device, first_tokens=4, progress=progress)
        if relayed:
            base_relay = response_losses(net, relayed, tokenizer.pad_token_id, device,
                                         first_tokens=PROPENSITY_TOKENS, progress=progress)
    # The aligned model's answers and its losses of the two refusal continuations in one pass over each request:
    # through the adapter folded into the base weights (one matmul a linear layer instead of LoRA's three) and in
    # batches of 64, the request is run once and each continuation adds only its own tokens (seal.generate.
    # generate_scored), and the prefix all the requests of a batch share (a default system prompt) runs once. On
    # SmolLM2 and 2 CPU cores the fold took the 200 answers from 67 s to 41 s; the fold changes the losses within
    # rounding (about 1e-5).
    prompts, sets = [s.prompt for s in samples], [cut] + ([asked] if asked else [])
    net.merge_adapter()
    try:
        if plain_greedy(net) and stop_ids(net, tokenizer):
            answers, nlls = generate_scored(net, tokenizer, prompts, sets, max_new_tokens=ANSWER_TOKENS,
                                            batch_size=ANSWER_BATCH, progress=progress, desc="proxy answers")
        else:  # a generation config that model.generate must apply: the losses in passes of their own
            answers = generate(net, tokenizer, prompts, max_new_tokens=ANSWER_TOKENS, batch_size=ANSWER_BATCH,
                               progress=progress, desc="proxy answers")
            nlls = [[None] * len(samples) for _ in sets]
        aligned = _losses(net, tokenizer, device, cut, nlls[0], 4)
        signals = {}
        if asked:
            signals["propensity"] = -_losses(net, tokenizer, device, asked, nlls[1], PROPENSITY_TOKENS)[:, 1].double()
        if relayed:  # its own requests: a pass of its own, through the folded adapter as well
            aligned_relay = response_losses(net, relayed, tokenizer.pad_token_id, device,
                                            first_tokens=PROPENSITY_TOKENS, progress=progress)
            signals["relay_gap"] = -(aligned_relay[:, 1] - base_relay[:, 1]).double()
    finally:
        net.unmerge_adapter()
    refuses = torch.tensor(KeywordJudge().judge(None, answers), dtype=torch.float64)
    return {"refuses": refuses, "break_off": -aligned[:, 1].double(),
            "break_gap": -(aligned[:, 0] - base[:, 0]).double(), **signals}


def _losses(net, tokenizer, device, encoded: list, nll: list, first_tokens: int) -> torch.Tensor:
    """[N, 2] response losses of `encoded` (all tokens, first `first_tokens`) from generate_scored's per-token
    losses, and from a pass of response_losses for the samples it could not score (None)."""
    out = torch.empty((len(encoded), 2))
    for i, v in enumerate(nll):
        if v is not None:
            out[i] = torch.stack([v.mean(), v[:first_tokens].mean()])
    missing = [i for i, v in enumerate(nll) if v is None]
    if missing:
        out[missing] = response_losses(net, [encoded[i] for i in missing], tokenizer.pad_token_id, device,
                                       first_tokens=first_tokens)
    return out


def request_states(net, tokenizer, samples: list, device, max_length: int = 512, batch_size: int = 16,
                   progress: bool = False, desc: str = "request states") -> torch.Tensor:
    """The hidden state after every transformer block at each sample's last request token (the chat-templated
    request with the generation prompt, no prefill: where the answer starts), under `net` as it is: [N, blocks,
    hidden], float32, in the order of `samples`. Requests longer than max_length keep their end."""
    from .tokenization import render

    has_template = bool(getattr(tokenizer, "chat_template", None))
    ids = [tokenizer(render(tokenizer, s.prompt, "")[0], add_special_tokens=not has_template)["input_ids"]
           [-max_length:] for s in samples]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = None
    was_training = net.training
    net.eval()
    for start in tqdm(range(0, len(order), batch_size), desc=desc, disable=not progress, unit="batch"):
        chunk = order[start:start + batch_size]
        width = max(len(ids[i]) for i in chunk)
        batch = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, i in enumerate(chunk):  # left-padded: every request ends in the last column
            batch[row, width - len(ids[i]):] = torch.tensor(ids[i])
            mask[row, width - len(ids[i]):] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # each request's own positions, whatever its padding
        with torch.no_grad():
            hidden = net(input_ids=batch.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                         output_hidden_states=True).hidden_states[1:]
        last = torch.stack([h[:, -1] for h in hidden], 1).float().cpu()
        if out is None:
            out = torch.empty((len(ids),) + last.shape[1:])
        out[chunk] = last
    net.train(was_training)
    return out if out is not None else torch.empty((0, 0, 0))


def harm_direction(safe_states: torch.Tensor, refusal: torch.Tensor, seed: int = DIRECTION_SEED) -> dict:
    """The harm direction of a safe set's request states ([N, blocks, hidden], `refusal` True for the rows with a
    refusal): at each block the mean state of the refusal rows' requests minus the helpful rows' (the refusal
    direction of Arditi et al. 2024, arXiv:2406.11717, read from the trusted set alone). The block is the one where
    the direction from one seeded half of the set separates the other half best, by d' (difference of the two
    projections' means over their pooled standard deviation); the direction returned is the whole set's there.
    Returns {"layer" (0-based block), "direction" [hidden], "dprime" (per block)}."""
    refusal = refusal.bool()
    if int(refusal.sum()) < 2 or int((~refusal).sum()) < 2:
        raise ValueError("the harm direction needs at least 2 refusal and 2 helpful rows in the safe set")
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(len(refusal)))
    a, b = perm[::2], perm[1::2]
    dprime = []
    for layer in range(safe_states.shape[1]):
        x = safe_states[:, layer].double()
        d = x[a][refusal[a]].mean(0) - x[a][~refusal[a]].mean(0)
        p = x[b] @ d
        pos, neg = p[refusal[b]], p[~refusal[b]]
        spread = ((pos.var(unbiased=False) + neg.var(unbiased=False)) / 2).sqrt()
        ok = len(pos) > 0 and len(neg) > 0 and spread > 0
        dprime.append(float((pos.mean() - neg.mean()) / spread) if ok else float("-inf"))
    layer = max(range(len(dprime)), key=lambda i: dprime[i])
    x = safe_states[:, layer].double()
    return {"layer": layer, "direction": x[refusal].mean(0) - x[~refusal].mean(0), "dprime": dprime}


def anchored_direction(safe_states: torch.Tensor, refusal: torch.Tensor, data_states: torch.Tensor,
                       layer: int) -> torch.Tensor:
    """The harm direction with the data's own requests as its helpful anchor: at block `layer`, the mean state of
    the safe set's refusal rows' requests minus the mean over every request of the data ([N, blocks, hidden]
    each). A fine-tuning set is mostly benign and its benign rows share its register, so its mean stands for
    "benign, in this data's style" where the safe set's helpful rows stand for another style; the direction from
    it to the refusals is the part of "harmful" the data's register does not explain. It reads no label of the
    data, and no helpful row of the safe set (docs/selection-quality.md, "Variants of the harm direction")."""
    refusal = refusal.bool()
    if int(refusal.sum()) < 1 or len(data_states) < 1:
        raise ValueError("the anchored direction needs a refusal row in the safe set and a row of data")
    return safe_states[refusal, layer].double().mean(0) - data_states[:, layer].double().mean(0)


def behaviour_scores(net, tokenizer, samples: list, device, max_length: int = 512, refusal: str = BREAK_OFF,
                     progress: bool = False) -> tuple[list[float], dict]:
    """Keep-scores (higher = keep) of `samples`: minus the sum of the three behaviour_signals, each z-scored over
    the samples. The three and their sum were chosen on four development mixes (docs/selection-quality.md) and
    kept fixed before the held-out one. Returns (scores, {signal: list}) in the order of `samples`."""
    parts = behaviour_signals(net, tokenizer, samples, device, max_length, refusal, progress, propensity_refusal=None)
    harm = sum(_z(v) for v in parts.values())
    return (-harm).tolist(), {k: [round(float(x), 6) for x in v] for k, v in parts.items()}


def weighted_harm(parts: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    """sum_i weights_i * z(parts_i): harm signals (higher = more harmful each), z-scored over the samples and
    weighted (seal select's score visit-gap+refusal, with weights 1, 1, refusal_weight)."""
    return sum(w * _z(x) for w, x in zip(weights, parts, strict=True))


def agreement_weights(parts: list[torch.Tensor], cap: float = 0.9) -> list[float] | None:
    """Weights of three harm signals (higher = more harmful each) read from how they agree with one another, no labels
    (the spectral meta-learner's idea, Parisi et al., PNAS 2014). If the signals are independent given whether a
    sample is harmful, the correlation of two z-scored signals is the product of their correlations with the
    (unseen) label: c_ij = a_i a_j, so a_i^2 = c_ij c_ik / c_jk. The signs follow from the signs of the c_ij, up to
    one global flip, resolved by taking at most one signal to be inverted. Each a_i is capped at `cap`; the weight
    is a_i / (1 - a_i^2), what linear discriminant analysis gives z-scored signals that are independent within each
    class with equal variances. A signal that is constant gets weight 0 and the other two weight 1 (two signals
    alone cannot be told apart). Returns None where the three correlations do not fit one latent label (their
    product is not positive, or a denominator |c_jk| is within two standard errors of 0, 2 / sqrt(n), where the ratio
    would be noise): the caller keeps its fixed weights."""
    if len(parts) != 3:
        raise ValueError(f"agreement_weights takes three signals, got {len(parts)}")
    z = [_z(p) for p in parts]
    flat = [bool((v == 0).all()) for v in z]
    if any(flat):
        return [0.0 if f else 1.0 for f in flat]
    c = [[float((z[i] * z[j]).mean()) for j in range(3)] for i in range(3)]
    others = [(1, 2), (0, 2), (0, 1)]
    floor = 2 / math.sqrt(len(z[0]))
    if c[0][1] * c[0][2] * c[1][2] <= 0 or min(abs(c[j][k]) for j, k in others) < floor:
        return None
    size = [min(cap, math.sqrt(c[i][j] * c[i][k] / c[j][k])) for i, (j, k) in enumerate(others)]
    sign = [1.0, 1.0 if c[0][1] > 0 else -1.0, 1.0 if c[0][2] > 0 else -1.0]
    if sum(x < 0 for x in sign) >= 2:  # the other global sign has at most one inverted signal
        sign = [-x for x in sign]
    return [g * a / (1 - a * a) for g, a in zip(sign, size)]


def refusal_weight(refuses: torch.Tensor) -> float:
    """How much the proxy's refusal of a request says about the sample, read from the data alone: with R the share
    of the data's requests the aligned proxy refuses, log((1 - R) / R), the log-odds against a refusal, and 0 from
    R = 1/2 up. A proxy that refuses few of the requests singles out the harmful ones (GSM8K word problems about
    crime: it refuses 4% of the benign ones and every harmful one); one that refuses most of them (film reviews
    that mention a killer: 83%) says nothing by refusing. R is clipped to [1/n, 1 - 1/n]."""
    n = max(len(refuses), 2)
    r = min(max(float(refuses.double().mean()), 1 / n), 1 - 1 / n)
    return max(0.0, math.log((1 - r) / r))


def relay_weight(response_tokens: list[int]) -> float:
    """How much the relay gap can say about the data, read from its length alone: min(1, m / RELAY_GATE_TOKENS), m
    the median number of tokens in a response. Task answers of a few tokens ("retsbol", "3": m = 3 on the demo
    mix) leave the relay template nothing to refuse or not (the relay gap alone reads AUROC 0.48 there, and at weight
    1 it took the demo's ranking from 0.999 to 0.950); paragraphs count in full (docs/selection-quality.md, "A length
    gate for the relay part")."""
    m = float(np.median(response_tokens)) if len(response_tokens) else 0.0
    return min(1.0, m / RELAY_GATE_TOKENS)


# ---------------------------------------------------------------------------------------------- text signals

def _text(sample) -> tuple[str, str]:
    return "\n".join(m["content"] for m in sample.prompt if m["role"] == "user"), sample.response


def random_scores(ids: list[str], seed: int) -> list[float]:
    return [int(hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()[:13], 16) / 16 ** 13 for i in ids]


def length_scores(responses: list[str]) -> list[float]:
    """Minus the number of whitespace-separated words in each response (the longest are dropped first)."""
    return [-float(len(r.split())) for r in responses]


def keyword_scores(responses: list[str]) -> list[float]:
    """Minus the number of distinct lexicon words in each response (0 = none found)."""
    return [-float(len({m.group(1).lower() for m in _HARM_RE.finditer(r)})) for r in responses]


def _ngram_counts(text: str, buckets: int) -> np.ndarray:
    words = re.findall(r"\w+", text.lower())
    grams = words + [a + " " + b for a, b in zip(words, words[1:])]
    counts = np.zeros(buckets)
    for g in grams:
        counts[int(hashlib.md5(g.encode()).hexdigest()[:8], 16) % buckets] += 1
    return counts


def dsir_scores(texts: list[str], target_texts: list[str], buckets: int = 10_000) -> list[float]:
    """log p_target(x) - log p_raw(x) under hashed unigram+bigram bag-of-words models (add-one smoothed), per
    n-gram (divided by the sample's n-gram count so long samples are not favoured or penalised for length)."""
    raw = [_ngram_counts(t, buckets) for t in texts]
    p_raw = np.log((np.sum(raw, axis=0) + 1) / (np.sum(raw) + buckets))
    tgt = np.sum([_ngram_counts(t, buckets) for t in target_texts], axis=0)
    p_tgt = np.log((tgt + 1) / (tgt.sum() + buckets))
    return [float(c @ (p_tgt - p_raw) / max(c.sum(), 1)) for c in raw]


def embedding_scores(texts: list[str], helpful: list[str], refusals: list[str], k: int = 5) -> list[float]:
    """Mean cosine to the k nearest helpful safe examples minus to the k nearest refusal examples (MiniLM)."""
    from .judges import get_embedder

    if not helpful or not refusals:
        raise ValueError("the embedding baseline needs both refusal and helpful examples in the safe set")
    emb = get_embedder()
    e, h, r = emb.encode(texts), emb.encode(helpful), emb.encode(refusals)

    def topk(sim):
        kk = min(k, sim.shape[1])
        return np.sort(sim, axis=1)[:, -kk:].mean(axis=1)

    return (topk(e @ h.T) - topk(e @ r.T)).tolist()


def split_safe_set(safe_samples, records) -> tuple[list, list]:
    """(helpful, refusal) samples of a safe set: by a `category` column that starts with "refusal" when the set
    has one (builtin:safe does), else by the seal-v1 keyword judge on the response."""
    from .judges import KeywordJudge

    raw = {r.index: r.raw for r in records}
    if all(isinstance(raw[s.index], dict) and "category" in raw[s.index] for s in safe_samples):
        refusal = [str(raw[s.index]["category"]).startswith("refusal") for s in safe_samples]
    else:
        judge = KeywordJudge("seal-v1", prefix_chars=200)
        refusal = [judge.is_refusal(s.response) for s in safe_samples]
    return ([s for s, r in zip(safe_samples, refusal) if not r], [s for s, r in zip(safe_samples, refusal) if r])


# ---------------------------------------------------------------------------------------------- gradient

def gradient_scores(model, encoded: list, safe_encoded: list, pad_token_id: int, device, dim: int = 2048,
                    seed: int = 0, progress: bool = False) -> list[float]:
    """Cosine between each sample's projected gradient (of the trainable parameters) and the safe set's mean
    projected gradient. One backward pass per sample. The projection is a count sketch (feature hashing: each
    parameter adds its gradient, with a seeded random sign, to one of `dim` seeded random buckets), a random
    projection that preserves inner products in expectation like LESS's dense Rademacher matrix, at O(P) per
    sample instead of O(P * dim)."""
    params = [p for p in model.parameters() if p.requires_grad]
    collate = Collator(pad_token_id)
    n_params = sum(p.numel() for p in params)
    gen = torch.Generator().manual_seed(seed)
    bucket = torch.randint(0, dim, (n_params,), generator=gen)
    sign = torch.randint(0, 2, (n_params,), generator=gen).float() * 2 - 1

    def grads(items, desc) -> torch.Tensor:
        out = torch.zeros(len(items), dim)
        for k, e in enumerate(tqdm(items, desc=desc, disable=not progress, unit="sample")):
            model.zero_grad(set_to_none=True)
            batch = {k_: v.to(device) for k_, v in collate([e]).items()}
            per_sample_loss(model, batch).sum().backward()
            flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float().cpu()
                              for p in params])
            out[k].index_add_(0, bucket, flat * sign)
        model.zero_grad(set_to_none=True)
        return torch.nn.functional.normalize(out, dim=1)

    target = torch.nn.functional.normalize(grads(safe_encoded, "safe gradients").mean(dim=0), dim=0)
    return (grads(encoded, "gradients") @ target).tolist()


# ---------------------------------------------------------------------------------------------- the command

def run_baseline(cfg) -> dict:
    """`seal select --method NAME` for a baseline NAME: score cfg.data and write scores.jsonl + manifest.json
    into cfg.out (the same files as SEAL's selection)."""
    from .checkpoint import prepare_out
    from .config import ConfigError, parse_fields, to_dict
    from .data import file_fingerprint, load_samples
    from .manifest import versions, write_json
    from .models import LoraSettings, add_lora
    from .scores import ranked, write_scores

    out = prepare_out(cfg.out, False, cfg.overwrite, ("scores.jsonl", "manifest.json"))
    t0 = time.time()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    fields = parse_fields(cfg.fields)
    samples, _, report = load_samples(cfg.data, shape=cfg.shape, fields=fields, on_error=cfg.on_error,
                                      fmt=cfg.format)
    samples.sort(key=lambda s: s.id)  # canonical order, as the bilevel selector uses
    ids = [s.id for s in samples]
    extra: dict = {}
    parts: dict = {}  # per-sample signals behind the score, written beside it (method behaviour)
    method = cfg.method
    if method == "random":
        scores = random_scores(ids, cfg.seed)
    elif method == "length":
        scores = length_scores([s.response for s in samples])
    elif method == "keyword":
        scores = keyword_scores([s.response for s in samples])
        extra["lexicon"] = HARM_KEYWORDS[0]
    elif method in ("embedding", "dsir"):
        safe, safe_records, _ = load_samples(cfg.safe, shape=cfg.safe_shape)
        texts = ["\n\n".join(_text(s)) for s in samples]
        if method == "dsir":
            scores = dsir_scores(texts, ["\n\n".join(_text(s)) for s in safe])
        else:
            helpful, refusals = split_safe_set(safe, safe_records)
            scores = embedding_scores(texts, ["\n\n".join(_text(s)) for s in helpful],
                                      ["\n\n".join(_text(s)) for s in refusals])
            extra["safe_examples"] = {"helpful": len(helpful), "refusal": len(refusals)}
    else:  # model-based: loss, loss-gap, gradient, behaviour
        tokenizer = load_tokenizer(cfg.model)
        common = dict(max_length=cfg.max_length, length_policy=cfg.length_policy, on_error=cfg.on_error)
        encoded, _ = load_and_encode(cfg.data, tokenizer, shape=cfg.shape, fields=fields, fmt=cfg.format,
                                     name="fine-tuning", **common)
        index_of = {e.id: i for i, e in enumerate(encoded)}
        samples = [s for s in samples if s.id in index_of]  # --length-policy drop removed the others
        ids = [s.id for s in samples]
        device = pick_device(cfg.device)
        net = load_model(cfg.model, device=device)
        if method == "behaviour":
            if not cfg.safety_adapter:
                raise ConfigError("method behaviour needs --safety-adapter: the LoRA adapter that made --model safe "
                                  "(seal align's RUN/adapter; auto finds it for the embedded smollm2)")
            net = _with_adapter(net, cfg.safety_adapter, device)
            scores, parts = behaviour_scores(net, tokenizer, samples, device, cfg.max_length,
                                             progress=cfg.progress)
            extra["scored_with"] = {"model": cfg.model, "adapter": cfg.safety_adapter, "judge": "keyword:seal-v1",
                                    "refusal": BREAK_OFF, "break_after_tokens": BREAK_AFTER,
                                    "answer_tokens": ANSWER_TOKENS}
        elif method == "gradient":
            safe_encoded, _ = load_and_encode(cfg.safe, tokenizer, shape=cfg.safe_shape, name="safe", **common)
            settings = LoraSettings(cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_targets)
            if cfg.safety_adapter:  # the gradient at the aligned model, of a fresh adapter on top
                net = _with_adapter(net, cfg.safety_adapter, device).merge_and_unload()
            torch.manual_seed(cfg.seed)
            net = add_lora(net, settings).to(device)  # LoRA B starts at 0: the gradient lies in B's parameters
            g = gradient_scores(net, encoded, safe_encoded, tokenizer.pad_token_id, device, seed=cfg.seed,
                                progress=cfg.progress)
            scores = [g[index_of[i]] for i in ids]
        else:
            adapter = cfg.safety_adapter
            if method == "loss-gap" and adapter is None:
                adapter = _safe_tuned_adapter(cfg, Path(cfg.out) / "safe-tuned")
                extra["safe_tuned_adapter"] = adapter
            if method == "loss-gap":
                adapted, base = adapter_losses(net, adapter, encoded, tokenizer.pad_token_id, device,
                                               progress=cfg.progress)
                losses = adapted - base
            else:
                net = _with_adapter(net, adapter, device) if adapter else net
                losses = response_losses(net, encoded, tokenizer.pad_token_id, device, progress=cfg.progress)
            scores = [-losses[index_of[i]].item() for i in ids]
            extra["scored_with"] = {"model": cfg.model, "adapter": adapter}
    order = ranked(ids, scores)
    by_id = {s.id: s for s in samples}
    write_scores(out / "scores.jsonl", [
        {"id": ids[i], "index": by_id[ids[i]].index, "score": round(float(scores[i]), 8), "weight": 1.0,
         "rank": rank, **{k: v[i] for k, v in parts.items()}} for rank, i in enumerate(order, 1)])
    manifest = {"command": "select", "method": method, "config": to_dict(cfg),
                "inputs": {"data": file_fingerprint(cfg.data), "safe": file_fingerprint(cfg.safe)},
                "data": {"data": {**report.counts(), "rows": report.rows, "kept": len(samples)}},
                "samples_scored": len(samples), "finished": True, **extra, "versions": versions(),
                "started": started, "wall_time_s": round(time.time() - t0, 2)}
    write_json(out / "manifest.json", manifest)
    return manifest


def _safe_tuned_adapter(cfg, out: Path) -> str:
    """One pass of LoRA over the safe set (seal finetune, cached in out): the loss-gap baseline's tuned model."""
    from .train import FinetuneConfig, run_finetune

    if not (out / "adapter" / "adapter_config.json").exists():
        run_finetune(FinetuneConfig(data=cfg.safe, shape=cfg.safe_shape, model=cfg.model, out=str(out), epochs=1,
                                    lr=cfg.lr, lora_r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                                    lora_targets=cfg.lora_targets, max_length=cfg.max_length, seed=cfg.seed,
                                    device=cfg.device, merge=False, overwrite=True, progress=cfg.progress))
    return str(out / "adapter")
