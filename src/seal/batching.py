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


def by_length(lengths: list[int]) -> list[int]:
    """Positions sorted by length, shortest first, ties by position."""
    return sorted(range(len(lengths)), key=lambda i: (lengths[i], i))


def cheapest_cuts(lengths: list[int], cap: int, overhead: int) -> list[int]:
    """Sizes of consecutive micro-batches (at most `cap` samples each) of a batch whose samples have these
    lengths, in this order, minimising the padded tokens (each micro-batch is padded to its longest sample) plus
    `overhead` tokens per micro-batch, the fixed cost of one more forward and backward pass. Works best on a
    batch sorted by length (by_length). Per-sample losses do not depend on which samples share a micro-batch,
    so only the cost changes."""
    n = len(lengths)
    best, cut = [0.0] + [math.inf] * n, [0] * (n + 1)  # best[j]: the cheapest split of the first j samples
    for j in range(1, n + 1):
        longest = 0
        for i in range(j - 1, max(0, j - cap) - 1, -1):  # the last micro-batch holds samples i .. j-1
            longest = max(longest, lengths[i])
            cost = best[i] + (j - i) * longest + overhead
            if cost < best[j]:
                best[j], cut[j] = cost, i
    sizes, j = [], n
    while j > 0:
        sizes.append(j - cut[j])
        j = cut[j]
    return sizes[::-1]
