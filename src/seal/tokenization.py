"""Render samples with the tokenizer's chat template and tokenise them with loss on response tokens only.

Chat format
    If the tokenizer has a chat template, the prompt is `apply_chat_template(prompt, add_generation_prompt=True)`
    and the response is whatever the template appends after it for the assistant turn (for ChatML models this is
    the answer followed by `<|im_end|>`), so the end-of-turn token is learnt too.
    Without a chat template, this documented fallback is used (PLAIN_FORMAT):

        [system text + blank line]
        ### User:
        <user turn>

        ### Assistant:
        <assistant turn>            (earlier turns repeat this pattern)

        ### User:
        <last user turn>

        ### Assistant:
        <response><eos>

Length policy (`max_length`, default 512 tokens)
    "truncate" (default): a sample longer than max_length keeps its response, cut from the right to at most
    max_length - min(prompt tokens, max_length // 2) tokens; the prompt is then cut from the LEFT to fill the rest
    (the end of the prompt, next to the answer, is kept). Each truncation is logged in the data report.
    "drop": a sample longer than max_length is dropped and logged with reason "too_long".
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

PLAIN_ROLES = {"user": "### User:", "assistant": "### Assistant:"}
LENGTH_POLICIES = ("truncate", "drop")


@dataclass(eq=False)
class Encoded:
    """A tokenised sample: prompt ids then response ids in one int32 array (4 bytes a token: a million samples of
    512 tokens take 2 GB, against about 18 GB as Python lists); loss is taken on the response ids only."""

    id: str
    index: int
    tokens: np.ndarray   # int32, prompt then response
    n_prompt: int

    @classmethod
    def of(cls, id: str, index: int, prompt_ids, response_ids) -> Encoded:
        return cls(id, index, np.asarray(list(prompt_ids) + list(response_ids), dtype=np.int32), len(prompt_ids))

    @property
    def prompt_ids(self) -> list[int]:
        return self.tokens[:self.n_prompt].tolist()

    @property
    def response_ids(self) -> list[int]:
        return self.tokens[self.n_prompt:].tolist()

    def __len__(self) -> int:
        return len(self.tokens)


def _plain_prompt(messages: list[dict]) -> str:
    parts = []
    for m in messages:
        if m["role"] == "system":
            parts.append(m["content"].strip() + "\n\n")
        else:
            parts.append(f"{PLAIN_ROLES[m['role']]}\n{m['content']}\n\n")
    return "".join(parts) + PLAIN_ROLES["assistant"] + "\n"


def render(tokenizer, prompt: list[dict], response: str, prefill: str = "") -> tuple[str, str]:
    """Return (prompt_text, response_text); their concatenation is the full training text. A prefill (the start
    of the assistant turn, not trained on) ends the prompt text; the assistant turn is prefill + response."""
    if getattr(tokenizer, "chat_template", None):
        prompt_text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True) + prefill
        full = tokenizer.apply_chat_template(
            prompt + [{"role": "assistant", "content": prefill + response}], tokenize=False
        )
        if full.startswith(prompt_text):
            return prompt_text, full[len(prompt_text):]
        # Templates that rewrite earlier turns (e.g. strip reasoning) do not extend the prompt text.
        return prompt_text, response + (tokenizer.eos_token or "")
    return _plain_prompt(prompt) + prefill, response + (tokenizer.eos_token or "")


def encode(tokenizer, sample, max_length: int, length_policy: str = "truncate") -> tuple[Encoded | None, str]:
    """Tokenise one sample. Returns (encoded or None if dropped, note) where note is "" or what was done."""
    if length_policy not in LENGTH_POLICIES:
        raise ValueError(f"length_policy must be one of {LENGTH_POLICIES}, got {length_policy!r}")
    prompt_text, response_text = render(tokenizer, sample.prompt, sample.response, sample.prefill)
    has_template = bool(getattr(tokenizer, "chat_template", None))
    p = tokenizer(prompt_text, add_special_tokens=not has_template)["input_ids"]
    r = tokenizer(response_text, add_special_tokens=False)["input_ids"]
    note = ""
    if len(p) + len(r) > max_length:
        note = f"{len(p)}+{len(r)} tokens > max_length {max_length}"
        if length_policy == "drop":
            return None, note
        r_keep = min(len(r), max_length - min(len(p), max_length // 2))
        p_keep = max_length - r_keep
        p, r = p[len(p) - p_keep:] if p_keep > 0 else [], r[:r_keep]
    if not r:
        return None, "response has no tokens"
    return Encoded.of(sample.id, sample.index, p, r), note


def _encode_each(tokenizer, samples, report, max_length: int, length_policy: str):
    """Tokenise samples one at a time, recording every truncated or dropped one in `report` (a data.DataReport)."""
    for s in samples:
        enc, note = encode(tokenizer, s, max_length, length_policy)
        row = {"index": s.index, "line": s.line, "id": s.id, "detail": note}
        if enc is None:
            report.dropped.append({**row, "reason": "too_long" if "max_length" in note else "no_tokens"})
        else:
            if note:
                report.truncated.append({**row, "reason": "truncated"})
            yield enc


def encode_all(tokenizer, samples, report, max_length: int = 512, length_policy: str = "truncate") -> list[Encoded]:
    """Tokenise samples, recording every truncated or dropped one in `report` (a data.DataReport)."""
    return list(_encode_each(tokenizer, samples, report, max_length, length_policy))


class TokenStore(Sequence):
    """Encoded samples in flat arrays, sorted by id: every token in one int32 array, and per sample its offset,
    prompt length, row index and id (about 4 bytes a token plus 80 bytes a sample, against a Python object per
    sample). Once more than `spill_tokens` tokens have been added, the tokens go to a temporary file that is then
    memory-mapped, so host memory stays bounded however large the data (the operating system pages the tokens in
    as batches read them). Indexing gives an Encoded (its tokens a view); slicing and `+` give lists."""

    SPILL_TOKENS = 1 << 24   # 64 MB of int32 tokens held in memory before spilling to disk

    def __init__(self, spill_tokens: int | None = None, spill_dir: str | None = None):
        self._spill_tokens = self.SPILL_TOKENS if spill_tokens is None else spill_tokens
        self._spill_dir = spill_dir
        self._pending: list[np.ndarray] = []
        self._n_pending = 0
        self._file = None
        self._lengths: list[int] = []
        self._n_prompt: list[int] = []
        self._index: list[int] = []
        self._ids: list[str] = []
        self._tokens: np.ndarray | None = None

    def add(self, enc: Encoded) -> None:
        self._pending.append(enc.tokens)
        self._n_pending += len(enc.tokens)
        self._lengths.append(len(enc.tokens))
        self._n_prompt.append(enc.n_prompt)
        self._index.append(enc.index)
        self._ids.append(enc.id)
        if self._n_pending > self._spill_tokens:
            self._flush()

    def _flush(self) -> None:
        if self._file is None:
            fd, path = tempfile.mkstemp(prefix="seal-tokens-", suffix=".i32", dir=self._spill_dir)
            self._file, self._path = os.fdopen(fd, "wb"), path
        for t in self._pending:
            self._file.write(np.ascontiguousarray(t, dtype=np.int32).tobytes())
        self._pending, self._n_pending = [], 0

    def finish(self) -> TokenStore:
        """Freeze: sort by id and map the spilled tokens (the file is unlinked once mapped)."""
        lengths = np.asarray(self._lengths, dtype=np.int64)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if self._file is not None:
            self._flush()
            self._file.close()
            self._tokens = np.memmap(self._path, dtype=np.int32, mode="r") if offsets[-1] else np.zeros(0, np.int32)
            try:
                os.unlink(self._path)   # the mapping keeps the data until it is closed
            except OSError:
                pass
        else:
            self._tokens = np.concatenate(self._pending) if self._pending else np.zeros(0, np.int32)
        self._pending = []
        ids = np.asarray(self._ids)
        order = np.argsort(ids, kind="stable")
        self._order_ids = ids[order]
        self._start, self._end = offsets[:-1][order], offsets[1:][order]
        self._np_prompt = np.asarray(self._n_prompt, dtype=np.int32)[order]
        self._np_index = np.asarray(self._index, dtype=np.int64)[order]
        del self._lengths, self._n_prompt, self._index, self._ids
        return self

    @classmethod
    def of(cls, items: Iterable[Encoded], **kw) -> TokenStore:
        store = cls(**kw)
        for e in items:
            store.add(e)
        return store.finish()

    @property
    def spilled(self) -> bool:
        return isinstance(self._tokens, np.memmap)

    @property
    def n_tokens(self) -> int:
        return int((self._end - self._start).sum())

    def __len__(self) -> int:
        return len(self._order_ids)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return Encoded(str(self._order_ids[i]), int(self._np_index[i]),
                       self._tokens[self._start[i]:self._end[i]], int(self._np_prompt[i]))

    def __add__(self, other) -> list:
        return list(self) + list(other)

    def __radd__(self, other) -> list:
        return list(other) + list(self)


class Collator:
    """Pads a list of Encoded samples (right padding) into input_ids / attention_mask / labels tensors."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, items: list[Encoded]) -> dict[str, torch.Tensor]:
        width = max(len(e) for e in items)
        ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(items), width), -100, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for i, e in enumerate(items):
            seq = torch.from_numpy(e.tokens.astype(np.int64))
            ids[i, : len(seq)] = seq
            mask[i, : len(seq)] = 1
            labels[i, e.n_prompt: len(seq)] = seq[e.n_prompt:]
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def load_and_encode(path, tokenizer, *, shape=None, fields=None, fmt=None, max_length: int = 512,
                    length_policy: str = "truncate", on_error: str = "raise", name: str = "data"):
    """Read a dataset, tokenise it, and return (encoded samples sorted by id, data report). Sorting by content id
    makes every later visit order a function of the data's content and the seed, never of file position."""
    import logging

    from .config import ConfigError
    from .data import iter_samples

    rows, report = iter_samples(path, shape=shape, fields=fields, on_error=on_error, fmt=fmt)
    samples = (sample for _, sample in rows if sample is not None)  # rows are read as they are tokenised
    encoded = TokenStore.of(_encode_each(tokenizer, samples, report, max_length, length_policy))
    if not len(encoded):
        raise ConfigError(f"{path}: no usable samples in the {name} set ({report.summary()})")
    logging.getLogger(__name__).info("%s set: %s", name, report.summary())
    return encoded, report
