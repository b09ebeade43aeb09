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


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[torch.Tensor]:
    """Every sample exactly once per epoch, in a seeded random order, in batches of near-equal size
    (sizes differ by at most one, so no batch is left with a single sample)."""
    perm = torch.randperm(n, generator=generator(seed, 1, epoch))
    return list(torch.tensor_split(perm, math.ceil(n / batch_size)))


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
