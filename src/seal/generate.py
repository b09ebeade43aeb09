"""Batched greedy generation with the same chat format as training (left padding, progress bar)."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from .tokenization import render


def stop_ids(model, tokenizer) -> list[int]:
    """Token ids that end a reply: the tokenizer's eos and any the model's generation config adds (e.g. Gemma's
    <end_of_turn>)."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    extra = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for i in extra if isinstance(extra, list) else [extra]:
        if i is not None and i not in ids:
            ids.append(i)
    return ids


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
            with torch.no_grad():
                gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                     max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad,
                                     eos_token_id=stop_ids(model, tokenizer))
            for row, i in enumerate(chunk):
                out[i] = tokenizer.decode(gen[row, width:], skip_special_tokens=True).strip()
            bar.update(len(chunk))
    finally:
        bar.close()
        model.train(was_training)
    return out
