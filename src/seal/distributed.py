"""Data parallelism for `seal select` across processes (`accelerate launch -m seal select ...` or `torchrun`).

Every process holds the whole selector state (the logits w, O(N) floats) and a replica of the model; each step's
fine-tuning batch and safe batch are split between the processes (process r takes positions r, r + P, ...).
Each process backpropagates its part of the batch's loss divided by the GLOBAL batch size, the gradients are
summed across processes before every optimizer step (what DDP does), and the per-sample losses are combined
into the whole batch's, in batch order, so the w update is computed identically everywhere. With the same global
batch the result equals a single-process run up to floating-point summation order. Process groups, devices and
the launch come from Accelerate (`PartialState`): gloo on CPU, NCCL on GPUs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Shard:
    """This process's place among `world` processes (world 1: a single process, every method a no-op)."""

    rank: int = 0
    world: int = 1
    device: torch.device | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def part(self, n: int) -> list[int]:
        """Positions of a batch of n that this process handles."""
        return list(range(self.rank, n, self.world))

    def total(self, value: int | float) -> int | float:
        """The sum of a number over processes."""
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.long if isinstance(value, int) else torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return type(value)(t.item())

    def combine(self, local: torch.Tensor, n: int) -> torch.Tensor:
        """The values of a whole batch of n (CPU, float) from each process's values at its `part(n)`."""
        if self.world == 1:
            return local
        full = torch.zeros(n, dtype=torch.float32, device=self.device)
        full[self.part(n)] = local.to(self.device, torch.float32)
        torch.distributed.all_reduce(full)
        return full.cpu()

    def sync_grads(self, params) -> None:
        """Sum each parameter's gradient over processes (a process whose part was empty contributes zeros)."""
        if self.world == 1:
            return
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            torch.distributed.all_reduce(p.grad)

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()


SINGLE = Shard()


def current_shard() -> Shard:
    """The shard of this process: from Accelerate when launched with several processes, else SINGLE."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return SINGLE
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())  # without a GPU: MULTI_CPU over gloo
    if state.num_processes <= 1:
        raise RuntimeError(f"WORLD_SIZE is {os.environ['WORLD_SIZE']} but Accelerate found one process "
                           f"({state.distributed_type}); launch with accelerate launch or torchrun")
    return Shard(state.process_index, state.num_processes, state.device)
