"""Visit orders and batches shared by selection and fine-tuning: deterministic, stateless, resumable."""

from __future__ import annotations

import hashlib
import math

import torch


def generator(*keys: int) -> torch.Generator:
    """A torch generator seeded from a tuple of ints, stable across processes and Python versions."""
    g = torch.Generator()
    g.manual_seed(int(hashlib.sha256(repr(keys).encode()).hexdigest()[:15], 16))
    return g


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, lengths: list[int] | None = None,
                  group: int = 32) -> list[torch.Tensor]:
    """Every sample exactly once per epoch, in a seeded random order, in batches of near-equal size
    (sizes differ by at most one, so no batch is left with a single sample).

    With `lengths`, batches are grouped by length to waste little compute on padding: the random order is cut
    into windows of `group` batches, each window is sorted by length and cut into batches, and the batches are
    shuffled again. Batch membership stays random at the scale of a window."""
    g = generator(seed, 1, epoch)
    perm = torch.randperm(n, generator=g)
    n_batches = math.ceil(n / batch_size)
    if lengths is None:
        return list(torch.tensor_split(perm, n_batches))
    sizes = [len(b) for b in torch.tensor_split(torch.arange(n), n_batches)]
    batches, start = [], 0
    for w in range(0, n_batches, group):
        window_sizes = sizes[w:w + group]
        window = perm[start:start + sum(window_sizes)]
        start += sum(window_sizes)
        window = window[torch.argsort(torch.tensor([lengths[i] for i in window.tolist()]), stable=True)]
        batches += list(torch.split(window, window_sizes))
    order = torch.randperm(len(batches), generator=g)
    return [batches[i] for i in order.tolist()]


def cycling_batch(m: int, batch_size: int, seed: int, step: int) -> list[int]:
    """The batch of a step from a set that cycles through seeded permutations (the safe set); stateless, so a
    resumed run sees the same batches."""
    out, pos = [], step * batch_size
    while len(out) < batch_size:
        cycle, offset = divmod(pos, m)
        perm = torch.randperm(m, generator=generator(seed, 2, cycle))
        take = min(batch_size - len(out), m - offset)
        out.extend(perm[offset:offset + take].tolist())
        pos += take
    return out


def micro_batches(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]
