"""Batched greedy generation with the same chat format as training (left padding, progress bar).

Each batch is decoded by `greedy`, a plain loop over transformers' KV cache that drops a row from the batch as soon
as it has produced a stop token, so the rest of the batch no longer pays for it: in a batch of 64 answers where most
end after a few tokens (a refusal, a number) and a few run to the limit, the last steps run on those few rows only.
`model.generate` runs the whole batch until its longest answer is done. Both give the same tokens for a greedy
decoder (tests/test_generate.py); a model whose generation config changes the greedy choice (a repetition penalty,
banned words, a minimum length ...) is handed to `model.generate` instead.

`generate_scored` also scores given continuations of each prompt (a refusal right after the request, the start of
the sample's response followed by a refusal) from the same prefill: the prompt is run through the model once for
both, and only the continuation's own tokens are added on a copy of the KV cache. The aligned proxy's refusal
signals (seal.baselines.behaviour_signals) read its answers and two such continuations of every request."""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .tokenization import render

# generation_config settings under which the next token is not simply the argmax of the logits: with any of them
# set, generate() leaves decoding to model.generate (their neutral values in the second place)
_NOT_PLAIN = {"repetition_penalty": (None, 1.0), "no_repeat_ngram_size": (None, 0), "bad_words_ids": (None,),
              "min_length": (None, 0), "min_new_tokens": (None, 0), "forced_bos_token_id": (None,),
              "forced_eos_token_id": (None,), "suppress_tokens": (None,), "begin_suppress_tokens": (None,),
              "sequence_bias": (None,), "encoder_repetition_penalty": (None, 1.0),
              "exponential_decay_length_penalty": (None,), "guidance_scale": (None, 1.0),
              "watermarking_config": (None,)}


def stop_ids(model, tokenizer) -> list[int]:
    """Token ids that end a reply: the tokenizer's eos and any the model's generation config adds (e.g. Gemma's
    <end_of_turn>)."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    extra = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for i in extra if isinstance(extra, list) else [extra]:
        if i is not None and i not in ids:
            ids.append(i)
    return ids


def plain_greedy(model) -> bool:
    """Whether greedy decoding of `model` is the argmax of its logits at every step (what `greedy` does): a decoder-
    only model whose generation config sets none of _NOT_PLAIN."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "is_encoder_decoder", False):
        return False
    gen = getattr(model, "generation_config", None)
    return gen is None or all(getattr(gen, k, None) in neutral for k, neutral in _NOT_PLAIN.items())


def _cache_key(res) -> str:
    # the KV cache is `cache` in recent transformers, `past_key_values` before (as output field and argument)
    return "cache" if "cache" in getattr(type(res), "__dataclass_fields__", {}) else "past_key_values"


def _prefill(model, ids: torch.Tensor, mask: torch.Tensor, shared: int = 0):
    """The left-padded prompts through the model: (output with the last position's logits, the name of its KV cache
    field, each row's last position). With `shared` = p > 0 the first p columns are the same tokens in every row
    (a prefix all the prompts start with, e.g. the chat template's default system prompt; padding follows it) and
    run once, for one row; their KV cache is then repeated for the batch, which runs only the rest. Causal attention
    makes the result the same as running every row whole, to within rounding."""
    position = (mask.long().cumsum(-1) - 1).clamp(min=0)  # positions of the tokens, counted from each prompt's start
    kwargs = {}
    if shared:
        head = model(input_ids=ids[:1, :shared], attention_mask=mask[:1, :shared], position_ids=position[:1, :shared],
                     use_cache=True, logits_to_keep=1)
        cache = getattr(head, _cache_key(head))
        cache.batch_repeat_interleave(ids.shape[0])
        kwargs = {_cache_key(head): cache}
    res = model(input_ids=ids[:, shared:], attention_mask=mask, position_ids=position[:, shared:], use_cache=True,
                logits_to_keep=1, **kwargs)
    return res, _cache_key(res), position[:, -1]


def _window_allows(model, columns: int) -> bool:
    """Whether a batch of `columns` columns may put padding between the shared prefix and the rest: not where a
    sliding-window attention layer (Gemma 3, Mistral ...) counts its window in columns and the batch is longer than
    the window (the padding would take the place of tokens in it)."""
    config = getattr(model, "config", None)
    window = getattr(getattr(config, "text_config", config), "sliding_window", None)
    return window is None or columns <= window


def _shared_prefix(prompts: list[list[int]]) -> int:
    """How many leading tokens every one of `prompts` has in common, leaving each at least its last token of its
    own (the one whose logits start the answer)."""
    first, n = prompts[0], min(len(p) for p in prompts) - 1
    for p in prompts[1:]:
        i = 0
        while i < n and p[i] == first[i]:
            i += 1
        n = i
    return max(n, 0)


def _decode(model, res, cache_key: str, mask: torch.Tensor, last: torch.Tensor, max_new_tokens: int,
            stop: list[int]) -> list[list[int]]:
    """Greedy decoding from a prefill's output; a row leaves the batch (and the KV cache) once it has stopped."""
    n = mask.shape[0]
    out: list[list[int]] = [[] for _ in range(n)]
    stop_t = torch.tensor(stop, dtype=torch.long, device=mask.device)
    cache, rows = getattr(res, cache_key), torch.arange(n)
    for step in range(max_new_tokens):
        token = res.logits[:, -1].argmax(-1)
        for r, t in zip(rows.tolist(), token.tolist()):
            out[r].append(t)
        if step == max_new_tokens - 1:
            break
        going = ~torch.isin(token, stop_t)
        if not going.any():
            break
        if not going.all():  # the stopped rows leave the batch and its cache
            keep = going.nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            rows, mask, last, token = rows[keep.cpu()], mask[keep], last[keep], token[keep]
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
        last = last + 1
        res = model(input_ids=token[:, None], attention_mask=mask, position_ids=last[:, None], use_cache=True,
                    logits_to_keep=1, **{cache_key: cache})
        cache = getattr(res, cache_key)
    return out


@torch.no_grad()
def greedy(model, ids: torch.Tensor, mask: torch.Tensor, max_new_tokens: int, stop: list[int]) -> list[list[int]]:
    """Greedy continuations of the left-padded batch `ids` (attention `mask`): for each row the new tokens, up to
    and including the first stop token, at most max_new_tokens. A row that has stopped leaves the batch (its rows of
    the KV cache are dropped); the loop ends when every row has stopped or reached the limit."""
    if max_new_tokens <= 0 or ids.shape[0] == 0:
        return [[] for _ in range(ids.shape[0])]
    res, cache_key, last = _prefill(model, ids, mask)
    return _decode(model, res, cache_key, mask, last, max_new_tokens, stop)


SCORE_ROWS = 16  # rows a continuation pass takes at once (its logits at the scored positions are held together)


def _continuation_nll(model, res, cache_key: str, mask: torch.Tensor, last: torch.Tensor,
                      continuations: list[tuple[list[int], int] | None]) -> list[torch.Tensor | None]:
    """For each row with a continuation (tokens after the prompt, index of the first scored one), the negative
    log-likelihood of its scored tokens given the prompt and the tokens before them: the first token is read from
    the prefill's logits, the others from a pass of the continuation over a copy of the prompt's KV cache (the
    cache itself is left as it was, for decoding)."""
    out: list[torch.Tensor | None] = [None] * len(continuations)
    have = [r for r, c in enumerate(continuations) if c is not None]
    first_logp = F.log_softmax(res.logits[:, -1].float(), dim=-1)
    for start in range(0, len(have), SCORE_ROWS):
        part = have[start:start + SCORE_ROWS]
        toks = [continuations[r][0] for r in part]
        width = max(len(t) for t in toks) - 1  # the last token is predicted, never fed
        logp_rows: list[torch.Tensor] = [first_logp[r][None] for r in part]  # position 0: the prefill's last
        if width > 0:
            sel = torch.tensor(part, device=mask.device)
            ids = torch.zeros((len(part), width), dtype=torch.long, device=mask.device)
            cmask = torch.zeros((len(part), width), dtype=mask.dtype, device=mask.device)
            keep = torch.zeros((len(part), width), dtype=torch.bool, device=mask.device)
            for j, (r, t) in enumerate(zip(part, toks, strict=True)):
                ids[j, :len(t) - 1] = torch.tensor(t[:-1])
                cmask[j, :len(t) - 1] = 1
                keep[j, max(0, continuations[r][1] - 1):len(t) - 1] = True  # positions predicting scored tokens
            cache = copy.deepcopy(getattr(res, cache_key))
            cache.batch_select_indices(sel)
            position = last[sel, None] + 1 + torch.arange(width, device=mask.device)
            logits = model(input_ids=ids, attention_mask=torch.cat([mask[sel], cmask], dim=1), position_ids=position,
                           use_cache=True, logits_to_keep=keep, **{cache_key: cache}).logits
            logp = F.log_softmax(logits.float(), dim=-1)  # [kept positions, vocab], row-major over (row, position)
            counts = keep.sum(dim=1).tolist()
            for j, chunk in enumerate(torch.split(logp, counts)):
                logp_rows[j] = torch.cat([logp_rows[j], chunk]) if continuations[part[j]][1] == 0 else chunk
        for j, r in enumerate(part):
            t, first = continuations[r]
            target = torch.tensor(t[first:], device=mask.device)
            out[r] = -logp_rows[j].gather(1, target[:, None]).squeeze(1).cpu()
    return out


def generate(model, tokenizer, prompts: list[list[dict]], max_new_tokens: int = 64, batch_size: int = 64,
             progress: bool = True, desc: str = "generate", prefills: list[str] | None = None) -> list[str]:
    """Greedy completions of chat prompts (lists of messages), each continuing its prefill (the start of the
    assistant turn; the completion returned excludes it) where `prefills` is given. Batches are formed from
    prompts of similar length to waste little on padding; results come back in the input order."""
    return _run(model, tokenizer, prompts, max_new_tokens, batch_size, progress, desc, prefills, [])[0]


def generate_scored(model, tokenizer, prompts: list[list[dict]], scored: list[list], max_new_tokens: int = 64,
                    batch_size: int = 64, progress: bool = True, desc: str = "generate"
                    ) -> tuple[list[str], list[list[torch.Tensor | None]]]:
    """generate()'s answers, and for each list in `scored` (one seal.tokenization.Encoded per prompt: the prompt
    followed by a continuation, its loss on the response part) the negative log-likelihood of each encoded
    sample's response tokens, read from the same prefill as the answer (see the module doc). A sample that does
    not start with its prompt's tokens exactly as generation sees them (a prompt that encode() cut from the left,
    a token merged across the prompt's end) gets None: score it the usual way. Model and tokenizer must be a plain
    greedy decoder (plain_greedy) with stop tokens."""
    if not (plain_greedy(model) and stop_ids(model, tokenizer)):
        raise ValueError("generate_scored needs a plain greedy decoder (seal.generate.plain_greedy) with stop tokens")
    return _run(model, tokenizer, prompts, max_new_tokens, batch_size, progress, desc, None, scored)


def _continuation(enc, prompt: list[int]) -> tuple[list[int], int] | None:
    """(tokens of `enc` after `prompt`, index among them of its first response token), or None where `enc` does not
    start with `prompt` or its response starts inside it."""
    tokens = enc.tokens
    n = len(prompt)
    if len(tokens) <= n or enc.n_prompt < n or not np.array_equal(tokens[:n], np.asarray(prompt)):
        return None
    return tokens[n:].tolist(), enc.n_prompt - n


def _run(model, tokenizer, prompts, max_new_tokens, batch_size, progress, desc, prefills, scored):
    has_template = bool(getattr(tokenizer, "chat_template", None))
    prefills = prefills if prefills is not None else [""] * len(prompts)
    if len(prefills) != len(prompts) or any(len(s) != len(prompts) for s in scored):
        raise ValueError(f"{len(prompts)} prompts, but {len(prefills)} prefills and "
                         f"{[len(s) for s in scored]} samples to score")
    texts = [render(tokenizer, p, "", f)[0] for p, f in zip(prompts, prefills, strict=True)]
    encoded = [tokenizer(t, add_special_tokens=not has_template)["input_ids"] for t in texts]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    stop = stop_ids(model, tokenizer)
    fast = plain_greedy(model) and bool(stop)
    out: list[str] = [""] * len(prompts)
    nll: list[list[torch.Tensor | None]] = [[None] * len(prompts) for _ in scored]
    was_training = model.training
    model.eval()
    bar = tqdm(total=len(prompts), desc=desc, disable=not progress, unit="prompt", dynamic_ncols=True)
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            # the prefix every prompt of the batch starts with, run once (fast path), then each prompt's own rest,
            # left-padded: the prompt ends where generation starts
            width = max(len(encoded[i]) for i in chunk)
            longest = width + max([max_new_tokens] + [len(samples[i].tokens) - len(encoded[i]) for samples in scored
                                                       for i in chunk if samples[i] is not None])
            shared = _shared_prefix([encoded[i] for i in chunk]) if fast and _window_allows(model, longest) else 0
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            ids[:, :shared] = torch.tensor(encoded[chunk[0]][:shared])
            mask[:, :shared] = 1
            for row, i in enumerate(chunk):
                ids[row, width - len(encoded[i]) + shared:] = torch.tensor(encoded[i][shared:])
                mask[row, width - len(encoded[i]) + shared:] = 1
            ids, mask = ids.to(device), mask.to(device)
            if fast:
                with torch.no_grad():
                    res, cache_key, last = _prefill(model, ids, mask, shared)
                    for k, samples in enumerate(scored):
                        got = _continuation_nll(model, res, cache_key, mask, last,
                                                [_continuation(samples[i], encoded[i]) for i in chunk])
                        for i, v in zip(chunk, got, strict=True):
                            nll[k][i] = v
                    new = (_decode(model, res, cache_key, mask, last, max_new_tokens, stop) if max_new_tokens > 0
                           else [[] for _ in chunk])
            else:
                with torch.no_grad():
                    gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                                         do_sample=False, pad_token_id=pad, eos_token_id=stop)
                new = [gen[row, width:].tolist() for row in range(len(chunk))]
            for row, i in enumerate(chunk):
                out[i] = tokenizer.decode(new[row], skip_special_tokens=True).strip()
            bar.update(len(chunk))
    finally:
        bar.close()
        model.train(was_training)
    return out, nll
