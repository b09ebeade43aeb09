"""The SEAL bilevel step: one readable function, independent of which model it drives.

Problem (DESIGN.md section 1), penalty form with gamma growing over the run:

    min_{theta, w}  (1 - gamma) * L_safe(theta) + gamma * [ L_w(theta) - min_theta' L_w(theta') ]

Per step, with a safe batch Bs and a fine-tuning batch B (every fine-tuning sample is in exactly one B per
epoch; the safe set cycles):

    theta     <- theta     - beta * grad[ (1-gamma) L_safe(theta; Bs) + gamma * mean_{j in B} s_j l(theta; z_j) ]
    theta_hat <- theta_hat - beta * grad[ mean_{j in B} s_j l(theta_hat; z_j) ]                   (Algorithm 1 only)
    w         <- w         - alpha * gamma * grad_w[ sum_{j in B} s_j(w) * signal_j ]              (SGD, no momentum)

    signal_j = l(theta; z_j) - l(theta_hat; z_j)     Algorithm 1: fits worse under the safety-aware model
    signal_j = l(theta; z_j)                         Algorithm 2: memory-efficient, assumes min L_w ~ 0

theta as an offset of theta_hat (Algorithm 1, `theta_offset`). To first order, after a few steps from a common
start, l(theta; z_j) - l(theta_hat; z_j) ~ eta * grad l_j . [(1-gamma)(grad L_w - grad L_safe)]: besides the
conflict with the safe set it holds grad l_j . grad L_w, how fast the plain model learns sample j, which is
largest for the majority style of the fine-tuning data. When the benign rows do not look like the safe set's
helpful answers, that term wins and the ranking inverts (DESIGN.md section 7; tests/test_select.py reproduces
it on a tiny model). With theta = theta_hat + delta, delta a second adapter stepped on the same penalised
objective (1-gamma) L_safe(theta_hat + delta) + gamma L_w(theta_hat + delta), theta inherits theta_hat's fit of
L_w and the gap measures only what the safe term changes: ~ -eta * grad l_j . grad L_safe, the first-order
hypergradient of the upper-level problem min_w L_safe(theta*(w)).

w enters the penalised objective only through gamma * L_w, so its gradient carries the factor gamma: while
gamma is small (theta is still being warm-started on the safe set) the loss gaps say little and w barely moves.

Batch weights. With softmax weighting the batch uses s_j = |B| * softmax(w_B)_j, the self-normalised estimate
of N * softmax(w)_j (mean weight 1 in every batch). Its gradient is |B| q_k (signal_k - sum_j q_j signal_j):
each sample moves against how much worse it does than the rest of its own batch, and samples outside the batch
do not move. Anything common to the whole batch (the loss level drifting as training goes on, gamma rising)
cancels, so the ranking does not depend on when a sample was visited. The reference code's Adam on the
logits moved every coordinate by about lr per step and made the ranking track visit recency; plain SGD on a
centred signal does not. With sigmoid weighting (s_j = 2 sigmoid(w_j)) the signal is centred on its batch
mean for the same reason.

Centring on the data, not the batch (`centre="data"`, the default). The objective is over the whole set,
F(w) = sum_j N softmax(w)_j signal_j, whose gradient is N q_k (signal_k - sum_j q_j signal_j): the centre is
the q-weighted mean signal of ALL samples. The batch mean is an estimate of it from |B| samples; with a
heterogeneous fine-tuning set its noise (which other samples happened to share the batch) is as large as the
harmful/benign difference: on the hard-negative mix of docs/selection-quality.md the batch-centred weights
ranked the harmful rows at AUROC 0.90 while the signals themselves ranked them at 0.92. With `centre="data"`
the centre is the q-weighted mean of every sample's latest signal (`known`, this batch's included): the same
gradient with the sampling noise of the centre removed; slow drift still cancels, as the mean follows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.profiler import record_function  # names the phases in a profiler trace (benchmarks/profile_step.py)

from .distributed import SINGLE, Shard

WEIGHTINGS = ("softmax", "sigmoid")
CENTRES = ("data", "batch")
OFFSETS = ("safe", "penalty", "none")


def batch_weights(w: torch.Tensor, idx: torch.Tensor, weighting: str) -> torch.Tensor:
    """Weights s_j of the samples `idx` in one batch (differentiable in w)."""
    if weighting == "softmax":
        return len(idx) * torch.softmax(w[idx], dim=0)
    if weighting == "sigmoid":
        return 2 * torch.sigmoid(w[idx])
    raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")


def dataset_weights(w: torch.Tensor, weighting: str) -> torch.Tensor:
    """Weights of all N samples: N * softmax(w) (mean 1) or 2 * sigmoid(w)."""
    return len(w) * torch.softmax(w, dim=0) if weighting == "softmax" else 2 * torch.sigmoid(w)


@dataclass
class Learner:
    """One lower-level model (theta or theta_hat): how to get per-sample losses, and how to step it."""

    losses: Callable[[dict], torch.Tensor]  # batch -> per-sample response loss, shape [b], with grad
    optimizer: torch.optim.Optimizer
    shard: Shard = SINGLE  # several processes: gradients are summed over them before each step
    sharded: bool = False  # FSDP: the backward pass already summed them (seal.distributed.shard_model)

    def step(self) -> None:
        if not self.sharded:
            self.shard.sync_grads([p for group in self.optimizer.param_groups for p in group["params"]])
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def _weighted_pass(learner: Learner, micro: list[dict], s: torch.Tensor, scale: float, n: int | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample losses over micro-batches; backpropagates scale * sum_j s_j l_j / n unless scale is 0 (n: the
    whole batch's size, across processes; default len(s)). Returns (training losses, signal losses): the same
    vector unless the learner's losses come as [b, 2] columns (all response tokens, first k response tokens), in
    which case the second column is the signal. A micro-batch marked "padding" (FSDP: this process had fewer
    samples than another) runs forward and backward with weight 0 and returns nothing."""
    out, sig, start, n = [], [], 0, n or len(s)
    # FSDP: a forward pass without autograd between a backward pass and the optimizer step changes the sharded
    # model's gradients (seen with torch 2.13 over gloo), so a sharded learner always backpropagates, by 0 here
    backward = scale != 0.0 or learner.sharded
    for mb in micro:
        if mb.get("padding"):
            with torch.set_grad_enabled(backward):
                losses = learner.losses(mb)
            if backward:
                (0.0 * losses.sum()).backward()
            continue
        b = mb["input_ids"].shape[0]
        s_mb = s[start:start + b]
        with torch.set_grad_enabled(backward), record_function("seal: forward"):
            losses = learner.losses(mb)
        train = losses[:, 0] if losses.dim() == 2 else losses
        if backward:
            with record_function("seal: backward"):
                (scale * (s_mb.to(train.device) * train).sum() / n).backward()
        out.append(train.detach().float().cpu())
        sig.append((losses[:, 1] if losses.dim() == 2 else train).detach().float().cpu())
        start += b
    if not out:  # this process's part of a small batch was empty
        return torch.empty(0), torch.empty(0)
    return torch.cat(out), torch.cat(sig)


def bilevel_step(
    theta: Learner,
    theta_hat: Learner | None,
    w: torch.Tensor,
    idx: torch.Tensor,
    ft_micro: list[dict],
    safe_micro: list[dict],
    gamma: float,
    lr_w: float,
    weighting: str = "softmax",
    offset: str = "none",
    known: torch.Tensor | None = None,
    w_optimizer: torch.optim.Optimizer | None = None,
    shard: Shard = SINGLE,
) -> tuple[dict[str, float], torch.Tensor, torch.Tensor | None]:
    """One SEAL step (Algorithm 1 when theta_hat is given, else Algorithm 2). Updates theta, theta_hat and w
    in place and returns the step's loss terms. `ft_micro` are the micro-batches of the fine-tuning batch
    whose sample positions in w are `idx` (same order); `safe_micro` the micro-batches of the safe batch.
    `known` (data centring): every sample's latest signal, NaN before its first visit; updated in place, and
    its q-weighted mean is the centre of the w update. None: the batch mean is the centre.
    `w_optimizer` (the `seal-reference` ablation only): an optimizer over w (a leaf tensor) that replaces the
    centred SGD update by the published code's, see `reference_w_step`.
    `shard` (several processes, seal.distributed): `ft_micro` and `safe_micro` hold only this process's part of
    each batch (positions shard.part(n)); losses are combined across processes before w moves.
    Returns (logged loss terms, l(theta; z_j), l(theta_hat; z_j) or None): the losses the signal is made of
    (over the first k response tokens when the learners' losses come as [b, 2] columns), taken before the
    update."""
    n = len(idx)
    s_all = batch_weights(w, idx, weighting).detach()
    s = s_all[shard.part(n)]  # this process's samples (all of them on one process)

    # theta: (1 - gamma) * safe loss + gamma * weighted fine-tuning loss. With offset "safe", theta = theta_hat +
    # delta and delta follows the safe loss alone (theta_hat already carries the fine-tuning term).
    n_safe_here = sum(mb["input_ids"].shape[0] for mb in safe_micro if not mb.get("padding"))
    n_safe = shard.total(n_safe_here)
    with record_function("seal: theta on the safe batch"):
        safe_losses, _ = _weighted_pass(theta, safe_micro, torch.ones(n_safe_here),
                                        1.0 if offset == "safe" else 1.0 - gamma, n_safe)
    with record_function("seal: theta on the fine-tuning batch"):
        l_theta, sig_theta = _weighted_pass(theta, ft_micro, s, 0.0 if offset == "safe" else gamma, n)
    with record_function("seal: optimizer steps"):
        theta.step()

    # theta_hat: the weighted fine-tuning loss alone (approximates argmin_theta' L_w).
    l_hat = sig_hat = None
    if theta_hat is not None:
        with record_function("seal: theta_hat on the fine-tuning batch"):
            l_hat, sig_hat = _weighted_pass(theta_hat, ft_micro, s, 1.0, n)
        with record_function("seal: optimizer steps"):
            theta_hat.step()

    # the whole batch's losses, in batch order (identity on one process)
    safe_losses, l_theta, sig_theta = (shard.combine(x, k) for x, k in ((safe_losses, n_safe), (l_theta, n),
                                                                         (sig_theta, n)))
    signal = sig_theta
    if l_hat is not None:
        l_hat, sig_hat = shard.combine(l_hat, n), shard.combine(sig_hat, n)
        signal = sig_theta - sig_hat
    s = s_all

    # w: SGD on gamma * sum_j s_j(w) * signal_j (signals are constants here), centred on the data or the batch.
    if w_optimizer is not None:
        reference_w_step(w, idx, signal, weighting, w_optimizer)
    elif known is not None:
        known[idx] = signal
        seen = ~torch.isnan(known)
        q = dataset_weights(w, weighting)[seen]
        centre = (q * known[seen]).sum() / q.sum()
        with torch.no_grad():
            s_grad = batch_weights(w, idx, weighting)
            if weighting == "sigmoid":
                s_grad = s_grad * (1 - s_grad / 2)  # d/dw 2 sigmoid(w) = 2 sigmoid(w) (1 - sigmoid(w))
            w[idx] -= lr_w * gamma * s_grad * (signal - centre)
    else:
        if weighting == "sigmoid":
            signal = signal - signal.mean()
        w_leaf = w.detach().requires_grad_(True)
        (batch_weights(w_leaf, idx, weighting) * signal).sum().backward()
        with torch.no_grad():
            w -= lr_w * gamma * w_leaf.grad

    logs = {
        "gamma": gamma,
        "safe_loss": safe_losses.mean().item(),
        "ft_loss": (s * l_theta).mean().item(),
        "signal": signal.mean().item(),
    }
    if l_hat is not None:
        logs["hat_loss"] = (s * l_hat).mean().item()
    return logs, sig_theta, sig_hat


def reference_w_step(w: torch.Tensor, idx: torch.Tensor, signal: torch.Tensor, weighting: str,
                     optimizer: torch.optim.Optimizer) -> None:
    """The published reference code's selector update, kept as an ablation (`seal select --method
    seal-reference`): the batch's weights are read from the dataset-level weights (N * softmax over ALL logits,
    or 2 * sigmoid) and `optimizer` (Adam there) steps on mean_{j in B} s_j * signal_j, with no gamma factor and no
    centring. Through the softmax every logit gets a gradient, and Adam's normalisation moves each coordinate by
    about its lr per step, so the ranking follows when a sample was last visited (DESIGN.md section 2)."""
    optimizer.zero_grad(set_to_none=True)
    (dataset_weights(w, weighting)[idx] * signal.to(w.device)).mean().backward()
    optimizer.step()


def gamma_at(step: int, total_steps: int, steps_per_epoch: int, schedule: str, start: float, end: float,
             ramp: float) -> float:
    """The penalty weight gamma at a 0-based step.

    linear    : start -> end over the first `ramp` fraction of the run, then end (default 0 -> 0.5 over half).
    constant  : end throughout.
    reference : the published code's schedule, 0 for the first epoch, then +0.03 per epoch (capped at end)."""
    if schedule == "constant":
        return end
    if schedule == "linear":
        span = max(1.0, ramp * total_steps)
        return start + (end - start) * min(1.0, step / span)
    if schedule == "reference":
        return min(end, 0.03 * (step // max(1, steps_per_epoch)))
    raise ValueError(f"gamma schedule must be linear, constant or reference, got {schedule!r}")
