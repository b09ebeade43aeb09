"""`seal finetune` and `seal align`: (weighted) supervised fine-tuning with the same data layer, chat format and
response-only loss as selection. LoRA by default (saved as an adapter and, merged, as a full model folder),
full fine-tuning as an option. Resumable from checkpoints."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .batching import epoch_batches, micro_batches
from .checkpoint import load_state, prepare_out, restore_params, save_state, trainable_params, truncate_log
from .config import ConfigError, parse_fields, to_dict
from .data import file_fingerprint
from .distributed import (
    current_shard,
    fsdp_requested,
    full_state,
    load_full_state,
    no_grad_sync,
    passes_per_process,
    shard_model,
)
from .manifest import versions, write_json
from .models import (
    MIXED_PRECISION,
    LoraSettings,
    add_lora,
    count_parameters,
    load_model,
    load_tokenizer,
    mixed_precision_autocast,
    per_sample_loss,
    pick_device,
    resolve_mixed_precision,
    resolve_model,
)
from .tokenization import LENGTH_POLICIES, Collator, load_and_encode

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class FinetuneConfig:
    """Settings of `seal finetune`."""

    # Parameters that control the data
    data: str = field(metadata={"help": "training data (any format seal reads, or builtin:NAME)"})
    out: str = field(metadata={"help": "output folder: model/ (merged), adapter/, manifest.json, logs"})
    shape: str | None = field(default=None, metadata={"help": "record shape (auto-detected)"})
    fields: list[str] | None = field(default=None, metadata={"help": "field names, e.g. prompt=q,response=a"})
    format: str | None = field(default=None, metadata={"help": "input format when the file name does not say"})
    weights_column: str | None = field(default=None, metadata={
        "help": "per-sample loss weights from this column (e.g. written by seal filter --weights-column)"})
    safety_data: str | None = field(default=None, metadata={
        "help": "SafeInstr (Bianchi et al. 2024, arXiv:2309.07875): safety demonstrations (harmful requests with "
                "refusals) mixed into the training data, e.g. builtin:safety-demos; combine with a SEAL-filtered "
                "--data for SEAL + SafeInstr"})
    safety_count: int | None = field(default=None, metadata={
        "help": "how many rows of --safety-data to add, drawn seeded (default: all)"})
    max_length: int = field(default=512, metadata={"help": "tokens per sample"})
    length_policy: str = field(default="truncate", metadata={"help": "truncate or drop", "choices": LENGTH_POLICIES})
    on_error: str = field(default="raise", metadata={"help": "malformed records: raise or skip",
                                                      "choices": ("raise", "skip")})

    # Parameters that control the model and training
    model: str = field(default="smollm2", metadata={"help": "model to fine-tune: smollm2, a folder or a hub id"})
    finetuning: str = field(default="lora", metadata={"help": "lora or full", "choices": ("lora", "full")})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha"})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout"})
    lora_targets: list[str] = field(default_factory=lambda: ["all-linear"], metadata={
        "help": "modules to adapt (comma-separated) or all-linear"})
    lr: float = field(default=2e-4, metadata={"help": "learning rate (AdamW)"})
    epochs: int = field(default=3, metadata={"help": "passes over the data"})
    batch_size: int = field(default=8, metadata={"help": "samples per optimizer step"})
    micro_batch_size: int | None = field(default=None, metadata={"help": "samples per forward pass"})
    group_by_length: bool = field(default=True, metadata={
        "help": "batch samples of similar length together (less padding; order still seeded and random)"})
    seed: int = field(default=0, metadata={"help": "seed"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, ..."})
    mixed_precision: str | None = field(default=None, metadata={
        "help": "bf16: forward and backward under bfloat16 autocast (weights and optimizer stay fp32); auto: bf16 "
                "where the device computes it in hardware (a CUDA GPU with bf16, a CPU with AVX512-BF16/AMX), else "
                "no; default no",
        "choices": MIXED_PRECISION})
    merge: bool = field(default=True, metadata={"help": "also save the LoRA-merged full model in out/model"})
    fsdp: bool = field(default=False, metadata={
        "help": "with several processes, shard the model, gradients and optimizer states across them (PyTorch "
                "FSDP2, ZeRO-3) instead of a replica each; also set by an accelerate config that chooses FSDP"})

    # Parameters that control the run
    checkpoint_every: int = field(default=50, metadata={"help": "steps between checkpoints"})
    resume: bool = field(default=False, metadata={"help": "continue the run in --out from its checkpoint"})
    overwrite: bool = field(default=False, metadata={"help": "replace an earlier run in --out"})
    max_steps: int | None = field(default=None, metadata={"help": "stop after this many steps (resume later)"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "max_length", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.micro_batch_size is not None and not 1 <= self.micro_batch_size <= self.batch_size:
            raise ConfigError("micro_batch_size must be between 1 and batch_size")
        if self.safety_count is not None and (self.safety_count < 0 or not self.safety_data):
            raise ConfigError("safety_count needs --safety-data and must be >= 0")


@dataclass(kw_only=True)
class AlignConfig(FinetuneConfig):
    """Settings of `seal align`: fine-tuning on the built-in alignment set (refusals to harmful requests and
    helpful answers to benign ones) with LoRA on all linear layers, to make an aligned starting model."""

    data: str = field(default="builtin:align-broad", metadata={
        "help": "alignment data: refusals to harmful requests plus helpful answers, including benign requests about "
                "harm (default: builtin:align-broad; builtin:align without those, the default until 2026-12-04)"})
    lr: float = field(default=3e-4, metadata={"help": "learning rate (AdamW)"})
    epochs: int = field(default=2, metadata={"help": "passes over the data"})
    max_length: int = field(default=256, metadata={"help": "tokens per sample"})


RUN_ONLY = ("resume", "overwrite", "max_steps", "checkpoint_every", "progress", "out", "merge", "fsdp")


def _with_safety_demos(cfg: FinetuneConfig, tokenizer, encoded: list, weights) -> tuple:
    """SafeInstr: the training samples plus cfg.safety_count rows of cfg.safety_data (seeded draw, weight 1).
    Returns (samples, weights, what was added)."""
    demos, demo_report = load_and_encode(cfg.safety_data, tokenizer, max_length=cfg.max_length,
                                         length_policy=cfg.length_policy, on_error=cfg.on_error, name="safety demos")
    count = len(demos) if cfg.safety_count is None else cfg.safety_count
    if count > len(demos):
        raise ConfigError(f"safety_count {count}: {cfg.safety_data} has only {len(demos)} usable rows")
    pick = torch.randperm(len(demos), generator=torch.Generator().manual_seed(cfg.seed))[:count].sort().values
    demos = [demos[i] for i in pick.tolist()]
    info = {"data": cfg.safety_data, "added": len(demos), "available": demo_report.kept}
    log.info("SafeInstr: %d safety demonstrations from %s added to %d training samples", len(demos),
             cfg.safety_data, len(encoded))
    if weights is not None:
        weights = torch.cat([weights, torch.ones(len(demos))])
    return encoded + demos, weights, info


def _weights(cfg: FinetuneConfig, encoded) -> torch.Tensor | None:
    if not cfg.weights_column:
        return None
    from .data import load_samples
    _, records, _ = load_samples(cfg.data, shape=cfg.shape, fields=parse_fields(cfg.fields), on_error=cfg.on_error,
                                 fmt=cfg.format)
    raw = {r.index: r.raw for r in records}
    values = []
    for e in encoded:
        v = raw[e.index].get(cfg.weights_column)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
            raise ConfigError(f"{cfg.data}: row {e.index}: column '{cfg.weights_column}' must be a number >= 0, "
                              f"got {v!r}")
        values.append(float(v))
    return torch.tensor(values)


def run_finetune(cfg: FinetuneConfig) -> dict:
    """Fine-tune cfg.model on cfg.data; returns the manifest (also written to out/manifest.json)."""
    shard = current_shard()  # several processes (torchrun / accelerate launch): data-parallel, seal.distributed
    cfg = replace(cfg, mixed_precision=resolve_mixed_precision(cfg.mixed_precision, cfg.device))
    out = Path(cfg.out)
    if shard.is_main:
        prepare_out(cfg.out, cfg.resume, cfg.overwrite, ("model", "adapter", "manifest.json", "train_log.jsonl",
                                                         "data_log.jsonl"))
    shard.barrier()
    t0 = time.time()
    torch.manual_seed(cfg.seed)
    tokenizer = load_tokenizer(cfg.model)
    encoded, report = load_and_encode(cfg.data, tokenizer, shape=cfg.shape, fields=parse_fields(cfg.fields),
                                      fmt=cfg.format, max_length=cfg.max_length, length_policy=cfg.length_policy,
                                      on_error=cfg.on_error, name="training")
    weights = _weights(cfg, encoded)
    safety_demos = None
    if cfg.safety_data:
        encoded, weights, safety_demos = _with_safety_demos(cfg, tokenizer, encoded, weights)
    device = shard.device if shard.world > 1 else pick_device(cfg.device)
    fsdp = shard.world > 1 and fsdp_requested(cfg.fsdp)
    model = _build_model(cfg, torch.device("cpu") if fsdp else device)  # FSDP moves each process's shard there
    if fsdp:
        shard_model(model, device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    plain = model  # the module to save; with several processes (DDP), `model` is Accelerate's wrapper of it
    if shard.world > 1 and not fsdp:
        from accelerate import Accelerator
        # mixed precision is this command's own --mixed-precision (autocast), whatever an accelerate config says
        model, optimizer = Accelerator(cpu=device.type == "cpu", mixed_precision="no").prepare(model, optimizer)
    autocast = mixed_precision_autocast(device, cfg.mixed_precision)
    collate = Collator(tokenizer.pad_token_id)
    steps_per_epoch = math.ceil(len(encoded) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    key = {k: v for k, v in to_dict(cfg).items() if k not in RUN_ONLY}
    key["data_sha256"] = file_fingerprint(cfg.data)["sha256"]
    if cfg.safety_data:
        key["safety_sha256"] = file_fingerprint(cfg.safety_data)["sha256"]
    step, total_loss = 0, None
    state = load_state(out) if cfg.resume else None
    if state is not None:
        if state["key"] != key:
            raise ConfigError(f"{out}/checkpoint: made with other settings or data; use --overwrite to start again")
        if state.get("fsdp", False) != fsdp:
            raise ConfigError(f"{out}/checkpoint: made {'with' if state.get('fsdp') else 'without'} FSDP; resume "
                              f"it the same way or use --overwrite to start again")
        if fsdp:
            load_full_state(plain, optimizer, state["params"], state["optimizer"])
        else:
            restore_params(plain, state["params"])
            optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        step = state["step"]
        log.info("resumed at step %d of %d", step, total)

    micro = cfg.micro_batch_size or cfg.batch_size
    log_path = out / "train_log.jsonl"
    stop_at = total if cfg.max_steps is None else min(total, step + cfg.max_steps)
    lengths = [len(e) for e in encoded] if cfg.group_by_length else None
    batches, batches_epoch = [], -1
    bar = tqdm(total=total, initial=step, desc="seal finetune", disable=not (cfg.progress and shard.is_main),
               unit="step", dynamic_ncols=True)
    if shard.is_main:
        truncate_log(log_path, step)
    else:
        log_path = Path(os.devnull)  # one log, by process 0
    with open(log_path, "a" if step else "w", encoding="utf-8", buffering=1) as log_file:
        while step < stop_at:
            epoch, k = divmod(step, steps_per_epoch)
            if epoch != batches_epoch:
                batches = epoch_batches(len(encoded), cfg.batch_size, cfg.seed, epoch, lengths)
                batches_epoch = epoch
            idx = batches[k]
            w_all = torch.ones(len(idx)) if weights is None else weights[idx]
            norm = max(float(w_all.sum()), 1e-12)     # weighted mean over the whole batch
            mine = shard.part(len(idx))               # this process's part (all of it on one process)
            if not mine:                              # a tiny batch: join the gradient sync with a zero loss
                mine = [0]
                w_all = torch.zeros(len(idx))
            w = w_all[mine]
            chunks = micro_batches([encoded[i] for i in idx[mine].tolist()], micro)
            if fsdp:  # as many passes as the fullest process (each gathers the parameters): pad with weight 0
                pad = passes_per_process(len(idx), shard.world, micro) - len(chunks)
                chunks += [[encoded[idx[0]]]] * pad
                w = torch.cat([w, torch.zeros(pad)])
            total_loss, start = 0.0, 0
            for c, chunk in enumerate(chunks):
                batch = {k_: v.to(device) for k_, v in collate(chunk).items()}
                # several processes: gradients are averaged across them, so each scales its part by their number;
                # they are synchronised once, on the last micro-batch
                sync = nullcontext() if shard.world == 1 or c == len(chunks) - 1 else no_grad_sync(model, fsdp)
                with sync:
                    with autocast:
                        losses = per_sample_loss(model, batch)
                    w_mb = w[start:start + len(chunk)].to(losses.device)
                    loss = (w_mb * losses.float()).sum() / norm
                    (loss * shard.world).backward()
                total_loss += loss.item()
                start += len(chunk)
            total_loss = shard.total(total_loss)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            log_file.write(json.dumps({"step": step, "epoch": epoch, "loss": total_loss}) + "\n")
            bar.update(1)
            bar.set_postfix(loss=f"{total_loss:.3f}")
            if step % cfg.checkpoint_every == 0 or step == stop_at:
                if fsdp:   # gathered by every process: an adapter onto each, a whole model onto process 0 only
                    params_now, optim_now = full_state(plain, optimizer, trainable_only=cfg.finetuning == "lora")
                elif shard.is_main:
                    params_now, optim_now = trainable_params(plain), optimizer.state_dict()
                if shard.is_main:
                    log_file.flush()
                    save_state(out, {"step": step, "key": key, "optimizer": optim_now, "fsdp": fsdp,
                                     "rng": torch.get_rng_state(), "params": params_now})
    bar.close()

    finished = step >= total
    manifest = {
        "command": "finetune", "config": to_dict(cfg), "inputs": {"data": file_fingerprint(cfg.data)},
        "model": {"name": cfg.model, "resolved": resolve_model(cfg.model), "parameters": count_parameters(plain)},
        "data": {**report.counts(), "rows": report.rows, "kept": report.kept, "shape": report.shape},
        "safety_demos": safety_demos,
        "samples": len(encoded), "steps": step, "total_steps": total, "finished": finished,
        "final_loss": total_loss if step else None, "output_model": str(out / "model") if finished else None,
        "versions": versions(), "device": str(device), "processes": shard.world, "fsdp": fsdp,
        "wall_time_s": round(time.time() - t0, 2),
    }
    if fsdp and finished:  # the whole model, gathered onto process 0 (every process takes part)
        whole, _ = full_state(plain)
        if shard.is_main:
            plain = _build_model(cfg, torch.device("cpu"))
            plain.load_state_dict(whole)
    if not shard.is_main:
        shard.barrier()
        return manifest
    if finished:
        _save_model(plain, tokenizer, out, cfg)
    with open(out / "data_log.jsonl", "w", encoding="utf-8") as f:
        for row in report.dropped + report.truncated:
            f.write(json.dumps(row) + "\n")
    write_json(out / "manifest.json", manifest)
    shard.barrier()
    return manifest


def _build_model(cfg: FinetuneConfig, device: torch.device):
    """The model to fine-tune: cfg.model, with a new LoRA adapter unless fine-tuning it fully."""
    model = load_model(cfg.model, device=device)
    if cfg.finetuning == "lora":
        model = add_lora(model, LoraSettings(cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_targets))
    return model


def _save_model(model, tokenizer, out: Path, cfg: FinetuneConfig) -> None:
    """LoRA: the adapter in out/adapter and (merge=True) the merged model in out/model; full: out/model."""
    import shutil
    for name in ("model", "adapter"):
        shutil.rmtree(out / name, ignore_errors=True)
    if cfg.finetuning == "lora":
        model.save_pretrained(out / "adapter")
        tokenizer.save_pretrained(out / "adapter")
        if not cfg.merge:
            return
        model = model.merge_and_unload()
    model.save_pretrained(out / "model")
    tokenizer.save_pretrained(out / "model")


def run_align(cfg: AlignConfig) -> dict:
    """`seal align`: run_finetune with alignment defaults."""
    return run_finetune(cfg)
