"""Batched greedy generation with the same chat format as training (left padding, progress bar).

Each batch is decoded by `greedy`, a plain loop over transformers' KV cache that drops a row from the batch as soon
as it has produced a stop token, so the rest of the batch no longer pays for it: in a batch of 64 answers where most
end after a few tokens (a refusal, a number) and a few run to the limit, the last steps run on those few rows only.
`model.generate` runs the whole batch until its longest answer is done. Both give the same tokens for a greedy
decoder (tests/test_evaluate.py); a model whose generation config changes the greedy choice (a repetition penalty,
banned words, a minimum length ...) or whose cache cannot drop rows is handed to `model.generate` instead."""

from __future__ import annotations

import torch
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


@torch.no_grad()
def greedy(model, ids: torch.Tensor, mask: torch.Tensor, max_new_tokens: int, stop: list[int]) -> list[list[int]]:
    """Greedy continuations of the left-padded batch `ids` (attention `mask`): for each row the new tokens, up to
    and including the first stop token, at most max_new_tokens. A row that has stopped leaves the batch (its rows of
    the KV cache are dropped); the loop ends when every row has stopped or reached the limit."""
    n = ids.shape[0]
    out: list[list[int]] = [[] for _ in range(n)]
    if max_new_tokens <= 0 or n == 0:
        return out
    stop_t = torch.tensor(stop, dtype=torch.long, device=ids.device)
    position = (mask.long().cumsum(-1) - 1).clamp(min=0)  # positions of the tokens, counted from each prompt's start
    res = model(input_ids=ids, attention_mask=mask, position_ids=position, use_cache=True, logits_to_keep=1)
    # the KV cache is `cache` in recent transformers, `past_key_values` before (as output field and argument)
    cache_key = "cache" if "cache" in getattr(type(res), "__dataclass_fields__", {}) else "past_key_values"
    cache, rows, last = getattr(res, cache_key), torch.arange(n), position[:, -1]
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


def generate(model, tokenizer, prompts: list[list[dict]], max_new_tokens: int = 64, batch_size: int = 64,
             progress: bool = True, desc: str = "generate", prefills: list[str] | None = None) -> list[str]:
    """Greedy completions of chat prompts (lists of messages), each continuing its prefill (the start of the
    assistant turn; the completion returned excludes it) where `prefills` is given. Batches are formed from
    prompts of similar length to waste little on padding; results come back in the input order."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    prefills = prefills if prefills is not None else [""] * len(prompts)
    if len(prefills) != len(prompts):
        raise ValueError(f"{len(prefills)} prefills for {len(prompts)} prompts")
    texts = [render(tokenizer, p, "", f)[0] for p, f in zip(prompts, prefills, strict=True)]
    encoded = [tokenizer(t, add_special_tokens=not has_template)["input_ids"] for t in texts]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    stop = stop_ids(model, tokenizer)
    fast = plain_greedy(model) and bool(stop)
    out: list[str] = [""] * len(prompts)
    was_training = model.training
    model.eval()
    bar = tqdm(total=len(prompts), desc=desc, disable=not progress, unit="prompt", dynamic_ncols=True)
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            width = max(len(encoded[i]) for i in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):            # left padding: the prompt ends where generation starts
                ids[row, width - len(encoded[i]):] = torch.tensor(encoded[i])
                mask[row, width - len(encoded[i]):] = 1
            if fast:
                new = greedy(model, ids.to(device), mask.to(device), max_new_tokens, stop)
            else:
                with torch.no_grad():
                    gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                         max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad,
                                         eos_token_id=stop)
                new = [gen[row, width:].tolist() for row in range(len(chunk))]
            for row, i in enumerate(chunk):
                out[i] = tokenizer.decode(new[row], skip_special_tokens=True).strip()
            bar.update(len(chunk))
    finally:
        bar.close()
        model.train(was_training)
    return out
