"""Data parallelism for `seal select` and `seal finetune` across processes (`accelerate launch -m seal ...` or
`torchrun`), and FSDP sharding for both (end of this file).

Every process holds the whole selector state (the logits w, O(N) floats) and a replica of the model; each step's
fine-tuning batch and safe batch are split between the processes (process r takes positions r, r + P, ...).
Each process backpropagates its part of the batch's loss divided by the GLOBAL batch size, the gradients are
summed across processes before every optimizer step (what DDP does), and the per-sample losses are combined
into the whole batch's, in batch order, so the w update is computed identically everywhere. With the same global
batch the result equals a single-process run up to floating-point summation order. Process groups, devices and
the launch come from Accelerate (`PartialState`): gloo on CPU, NCCL on GPUs.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
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
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true":
        raise RuntimeError("DeepSpeed is not supported: for sharded fine-tuning launch with "
                           "configs/accelerate/fsdp.yaml (PyTorch FSDP2, ZeRO-3), or torchrun ... --fsdp")
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())  # without a GPU: MULTI_CPU over gloo
    if state.num_processes <= 1:
        raise RuntimeError(f"WORLD_SIZE is {os.environ['WORLD_SIZE']} but Accelerate found one process "
                           f"({state.distributed_type}); launch with accelerate launch or torchrun")
    return Shard(state.process_index, state.num_processes, state.device)


# ----------------------------------------------------------------------------- FSDP (select and finetune)

def fsdp_requested(flag: bool) -> bool:
    """`seal finetune --fsdp`, or an `accelerate launch` whose config chose FSDP (configs/accelerate/fsdp.yaml)."""
    return flag or os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"


def shard_model(model, device: torch.device, sum_gradients: bool = False) -> None:
    """Shard a model in place with PyTorch's FSDP2 (`fully_shard`, ZeRO-3): each transformer block (the classes
    in the model's `_no_split_modules`), then the rest. Parameters, gradients and optimizer states are split
    between the processes and moved to `device`; a block's parameters are gathered for its forward and backward
    pass and freed after. Gradients are averaged across processes, as with DDP, or summed (`sum_gradients`: what
    Shard.sync_grads does, for losses already divided by the global batch size).

    Every process must then run the same number of forward and backward passes (each gathers parameters
    collectively): a process with fewer samples in a batch adds padding passes (`passes_per_process`)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import FSDPModule, fully_shard

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    blocks = set(getattr(base, "_no_split_modules", None) or ())
    layers = [m for m in model.modules() if type(m).__name__ in blocks]
    if not layers:
        raise RuntimeError(f"FSDP: {type(base).__name__} names no transformer block class (_no_split_modules)")
    mesh = init_device_mesh(device.type, (torch.distributed.get_world_size(),))
    for layer in layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    if sum_gradients:
        for m in model.modules():
            if isinstance(m, FSDPModule):
                m.set_gradient_divide_factor(1.0)
                m.set_force_sum_reduction_for_comms(True)  # a plain sum (gloo has no pre-multiplied sum)


def passes_per_process(n: int, world: int, micro: int) -> int:
    """Micro-batches of at most `micro` samples that the fullest process runs on a batch of n split between
    `world` processes (Shard.part): under FSDP every process runs this many, padding where it has fewer."""
    return math.ceil(math.ceil(n / world) / micro)


@contextmanager
def no_grad_sync(model, fsdp: bool):
    """Accumulate this micro-batch's gradients locally: DDP's no_sync(), FSDP2's set_requires_gradient_sync."""
    if not fsdp:
        with model.no_sync():
            yield
        return
    model.set_requires_gradient_sync(False)
    try:
        yield
    finally:
        model.set_requires_gradient_sync(True)


def _options(**kw):
    from torch.distributed.checkpoint.state_dict import StateDictOptions
    return StateDictOptions(full_state_dict=True, **kw)


def full_state(model, optimizer=None, trainable_only: bool = False) -> tuple[dict, dict | None]:
    """The whole (unsharded) state of a sharded model, or only of its trainable parameters (a LoRA adapter:
    small, gathered onto every process), and of its optimizer, on CPU. Every process must call this (it
    gathers); of the whole model and of the optimizer, process 0 gets the tensors and the others empty dicts."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict
    from torch.distributed.tensor import DTensor
    if trainable_only:
        params = {n: (p.full_tensor() if isinstance(p, DTensor) else p).detach().cpu()
                  for n, p in model.named_parameters() if p.requires_grad}
    else:
        params = get_model_state_dict(model, options=_options(cpu_offload=True))
    if optimizer is None:
        return params, None
    return params, full_optimizer_state(model, optimizer)


def full_optimizer_state(model, optimizer) -> dict:
    """The whole state of an optimizer over (some of) a sharded model's parameters, on process 0 (CPU)."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict
    return get_optimizer_state_dict(model, optimizer, options=_options(cpu_offload=True))


def load_full_params(model, params: dict) -> None:
    """Shard parameters saved by `full_state` (read by every process) back into a sharded model."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict
    set_model_state_dict(model, params, options=_options(strict=False))


def load_full_optimizer_state(model, optimizer, optim: dict) -> None:
    """Shard an optimizer state saved by `full_optimizer_state` back into the optimizer of a sharded model."""
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict
    set_optimizer_state_dict(model, optimizer, optim, options=_options())


def load_full_state(model, optimizer, params: dict, optim: dict) -> None:
    """Shard a state saved by `full_state` (read by every process) back into a sharded model and optimizer."""
    load_full_params(model, params)
    load_full_optimizer_state(model, optimizer, optim)
