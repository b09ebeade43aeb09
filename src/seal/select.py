"""`seal select`: learn one weight per fine-tuning sample with the SEAL bilevel selector on a proxy model.

setup -> train (bilevel_step each step, checkpoints) -> write scores.jsonl, manifest.json, data_log.jsonl.
The algorithm itself is `seal.bilevel.bilevel_step`; this module feeds it batches and keeps the run's state."""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .baselines import BASELINES, refusal_weight, run_baseline, weighted_harm
from .batching import by_length, cheapest_cuts, cycling_batch, epoch_batches, generator, micro_batches
from .bilevel import CENTRES, OFFSETS, WEIGHTINGS, Learner, bilevel_step, dataset_weights, gamma_at
from .checkpoint import load_state, prepare_out, restore_params, save_state, trainable_params, truncate_log
from .config import ConfigError, parse_fields, to_dict
from .data import file_fingerprint
from .distributed import (
    SINGLE,
    Shard,
    current_shard,
    fsdp_requested,
    full_optimizer_state,
    full_state,
    load_full_optimizer_state,
    load_full_params,
    passes_per_process,
    shard_model,
)
from .manifest import PeakMemory, versions, write_json
from .models import (
    MIXED_PRECISION,
    LoraSettings,
    adapter_parameters,
    add_lora,
    count_parameters,
    load_model,
    load_tokenizer,
    mixed_precision_autocast,
    per_sample_loss,
    pick_device,
    resolve_mixed_precision,
    resolve_model,
    train_top_layers,
    use_adapter,
)
from .scores import ranked, write_scores
from .tokenization import LENGTH_POLICIES, Collator, load_and_encode

log = logging.getLogger(__name__)

# The scores that read the aligned proxy's refusals, each with its request-side parts (refusal_signals' columns)
REQUEST_PARTS = {"visit-gap+refusal": ("refuses",), "visit-gap+propensity": ("propensity",),
                 "visit-gap+refusal+propensity": ("refuses", "propensity"), "visit-gap+refusal+relay": ("refuses",),
                 "visit-gap+refusal+relay+direction": ("refuses",), "visit-gap+refusal+relay+anchored": ("refuses",)}
RESPONSE_PARTS = {"visit-gap+refusal+relay": ("relay_gap",),  # at weight rho, beside the visit and break-off gaps
                  "visit-gap+refusal+relay+direction": ("relay_gap",),
                  "visit-gap+refusal+relay+anchored": ("relay_gap",)}
# request-state projections (direction_signal's columns) and their weights: the safe set's harm direction at 1,
# the same with the data's own mean as the helpful anchor at 2 (docs/selection-quality.md)
DIRECTION_PARTS = {"visit-gap+refusal+relay+direction": (("harm_dir", 1.0),),
                   "visit-gap+refusal+relay+anchored": (("anchored_dir", 2.0),)}
REFUSAL_SCORES = tuple(REQUEST_PARTS)
SCORES = ("weights", "visit-gap", *REFUSAL_SCORES)  # what scores.jsonl ranks by
# Settings that do not change the result: a resumed run may differ in these.
_RUN_ONLY_KEYS = ("resume", "overwrite", "max_steps", "checkpoint_every", "progress", "fsdp")


@dataclass
class SelectConfig:
    """Settings of `seal select`. Every field is a CLI flag (--batch-size), a YAML key and a key=value override."""

    # Parameters that control the data
    data: str = field(metadata={"help": "fine-tuning set to score (JSONL/JSON/CSV/Parquet/HF dataset folder)"})
    safe: str = field(metadata={"help": "trusted safe set (refusals to harmful requests and helpful answers)"})
    out: str = field(metadata={"help": "output folder for scores.jsonl, manifest.json, logs, checkpoints"})
    shape: str | None = field(default=None, metadata={
        "help": "record shape of --data: prompt_response, alpaca, messages or sharegpt (auto-detected)"})
    safe_shape: str | None = field(default=None, metadata={"help": "record shape of --safe (auto-detected)"})
    fields: list[str] | None = field(default=None, metadata={
        "help": "field names of --data, e.g. prompt=question,response=answer", "metavar": "ROLE=NAME,..."})
    format: str | None = field(default=None, metadata={
        "help": "format of --data when the file name does not say: jsonl, json, csv, parquet or hf"})
    max_length: int = field(default=512, metadata={"help": "tokens per sample (prompt + response)"})
    length_policy: str = field(default="truncate", metadata={
        "help": "samples over max_length: truncate (logged) or drop (logged)", "choices": LENGTH_POLICIES})
    on_error: str = field(default="raise", metadata={
        "help": "malformed records: raise (stop, naming file/line/field) or skip (count in the log)",
        "choices": ("raise", "skip")})

    # Parameters that control the proxy model
    model: str = field(default="smollm2", metadata={
        "help": "proxy model: smollm2 (embedded SmolLM2-135M-Instruct), a local folder, or a hub id when online"})
    finetuning: str = field(default="lora", metadata={"help": "lora or full", "choices": ("lora", "full")})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha"})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout"})
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"], metadata={
        "help": "modules to adapt (comma-separated), or all-linear"})
    lora_layers: int | None = field(default=None, metadata={
        "help": "train LoRA in the top N transformer layers only (the safety adapter's lower layers stay as they "
                "are): the backward pass stops at layer L-N, so steps are faster; default: every layer"})
    lr: float | None = field(default=None, metadata={
        "help": "learning rate of theta and theta_hat (AdamW); default: the preset (see PRESETS)"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, cuda:1, mps ..."})
    mixed_precision: str | None = field(default=None, metadata={
        "help": "bf16: forward passes under bfloat16 autocast (adapters, optimizer states, losses and w stay "
                "fp32); auto: bf16 where the device computes it in hardware, else no; default no",
        "choices": MIXED_PRECISION})

    # Parameters that control the selector
    method: str = field(default="seal", metadata={
        "help": "seal (the bilevel selector), seal-reference (Algorithm 2 as the published code runs it: Adam on "
                "the logits, gamma 0 then +0.03 per epoch, 3 epochs; an ablation, see REFERENCE) or a baseline "
                "ranking for comparison: " + ", ".join(BASELINES) + " (seal.baselines explains each)",
        "choices": ("seal", "seal-reference", *BASELINES)})
    algorithm: int = field(default=1, metadata={
        "help": "1 = penalty with an auxiliary model theta_hat; 2 = memory-efficient", "choices": (1, 2)})
    weighting: str = field(default="softmax", metadata={
        "help": "sample weights N*softmax(w) or 2*sigmoid(w)", "choices": WEIGHTINGS})
    epochs: int | None = field(default=None, metadata={
        "help": "passes over the fine-tuning set; default: the preset (see PRESETS)"})
    batch_size: int = field(default=8, metadata={"help": "fine-tuning samples per step"})
    micro_batch_size: int | None = field(default=None, metadata={
        "help": "samples per forward pass (gradient accumulation when smaller than batch_size)"})
    safe_batch_size: int = field(default=4, metadata={"help": "safe samples per step (the safe set cycles)"})
    anchors: int = field(default=0, metadata={
        "help": "add this many rows drawn at random (seeded) from --data to the safe set as helpful anchors in the "
                "data's own style (a random sample of the fine-tuning set is mostly benign)"})
    lr_w: float = field(default=1.0, metadata={"help": "step size on the sample logits w"})
    w_optimizer: str = field(default="sgd", metadata={
        "help": "sgd: the centred update of seal.bilevel (default); adam: the published code's Adam on the "
                "logits, whose ranking follows visit order (for the seal-reference ablation)",
        "choices": ("sgd", "adam")})
    centre: str | None = field(default=None, metadata={
        "help": "centre of each w update: data (the weighted mean of every sample's latest signal, the "
                "dataset-level gradient) or batch (the batch mean; noisier; seal.bilevel explains). Default: data "
                "for Algorithm 1, batch for Algorithm 2 (its signal, the loss itself, drifts down fast as theta "
                "learns, so a mean of earlier visits' signals would favour the samples visited last)",
        "choices": CENTRES})
    theta_offset: str = field(default="penalty", metadata={
        "help": "Algorithm 1 with LoRA: theta = theta_hat + a safety adapter stepped on the safe loss (safe) or on "
                "the penalised objective (penalty), so the two models differ only by what the safe term changes "
                "(seal.bilevel explains why); none = two independent adapters as in the paper. Full fine-tuning "
                "always uses independent models", "choices": OFFSETS})
    safety_adapter: str | None = field(default="auto", metadata={
        "help": "LoRA adapter that made --model safe (seal align writes RUN/adapter); --model is then its base. "
                "Algorithm 1 starts theta_hat at the base and the safety adapter at this one, so the loss gap sees "
                "everything alignment changed, not only what selection adds. auto (default): for an embedded "
                "--model (smollm2), the adapter of `seal align` with its default settings, cached and shared with "
                "seal run (made on first use: tens of minutes on 2 CPU cores); for any other model, none. none: "
                "start from --model as it is"})
    score: str | None = field(default=None, metadata={
        "help": "what scores.jsonl ranks by: visit-gap+refusal+relay+direction (default with algorithm 1 and a "
                "safety adapter: visit-gap+refusal+relay plus each request's projection on the safe set's harm "
                "direction, the aligned proxy's mean request state on its refusal rows minus its helpful rows'), "
                "visit-gap+refusal+relay+anchored (the same at weight 2 with the mean of the data's own requests as "
                "the anchor in place of the safe set's helpful rows), "
                "visit-gap+refusal+relay (visit-gap+refusal plus the relay gap, how much more readily than the base "
                "model the aligned proxy refuses the response's start put into one fixed request, weighted min(1, "
                "median response tokens / 16)), visit-gap+refusal (the "
                "visit gap plus the aligned proxy's refusal behaviour on each request, its break-off gap and "
                "whether it refuses the request, weighted by how rare its refusals are in the data; see "
                "run_scores), visit-gap+propensity (the same with how readily it refuses, graded, in place of "
                "whether it does), visit-gap+refusal+propensity (both request-side parts, each so weighted), "
                "visit-gap (default with algorithm 1 without one: minus the loss gap "
                "l(theta) - l(theta_hat) at each sample's latest visit, the signal each w update integrates, all "
                "measured against one final reference instead of a centre that moves during the run) or weights "
                "(the learned logits w; default with algorithm 2). "
                "docs/selection-quality.md has the measurements",
        "choices": SCORES})
    signal_tokens: int = field(default=0, metadata={
        "help": "measure each sample's signal over its first N response tokens only (0 = all response tokens): "
                "the w updates, the visit-gap score and the loss columns of scores.jsonl; the models still train "
                "on every response token"})
    gamma_schedule: str | None = field(default=None, metadata={
        "help": "linear (gamma_start -> gamma_end over gamma_ramp of the run), constant (gamma_end throughout), "
                "or reference; default: the preset (see PRESETS)",
        "choices": ("linear", "constant", "reference")})
    gamma_start: float = field(default=0.0, metadata={"help": "penalty weight at step 0"})
    gamma_end: float = field(default=0.5, metadata={"help": "penalty weight after the ramp"})
    gamma_ramp: float = field(default=0.5, metadata={"help": "fraction of the run over which gamma ramps"})
    seed: int = field(default=0, metadata={"help": "seed of the model initialisation and of the visit order"})
    data_seed: int | None = field(default=None, metadata={"help": "seed of the visit order only (default: seed)"})

    # Parameters that control the run
    checkpoint_every: int = field(default=50, metadata={"help": "steps between checkpoints (and at the end)"})
    resume: bool = field(default=False, metadata={"help": "continue the run in --out from its checkpoint"})
    overwrite: bool = field(default=False, metadata={"help": "replace a finished or unfinished run in --out"})
    max_steps: int | None = field(default=None, metadata={
        "help": "stop after this many steps in this invocation (checkpoint kept; finish later with --resume)"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})
    fsdp: bool = field(default=False, metadata={
        "help": "with several processes, shard the proxy (base, both adapters, gradients, optimizer states) "
                "between them with PyTorch FSDP2 instead of a replica on each; also chosen by `accelerate launch "
                "--config_file configs/accelerate/fsdp.yaml`. The scores are those of a data-parallel run"})

    def validate(self) -> None:
        if self.method not in ("seal", "seal-reference", *BASELINES):
            raise ConfigError(f"method must be seal, seal-reference or one of {', '.join(BASELINES)}, "
                              f"got {self.method!r}")
        if self.algorithm not in (1, 2):
            raise ConfigError(f"algorithm must be 1 or 2, got {self.algorithm}")
        if self.score in ("visit-gap", *REFUSAL_SCORES) and self.algorithm != 1:
            raise ConfigError(f"score {self.score} needs algorithm 1 (the gap between theta and theta_hat)")
        if self.anchors < 0:
            raise ConfigError(f"anchors must be >= 0, got {self.anchors}")
        for name in ("epochs", "batch_size", "safe_batch_size", "max_length", "checkpoint_every"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lora_layers is not None and (self.lora_layers < 1 or self.finetuning != "lora"):
            raise ConfigError("lora_layers needs finetuning lora and a number of layers >= 1")
        if self.micro_batch_size is not None and not 1 <= self.micro_batch_size <= self.batch_size:
            raise ConfigError("micro_batch_size must be between 1 and batch_size")
        if not 0.0 <= self.gamma_start <= 1.0 or not 0.0 <= self.gamma_end <= 1.0:
            raise ConfigError("gamma_start and gamma_end must lie in [0, 1]")
        if self.centre not in (None, *CENTRES):
            raise ConfigError(f"centre must be one of {CENTRES}, got {self.centre!r}")
        if self.weighting not in WEIGHTINGS:
            raise ConfigError(f"weighting must be one of {WEIGHTINGS}")
        adapter = self.safety_adapter not in (None, "auto", "none")
        if adapter and self.method == "seal" and self.offset == "none":
            raise ConfigError("safety_adapter needs algorithm 1 with lora and theta_offset penalty or safe")
        if adapter and not (Path(self.safety_adapter) / "adapter_config.json").exists():
            raise ConfigError(f"safety_adapter {self.safety_adapter}: no adapter_config.json there (a LoRA adapter "
                              "folder such as the adapter/ that seal align writes)")
        if self.theta_offset not in OFFSETS:
            raise ConfigError(f"theta_offset must be one of {OFFSETS}, got {self.theta_offset!r}")

    @property
    def offset(self) -> str:
        """The theta_offset in effect: only Algorithm 1 with LoRA has one; otherwise "none"."""
        return self.theta_offset if self.algorithm == 1 and self.finetuning == "lora" else "none"


@dataclass
class _Run:
    """Everything the training loop needs, built once by setup()."""

    cfg: SelectConfig
    encoded: list            # fine-tuning samples, tokenised, in canonical (id) order
    safe_encoded: list
    reports: dict
    model: torch.nn.Module
    theta: Learner
    theta_hat: Learner | None
    collate: Collator
    device: torch.device
    w: torch.Tensor
    last_loss: torch.Tensor  # l(theta; z_j) at the sample's latest visit
    last_hat: torch.Tensor   # l(theta_hat; z_j) at the latest visit (Algorithm 1)
    known: torch.Tensor      # the signal at the latest visit (NaN before the first): centre="data"
    refusal: dict | None = None  # REFUSAL_SCORES: the aligned proxy's behaviour signals (refusal_signals)
    w_opt: torch.optim.Optimizer | None = None  # w_optimizer adam only
    shard: Shard = SINGLE    # this process's place when several run data-parallel (seal.distributed)
    tokenizer: object = None  # cfg.model's, for refusal_signals
    fsdp: bool = False       # the model(s) sharded between the processes (FSDP2) rather than replicated
    step: int = 0

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.encoded) / self.cfg.batch_size)

    @property
    def total_steps(self) -> int:
        return self.cfg.epochs * self.steps_per_epoch


def _learners(cfg: SelectConfig, model, device, shard: Shard = SINGLE, fsdp: bool = False):
    """theta (and theta_hat for Algorithm 1): two LoRA adapters on one frozen base, or two full models. With
    fsdp, `model` is on the CPU and each model is sharded onto `device` before its optimizers are made."""
    autocast = mixed_precision_autocast(device, cfg.mixed_precision)
    place = (lambda m: shard_model(m, device, sum_gradients=True)) if fsdp else (lambda m: m.to(device))
    if cfg.finetuning == "lora":
        names = ("theta", "theta_hat") if cfg.algorithm == 1 else ("theta",)
        settings = LoraSettings(cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_targets)
        if cfg.safety_adapter:  # theta_hat: a new adapter on the base; theta's offset: the alignment adapter
            model = add_lora(model, settings, ("theta_hat",))
            model.load_adapter(cfg.safety_adapter, adapter_name="theta", is_trainable=True)
        else:
            model = add_lora(model, settings, names)
        if cfg.lora_layers:
            train_top_layers(model, cfg.lora_layers)
        place(model)

        def make(name, stacked_on=None):
            def losses(batch):
                if stacked_on is None:
                    use_adapter(model, name)
                else:  # theta = theta_hat + this adapter; only this adapter learns from theta's loss
                    use_adapter(model, [stacked_on, name], trainable=name)
                with autocast:
                    return per_sample_loss(model, batch, cfg.signal_tokens)
            opt = torch.optim.AdamW(adapter_parameters(model, name), lr=cfg.lr, weight_decay=0.0)
            return Learner(losses, opt, shard, sharded=fsdp)

        if cfg.offset != "none":
            return model, make("theta", stacked_on="theta_hat"), make("theta_hat")
        return model, make("theta"), make("theta_hat") if cfg.algorithm == 1 else None

    models = [model] + ([copy.deepcopy(model)] if cfg.algorithm == 1 else [])
    learners = []
    for m in models:
        place(m)
        m.train()

        def losses(batch, m=m):
            with autocast:
                return per_sample_loss(m, batch, cfg.signal_tokens)
        learners.append(Learner(losses, torch.optim.AdamW(m.parameters(), lr=cfg.lr, weight_decay=0.0), shard,
                                sharded=fsdp))
    return models, learners[0], learners[1] if cfg.algorithm == 1 else None


def setup(cfg: SelectConfig) -> _Run:
    cfg = resolve_defaults(cfg)
    torch.manual_seed(cfg.seed)
    tokenizer = load_tokenizer(cfg.model)
    common = dict(max_length=cfg.max_length, length_policy=cfg.length_policy, on_error=cfg.on_error)
    encoded, report = load_and_encode(cfg.data, tokenizer, shape=cfg.shape, fields=parse_fields(cfg.fields),
                                      fmt=cfg.format, name="fine-tuning", **common)
    safe_encoded, safe_report = load_and_encode(cfg.safe, tokenizer, shape=cfg.safe_shape, name="safe", **common)
    if cfg.anchors:  # drawn from the id-sorted data, so the draw does not depend on the file's row order
        pick = torch.randperm(len(encoded), generator=generator(cfg.seed, 3))[:cfg.anchors].sort().values
        safe_encoded = safe_encoded + [encoded[i] for i in pick.tolist()]
    shard = current_shard()
    fsdp = shard.world > 1 and fsdp_requested(cfg.fsdp)
    device = shard.device if shard.world > 1 else pick_device(cfg.device)
    if shard.world > 1 and min(cfg.batch_size, cfg.safe_batch_size) < shard.world:
        raise ConfigError(f"batch_size and safe_batch_size must be at least the number of processes ({shard.world})")
    base = load_model(cfg.model, device=torch.device("cpu") if fsdp else device)  # FSDP moves each shard there
    model, theta, theta_hat = _learners(cfg, base, device, shard, fsdp)
    n = len(encoded)
    w = torch.zeros(n, requires_grad=cfg.w_optimizer == "adam")
    w_opt = torch.optim.Adam([w], lr=cfg.lr_w) if cfg.w_optimizer == "adam" else None
    return _Run(cfg, encoded, safe_encoded, {"data": report, "safe": safe_report}, model, theta, theta_hat,
                Collator(tokenizer.pad_token_id), device, w=w, last_loss=torch.full((n,), math.nan),
                last_hat=torch.full((n,), math.nan), known=torch.full((n,), math.nan), w_opt=w_opt, shard=shard,
                tokenizer=tokenizer, fsdp=fsdp)


# ----------------------------------------------------------------------------------------------- checkpoints

def _result_key(cfg: SelectConfig) -> dict:
    d = to_dict(cfg)
    for k in _RUN_ONLY_KEYS + ("out",):
        d.pop(k)
    d["data_sha256"] = file_fingerprint(cfg.data)["sha256"]
    d["safe_sha256"] = file_fingerprint(cfg.safe)["sha256"]
    if cfg.safety_adapter:
        d["safety_adapter_sha256"] = file_fingerprint(Path(cfg.safety_adapter) / "adapter_model.safetensors")["sha256"]
    return d


def _models(run: _Run) -> list:
    """The model objects of a run: one PeftModel with both adapters, or one or two full models."""
    return run.model if isinstance(run.model, list) else [run.model]


def _learner_models(run: _Run) -> list[tuple[Learner, torch.nn.Module]]:
    """theta (and theta_hat), each with the model its optimizer steps: with LoRA both are adapters of one model."""
    models = _models(run)
    learners = [run.theta] + ([run.theta_hat] if run.theta_hat else [])
    return [(learner, models[min(i, len(models) - 1)]) for i, learner in enumerate(learners)]


def _optimizer_states(run: _Run) -> tuple[dict, dict | None]:
    """theta's and theta_hat's optimizer states; under FSDP gathered whole (every process takes part)."""
    states = [full_optimizer_state(m, learner.optimizer) if run.fsdp else learner.optimizer.state_dict()
              for learner, m in _learner_models(run)]
    return states[0], states[1] if run.theta_hat else None


def save_checkpoint(run: _Run) -> None:
    if not (run.shard.is_main or run.fsdp):  # data-parallel: every process holds the same state
        return
    # FSDP: every process takes part in the gathers (adapters onto each, full models onto process 0); 0 writes
    lora = run.cfg.finetuning == "lora"
    params = [full_state(m, trainable_only=lora)[0] if run.fsdp else trainable_params(m) for m in _models(run)]
    opt_theta, opt_hat = _optimizer_states(run)
    if not run.shard.is_main:
        return
    save_state(run.cfg.out, {
        "step": run.step, "key": _result_key(run.cfg), "w": run.w.detach(), "last_loss": run.last_loss,
        "last_hat": run.last_hat, "known": run.known, "params": params, "fsdp": run.fsdp,
        "opt_theta": opt_theta, "opt_hat": opt_hat,
        "opt_w": run.w_opt.state_dict() if run.w_opt else None,
        "rng": torch.get_rng_state(),
    })


def load_checkpoint(run: _Run) -> bool:
    state = load_state(run.cfg.out)
    if state is None:
        return False
    if state["key"] != _result_key(run.cfg):
        changed = sorted(k for k in state["key"] if state["key"][k] != _result_key(run.cfg).get(k))
        raise ConfigError(f"{run.cfg.out}/checkpoint: made with other settings or data ({', '.join(changed)}); "
                          "rerun with the same settings, or use --overwrite to start again")
    if state.get("fsdp", False) != run.fsdp:
        raise ConfigError(f"{run.cfg.out}/checkpoint: made {'with' if state.get('fsdp') else 'without'} FSDP; "
                          "resume it the same way, or use --overwrite to start again")
    for m, params in zip(_models(run), state["params"]):
        (load_full_params if run.fsdp else restore_params)(m, params)
    for (learner, m), optim in zip(_learner_models(run), (state["opt_theta"], state["opt_hat"])):
        if run.fsdp:
            load_full_optimizer_state(m, learner.optimizer, optim)
        else:
            learner.optimizer.load_state_dict(optim)
    with torch.no_grad():
        run.w.copy_(state["w"])  # in place: w_opt holds this tensor
    if run.w_opt:
        run.w_opt.load_state_dict(state["opt_w"])
    run.last_loss, run.last_hat, run.step = state["last_loss"], state["last_hat"], state["step"]
    run.known = state.get("known", torch.full_like(run.w, math.nan))
    torch.set_rng_state(state["rng"])
    return True


# ----------------------------------------------------------------------------------------------- training

def train(run: _Run) -> None:
    """The loop: for each step, one fine-tuning batch (every sample once per epoch), one safe batch, one
    bilevel_step. Writes train_log.jsonl and checkpoints; stops early after cfg.max_steps steps."""
    cfg = run.cfg
    data_seed = cfg.seed if cfg.data_seed is None else cfg.data_seed
    micro = cfg.micro_batch_size or cfg.batch_size
    shard = run.shard
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    log_path = Path(cfg.out) / "train_log.jsonl" if shard.is_main else Path(os.devnull)  # one log, by process 0
    if shard.is_main:
        truncate_log(log_path, run.step)
    stop_at = run.total_steps if cfg.max_steps is None else min(run.total_steps, run.step + cfg.max_steps)
    bar = tqdm(total=run.total_steps, initial=run.step, desc="seal select", unit="step", dynamic_ncols=True,
               disable=not (cfg.progress and shard.is_main))
    with open(log_path, "a", encoding="utf-8", buffering=1) as log_file:
        batches, batches_epoch = None, -1
        while run.step < stop_at:
            epoch, k = divmod(run.step, run.steps_per_epoch)
            if epoch != batches_epoch:
                batches, batches_epoch = epoch_batches(len(run.encoded), cfg.batch_size, data_seed, epoch), epoch
            idx = batches[k]
            to_dev = lambda items: {k_: v.to(run.device) for k_, v in run.collate(items).items()}  # noqa: E731
            safe_batch = cycling_batch(len(run.safe_encoded), cfg.safe_batch_size, data_seed, run.step)
            if not run.fsdp:  # each batch shortest first, so that split_by_length cuts it into runs of like length
                idx = idx[by_length([len(run.encoded[i]) for i in idx.tolist()])]
                safe_batch = [safe_batch[p] for p in by_length([len(run.safe_encoded[i]) for i in safe_batch])]
            mine = idx[shard.part(len(idx))]  # this process's part of the batch (all of it on one process)
            ft_items = [run.encoded[i] for i in mine.tolist()]
            safe_items = [run.safe_encoded[safe_batch[p]] for p in shard.part(len(safe_batch))]
            if run.fsdp:  # micro-batches of a fixed size, and as many passes as the fullest process makes, each
                # gathering the parameters collectively
                ft_micro = _padded([to_dev(c) for c in micro_batches(ft_items, micro)],
                                   passes_per_process(len(idx), shard.world, micro), to_dev([run.encoded[idx[0]]]))
                safe_micro = _padded([to_dev(c) for c in micro_batches(safe_items, micro)],
                                     passes_per_process(len(safe_batch), shard.world, micro),
                                     to_dev([run.safe_encoded[safe_batch[0]]]))
            else:  # one process or data-parallel: each part cut where the padding saved is worth another pass
                ft_micro = [to_dev(c) for c in split_by_length(ft_items, micro, run.device)]
                safe_micro = [to_dev(c) for c in split_by_length(safe_items, micro, run.device)]
            gamma = gamma_at(run.step, run.total_steps, run.steps_per_epoch, cfg.gamma_schedule,
                             cfg.gamma_start, cfg.gamma_end, cfg.gamma_ramp)
            logs, l_theta, l_hat = bilevel_step(run.theta, run.theta_hat, run.w, idx, ft_micro, safe_micro,
                                                gamma, cfg.lr_w, cfg.weighting, cfg.offset,
                                                known=run.known if cfg.centre == "data" else None,
                                                w_optimizer=run.w_opt, shard=shard)
            run.last_loss[idx] = l_theta
            if l_hat is not None:
                run.last_hat[idx] = l_hat
            run.step += 1
            logs = {"step": run.step, "epoch": epoch, **logs, "w_std": run.w.std().item()}
            log_file.write(json.dumps(logs) + "\n")
            bar.update(1)
            bar.set_postfix({k_: f"{v:.3f}" for k_, v in logs.items() if k_ in
                             ("gamma", "safe_loss", "ft_loss", "hat_loss", "signal")})
            if run.step % cfg.checkpoint_every == 0 or run.step == stop_at:
                log_file.flush()
                save_checkpoint(run)
    bar.close()


# The fixed cost of one more forward and backward pass, in tokens of compute: on a CPU mostly reading the weights
# once more (SmolLM2-135M, one thread, timed by hand while another job shared the cores: about 110 ms per pass
# and 6 ms per token; `benchmarks/select_speed.py --no-length-split` compares whole epochs); on a GPU mostly
# kernel launches, worth many tokens (a guess, not measured).
PASS_OVERHEAD_TOKENS = {"cpu": 32}
PASS_OVERHEAD_TOKENS_OTHER = 1024


def split_by_length(items: list, cap: int, device) -> list[list]:
    """Micro-batches of at most `cap` of `items` (in the order given), cut where the padding saved outweighs
    the cost of another pass (seal.batching.cheapest_cuts). Without it a batch that mixes one long sample with
    short ones is padded to the long one throughout."""
    sizes = cheapest_cuts([len(e) for e in items], cap, PASS_OVERHEAD_TOKENS.get(
        torch.device(device).type, PASS_OVERHEAD_TOKENS_OTHER))
    out, start = [], 0
    for size in sizes:
        out.append(items[start:start + size])
        start += size
    return out


def _padded(micro: list[dict], passes: int, filler: dict) -> list[dict]:
    """`micro` followed by padding micro-batches (weight 0, no outputs: seal.bilevel) up to `passes`."""
    return micro + [{**filler, "padding": True}] * (passes - len(micro))


# ----------------------------------------------------------------------------------------------- outputs

def refusal_signals(run: _Run) -> dict:
    """The REFUSAL_SCORES' other parts: the aligned proxy (--model with --safety-adapter, which is theta at step 0)
    on each fine-tuning sample, in run.encoded's order: seal.baselines.behaviour_signals' `refuses` (its own answer
    to the request is a refusal), `propensity` (how readily it refuses the request, graded) and `break_gap` (how
    much more readily than the base model it breaks the response off after its first tokens), and the weight of the
    request-side parts, read from `refuses` (seal.baselines.refusal_weight). The propensity, the relay gap and the
    harm direction's projection are measured only for the scores that use them (a pass over every request; two
    over every response's start; a pass over every request of the data and of --safe)."""
    from .baselines import REFUSAL, _with_adapter, behaviour_signals, relay_weight
    from .data import load_samples

    cfg = run.cfg
    samples, _, _ = load_samples(cfg.data, shape=cfg.shape, fields=parse_fields(cfg.fields), on_error=cfg.on_error,
                                 fmt=cfg.format)
    by_id = {s.id: s for s in samples}
    net = _with_adapter(load_model(cfg.model, device=run.device), cfg.safety_adapter, run.device)
    propensity = REFUSAL if "propensity" in REQUEST_PARTS[cfg.score] else None
    relay = REFUSAL if "relay_gap" in RESPONSE_PARTS.get(cfg.score, ()) else None
    signals = behaviour_signals(net, run.tokenizer, [by_id[e.id] for e in run.encoded], run.device,
                                cfg.max_length, progress=cfg.progress, propensity_refusal=propensity,
                                relay_refusal=relay)
    out = {**{k: signals[k] for k in ("refuses", "break_gap", "propensity", "relay_gap") if k in signals},
           "refusal_weight": refusal_weight(signals["refuses"])}
    if relay is not None:
        out["relay_weight"] = relay_weight([len(run.tokenizer(by_id[e.id].response, add_special_tokens=False)
                                                ["input_ids"]) for e in run.encoded])
    if cfg.score in DIRECTION_PARTS:
        out.update(direction_signal(run, net, [by_id[e.id] for e in run.encoded]))
    return out


def direction_signal(run: _Run, net, samples: list) -> dict:
    """Each sample's request state (the aligned proxy's hidden state at its last request token) projected on two
    directions at the block where one half of --safe separates the other best (seal.baselines.harm_direction):
    `harm_dir` on the harm direction of --safe (its refusal rows' requests minus its helpful rows'), `anchored_dir`
    on the same anchored on the data (its refusal rows' requests minus the mean of all the data's requests:
    seal.baselines.anchored_direction); with the block and its d'."""
    from .baselines import anchored_direction, harm_direction, request_states, split_safe_set
    from .data import load_samples

    cfg = run.cfg
    safe, records, _ = load_samples(cfg.safe, shape=cfg.safe_shape)
    refused = {s.index for s in split_safe_set(safe, records)[1]}
    safe = sorted(safe, key=lambda s: s.index)  # the file's order: the seeded halves do not depend on the split
    net.merge_adapter()  # the aligned proxy, folded as for its answers (seal.baselines.behaviour_signals)
    try:
        states = request_states(net, run.tokenizer, safe, run.device, cfg.max_length, progress=cfg.progress,
                                desc="safe-set requests")
        refusal = torch.tensor([s.index in refused for s in safe])
        found = harm_direction(states, refusal)
        data = request_states(net, run.tokenizer, samples, run.device, cfg.max_length, progress=cfg.progress,
                              desc="requests")
    finally:
        net.unmerge_adapter()
    at = data[:, found["layer"]].double()
    return {"harm_dir": at @ found["direction"],
            "anchored_dir": at @ anchored_direction(states, refusal, data, found["layer"]),
            "direction_block": found["layer"] + 1, "direction_blocks": len(found["dprime"]),
            "direction_dprime": found["dprime"][found["layer"]]}


def run_scores(run: _Run) -> torch.Tensor:
    """What scores.jsonl ranks by (higher = keep):
        weights            the logits w
        visit-gap          -(l(theta) - l(theta_hat)) at each sample's latest visit (an unvisited sample, in a
                           run stopped early, keeps its logit)
        visit-gap+refusal  -(z(visit gap) + z(break_gap) + lambda(R) z(refuses)): the visit gap, the same gap on a
                           refusal continuation after the response's first tokens, and whether the aligned proxy
                           refuses the request, weighted by how rare its refusals are in this data (z over the
                           samples; refusal_signals)
        visit-gap+propensity  the same with the graded refusal propensity (minus the aligned proxy's loss of a
                           fixed refusal right after the request) in place of the yes/no `refuses`; lambda(R) is
                           still read from `refuses`
        visit-gap+refusal+propensity  both request-side parts, the yes/no and the graded, each weighted lambda(R):
                           -(z(visit gap) + z(break_gap) + lambda(R) (z(refuses) + z(propensity)))
        visit-gap+refusal+relay  visit-gap+refusal plus the relay gap at weight rho: the aligned proxy's loss gap to
                           the base model of a fixed refusal after one fixed request that holds the response's
                           start (seal.baselines.behaviour_signals), which reads the response without its
                           request's register; rho = min(1, median response tokens / 16) (relay_weight) sets it
                           aside on answers of a few tokens:
                           -(z(visit gap) + z(break_gap) + rho z(relay_gap) + lambda(R) z(refuses))
        visit-gap+refusal+relay+direction  the same plus z(harm_dir) at weight 1: each request's state projected on
                           the safe set's harm direction (direction_signal)
        visit-gap+refusal+relay+anchored  visit-gap+refusal+relay plus 2 z(anchored_dir): each request's state
                           projected on the safe set's refusal-row mean minus the data's mean (direction_signal)"""
    harm_gap = run.last_loss - run.last_hat if run.theta_hat is not None else None
    if run.cfg.score == "visit-gap":
        return torch.where(torch.isnan(harm_gap), run.w.detach(), -harm_gap)
    if run.cfg.score in REFUSAL_SCORES:
        r, request, response = run.refusal, REQUEST_PARTS[run.cfg.score], RESPONSE_PARTS.get(run.cfg.score, ())
        rho = [r["relay_weight"]] * len(response) if response else []  # the relay gap's, its only response part
        direction = DIRECTION_PARTS.get(run.cfg.score, ())
        harm = weighted_harm([harm_gap, r["break_gap"], *(r[k] for k in response), *(r[k] for k, _ in direction),
                              *(r[k] for k in request)],
                             [1.0, 1.0] + rho + [w for _, w in direction] + [r["refusal_weight"]] * len(request))
        return (-harm).float()
    return run.w.detach()


def score_rows(run: _Run):
    """The score rows in rank order, one at a time (the file is written without holding them all)."""
    weights = dataset_weights(run.w.detach(), run.cfg.weighting)
    score = run_scores(run)
    order = ranked([e.id for e in run.encoded], score.tolist())
    for rank, i in enumerate(order, 1):
        row = {"id": run.encoded[i].id, "index": run.encoded[i].index, "score": round(score[i].item(), 8),
               "weight": round(weights[i].item(), 8), "rank": rank, "loss": _num(run.last_loss[i])}
        if run.theta_hat is not None:
            row["loss_hat"] = _num(run.last_hat[i])
        if run.refusal is not None:
            row["refuses"] = int(run.refusal["refuses"][i].item())
            row["break_gap"] = round(run.refusal["break_gap"][i].item(), 6)
            for key in ("propensity", "relay_gap", "harm_dir", "anchored_dir"):
                if key in run.refusal:
                    row[key] = round(run.refusal[key][i].item(), 6)
        yield row


def _num(x: torch.Tensor):
    v = x.item()
    return None if math.isnan(v) else round(v, 6)


def write_outputs(run: _Run, started: str, wall: float, memory: dict | None = None,
                  phases: dict | None = None) -> dict:
    """scores.jsonl, data_log.jsonl and manifest.json, written by process 0 alone; returns the manifest. `phases`:
    this invocation's wall seconds per phase (setup, bilevel, refusal), so a cost can be read part by part."""
    out = Path(run.cfg.out)
    models = _models(run)
    manifest = {
        "command": "select",
        "config": to_dict(run.cfg),
        "inputs": {"data": file_fingerprint(run.cfg.data), "safe": file_fingerprint(run.cfg.safe)},
        "model": {"name": run.cfg.model, "resolved": resolve_model(run.cfg.model),
                  "parameters": count_parameters(models[0])},
        "data": {name: {**rep.counts(), "rows": rep.rows, "kept": rep.kept, "shape": rep.shape,
                        "format": rep.format} for name, rep in run.reports.items()},
        "samples_scored": len(run.encoded),
        "steps": run.step, "steps_per_epoch": run.steps_per_epoch, "total_steps": run.total_steps,
        "finished": run.step >= run.total_steps,
        "versions": versions(), "device": str(run.device), "torch_threads": torch.get_num_threads(),
        "started": started, "wall_time_s": round(wall, 2), "processes": run.shard.world, **(memory or {}),
        "phase_wall_s": {k: round(v, 2) for k, v in (phases or {}).items()},
    }
    if run.refusal is not None:
        manifest["refusal"] = {"refused_share": round(float(run.refusal["refuses"].mean()), 6),
                               "refusal_weight": round(run.refusal["refusal_weight"], 6), "judge": "keyword:seal-v1"}
        if "relay_weight" in run.refusal:
            manifest["refusal"]["relay_weight"] = round(run.refusal["relay_weight"], 6)
        if "harm_dir" in run.refusal:
            manifest["refusal"]["direction"] = {"block": run.refusal["direction_block"],
                                                "blocks": run.refusal["direction_blocks"],
                                                "dprime": round(run.refusal["direction_dprime"], 4)}
    if not run.shard.is_main:
        return manifest
    write_scores(out / "scores.jsonl", score_rows(run))
    with open(out / "data_log.jsonl", "w", encoding="utf-8") as f:
        for name, rep in run.reports.items():
            for row in rep.dropped:
                f.write(json.dumps({"set": name, "action": "dropped", **row}) + "\n")
            for row in rep.truncated:
                f.write(json.dumps({"set": name, "action": "truncated", **row}) + "\n")
    write_json(out / "manifest.json", manifest)
    return manifest


# Defaults of lr, epochs and gamma_schedule, by starting point (docs/selection-quality.md has the measurements).
# From an alignment adapter (--safety-adapter) the loss gap starts out as aligned-minus-base loss, already a
# strong signal: short training with gamma at its final value from the first step adds to it without washing
# it out. From a plain model the two models must first grow apart: a ramp and more steps.
PRESETS = {
    "safety_adapter": {"lr": 1e-4, "epochs": 1, "gamma_schedule": "constant"},
    "plain": {"lr": 2e-4, "epochs": 2, "gamma_schedule": "linear"},
}


# `--method seal-reference`: Algorithm 2 as the published reference code (hanshen95/SEAL) runs it, an ablation of
# what this project changed: Adam on the logits (selector lr 4e-3 in its scripts; every logit moves each step),
# gamma 0 for the first epoch then +0.03 per epoch, no auxiliary model, selection on the aligned model itself (for
# the embedded model with --safety-adapter auto: the cached `seal align` model, merged). REFERENCE is fixed;
# REFERENCE_DEFAULTS may be overridden. lr: this project's plain preset (the reference fine-tunes all weights at
# 1e-5; LoRA needs a larger step).
REFERENCE = {"algorithm": 2, "w_optimizer": "adam", "lr_w": 4e-3, "gamma_schedule": "reference",
             "theta_offset": "none"}
REFERENCE_DEFAULTS = {"epochs": 3, "lr": 2e-4, "centre": "batch"}


def _unset_filled(cfg: SelectConfig, defaults: dict) -> dict:
    """`defaults` for the settings cfg leaves unset (None); cfg's own value where it sets one."""
    return {k: v if getattr(cfg, k) is None else getattr(cfg, k) for k, v in defaults.items()}


def _aligned(cfg: SelectConfig) -> Path:
    """The cached `seal align` model of the embedded cfg.model (made here on first use)."""
    from .pipeline import aligned_model
    return Path(aligned_model(cfg.model, {}, seed=0, progress=cfg.progress)[0])


def _default_score(cfg: SelectConfig, safety_adapter: str | None) -> str:
    """visit-gap+refusal+relay+direction for the bilevel selector from a safety adapter (the aligned proxy whose
    refusals it reads), visit-gap without one, the learned logits with Algorithm 2. visit-gap+refusal (the default
    2026-12-03 to 2026-12-07) gained the relay gap, then the safe set's harm direction, each after a rule written
    before its test mix was built: on a held-out mix it ranked at least as well (docs/selection-quality.md, "The
    relay candidate on mixes it has not seen" and "A harm direction from the safe set"). The same direction
    anchored on the data's own mean (visit-gap+refusal+relay+anchored) ranked better on every hard mix and its
    held-out one, but the demo's SEAL model refused 19 points more than the random one's, one short of issue 4's
    target, so its rule dropped it (section "Variants of the harm direction")."""
    if cfg.method != "seal" or cfg.algorithm != 1:
        return "weights"
    return "visit-gap+refusal+relay+direction" if safety_adapter else "visit-gap"


def resolve_defaults(cfg: SelectConfig) -> SelectConfig:
    """cfg with safety_adapter a folder or None ("none" -> None; "auto" -> the cached `seal align` adapter of an
    embedded --model when the method can use one, made here on first use, else None), and lr, epochs and
    gamma_schedule filled from PRESETS (centre by algorithm, score by _default_score) where not given;
    seal-reference's fixed settings."""
    from .models import EMBEDDED_MODELS

    cfg = replace(cfg, mixed_precision=resolve_mixed_precision(cfg.mixed_precision, cfg.device))
    value = cfg.safety_adapter
    if cfg.method == "seal-reference":  # the reference selects on the aligned model itself, adapter merged
        model = cfg.model
        if value == "auto" and cfg.model in EMBEDDED_MODELS:
            model = str(_aligned(cfg))
        elif value not in ("auto", "none", None):
            raise ConfigError("method seal-reference selects on the aligned model itself: pass it (merged, e.g. seal "
                              "align's RUN folder) as --model, without --safety-adapter")
        if cfg.score == "visit-gap":
            raise ConfigError("method seal-reference ranks by its weights; score visit-gap needs algorithm 1")
        return replace(cfg, model=model, safety_adapter=None, score="weights", **REFERENCE,
                       **_unset_filled(cfg, REFERENCE_DEFAULTS))
    if value == "auto":
        uses = cfg.method in ("loss", "loss-gap", "gradient", "behaviour") or (
            cfg.method == "seal" and cfg.offset != "none")
        value = None
        if uses and cfg.model in EMBEDDED_MODELS:
            log.info("safety adapter: the aligned %s from `seal align` (cached; --safety-adapter none to skip)",
                     cfg.model)
            value = str(_aligned(cfg) / "adapter")
    value = None if value == "none" else value
    if cfg.score in REFUSAL_SCORES and not value:
        raise ConfigError(f"score {cfg.score} reads the refusals of the aligned proxy: it needs --safety-adapter "
                          "(seal align's RUN/adapter; auto finds it for an embedded --model)")
    preset = PRESETS["safety_adapter" if value and cfg.method == "seal" else "plain"]
    preset = {**preset, "centre": "data" if cfg.algorithm == 1 else "batch",
              "score": _default_score(cfg, value)}
    return replace(cfg, safety_adapter=value, **_unset_filled(cfg, preset))


def run_select(cfg: SelectConfig) -> dict:
    """Run `seal select` end to end and return the manifest. Resumable with cfg.resume."""
    shard = current_shard()
    if not shard.is_main:  # process 0 resolves first: a missing aligned model is made once, then found cached
        shard.barrier()
    cfg = resolve_defaults(cfg)
    if shard.is_main:
        shard.barrier()
    if cfg.method not in ("seal", "seal-reference"):
        if shard.world > 1:
            raise ConfigError(f"method {cfg.method} runs in one process; launch it without torchrun/accelerate")
        return run_baseline(cfg)
    out = Path(cfg.out)
    if shard.is_main:
        prepare_out(cfg.out, cfg.resume, cfg.overwrite,
                    ("scores.jsonl", "manifest.json", "train_log.jsonl", "data_log.jsonl"))
    shard.barrier()
    t0 = time.time()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    phases = {}
    with PeakMemory() as peak:
        run = setup(cfg)
        previous_wall = 0.0
        if cfg.resume and load_checkpoint(run):
            log.info("resumed at step %d of %d", run.step, run.total_steps)
            if (out / "manifest.json").exists():
                previous_wall = json.loads((out / "manifest.json").read_text()).get("wall_time_s", 0.0)
        phases["setup"] = time.time() - t0
        train(run)
        phases["bilevel"] = time.time() - t0 - phases["setup"]
        if cfg.score in REFUSAL_SCORES and shard.is_main:
            run.refusal = refusal_signals(run)
            phases["refusal"] = time.time() - t0 - phases["setup"] - phases["bilevel"]
    manifest = write_outputs(run, started, previous_wall + time.time() - t0, peak.as_dict(), phases)
    shard.barrier()
    return manifest
