"""`seal run CONFIG.yaml [key=value ...]`: the whole pipeline in one run folder.

    (cache)/aligned/  seal align (optional): the aligned proxy and target, kept in the user cache and shared
                      by every run with the same alignment settings (path in run.json)
    mix/              seal mix (optional): the contaminated fine-tuning set and its labels
    select/           seal select on the proxy: scores.jsonl
    data/             the fine-tuning sets compared: full.jsonl, random.jsonl, seal.jsonl
    ft-<name>/        seal finetune of the target on each set
    eval-<name>/      seal evaluate of the starting model and of each fine-tuned model
    report.md/.html   seal report

Each stage folder holds `stage.json` with a key made of the stage's settings and the keys of the stages it
reads. A stage whose key is unchanged and which finished is skipped; one that was interrupted is resumed;
one whose key changed is run again (and so is everything downstream, since its key changes too)."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import ConfigError
from .manifest import write_json

log = logging.getLogger(__name__)

COMPARISONS = ("full", "random", "seal", "seal-target")


@dataclass(kw_only=True)
class RunConfig:
    """Settings of `seal run`. Nested stage settings take the keys of that stage's command
    (e.g. `select.epochs=3`, `finetune.lr=1e-4`, `evaluate.n_harmful=50`)."""

    out: str = field(metadata={"help": "run folder"})
    model: str = field(default="smollm2", metadata={"help": "base model: the selection proxy and the target"})
    target: str | None = field(default=None, metadata={
        "help": "model to fine-tune and evaluate (default: the aligned model, else --model)"})
    align: bool = field(default=True, metadata={"help": "align --model first (seal align) and use the result"})
    align_target: bool = field(default=True, metadata={
        "help": "with align and a --target: align the target too (seal align, the same settings); false: fine-tune "
                "--target as given (a model that is already aligned)"})
    align_settings: dict = field(default_factory=dict, metadata={"help": "settings of seal align"})
    data: str | None = field(default=None, metadata={"help": "fine-tuning set (default: built by the mix stage)"})
    labels: str | None = field(default=None, metadata={
        "help": "labels file {index,label} for detection metrics (the mix stage writes one)"})
    mix: dict = field(default_factory=lambda: {"benign": "builtin:benign-tasks", "harmful": "builtin:harmful",
                                               "size": 300, "harmful_fraction": 0.1},
                      metadata={"help": "settings of seal mix (used when --data is not given)"})
    safe: str = field(default="builtin:safe", metadata={"help": "trusted safe set for selection"})
    select: dict = field(default_factory=dict, metadata={"help": "settings of seal select"})
    target_select: dict = field(default_factory=dict, metadata={
        "help": "settings of the target's own selection (seal-target) that differ from `select`, e.g. "
                "{lora_layers: null} when the proxy trains only its top layers"})
    keep: float = field(default=0.8, metadata={"help": "fraction of the data kept by SEAL and by random"})
    compare: list[str] = field(default_factory=lambda: ["full", "random", "seal"], metadata={
        "help": "fine-tuning sets to compare: full, random, seal (the proxy's selection), seal-target (the "
                "target's own selection, with --target: what selecting with the target itself would give)"})
    finetune: dict = field(default_factory=dict, metadata={"help": "settings of seal finetune"})
    evaluate: dict = field(default_factory=dict, metadata={"help": "settings of seal evaluate"})
    seed: int = field(default=0, metadata={"help": "seed of every stage"})
    progress: bool = field(default=True, metadata={"help": "show progress bars"})

    def validate(self) -> None:
        unknown = set(self.compare) - set(COMPARISONS)
        if unknown or not self.compare:
            raise ConfigError(f"compare: {sorted(unknown)} not in {COMPARISONS}")
        if "seal-target" in self.compare and not self.target:
            raise ConfigError("compare seal-target selects with --target as its own proxy: give a target")
        if not 0 < self.keep <= 1:
            raise ConfigError(f"keep must be a fraction in (0, 1], got {self.keep}")


def _key(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Stages:
    """Runs stages with caching: `stage.json` holds {key, done}."""

    def __init__(self, out: Path):
        self.out = out
        self.ran: list[str] = []
        self.skipped: list[str] = []

    def run(self, name: str, key_obj, fn, folder: Path | None = None):
        folder = folder or self.out / name
        marker = folder / "stage.json"
        key = _key(key_obj)
        previous = json.loads(marker.read_text()) if marker.exists() else None
        if previous and previous["key"] == key and previous["done"]:
            log.info("[cached] %s", name)
            self.skipped.append(name)
            return key
        resume = bool(previous and previous["key"] == key)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(marker, {"key": key, "done": False, "settings": key_obj})
        log.info("[run] %s%s", name, " (resuming)" if resume else "")
        t0 = time.time()
        fn(folder, resume)
        write_json(marker, {"key": key, "done": True, "settings": key_obj, "wall_time_s": round(time.time() - t0, 2)})
        self.ran.append(name)
        return key


def _fingerprint(path: str | None) -> str | None:
    from .data import file_fingerprint
    return None if path is None else file_fingerprint(path)["sha256"]


def _offset_selection(settings: dict) -> bool:
    """Whether `seal select` with these settings runs with a safety offset (SelectConfig.offset), and was not
    told which safety adapter to use (or to use none: safety_adapter null)."""
    from .config import build
    from .select import SelectConfig
    if "safety_adapter" in settings:
        return False
    return build(SelectConfig, {**settings, "data": "", "safe": "", "out": ""}).offset != "none"


# Options added to seal finetune/align/select after their stages were first cached: left out of the cache keys
# while unset, so existing aligned models and runs stay valid.
_LATER_OPTIONS = ("safety_data", "safety_count", "mixed_precision")


def _key_settings(settings: dict, drop: tuple[str, ...] = ()) -> dict:
    """A stage's resolved settings as its cache key holds them: without `drop`, nor the later options left unset."""
    return {k: v for k, v in settings.items() if k not in drop and not (k in _LATER_OPTIONS and v is None)}


def _precision_resolved(settings: dict) -> dict:
    """settings with mixed_precision as seal.models.resolve_mixed_precision reads it ("auto" -> bf16 or no on this
    machine, YAML's false -> no), so that the stage's cache key and manifest name the precision it is made with."""
    if "mixed_precision" not in settings:
        return settings
    from .models import resolve_mixed_precision
    return {**settings, "mixed_precision": resolve_mixed_precision(settings["mixed_precision"],
                                                                   settings.get("device", "auto"))}


def aligned_model(model: str, align_settings: dict, seed: int = 0, progress: bool = True,
                  stages: Stages | None = None) -> tuple[str, str]:
    """`model` aligned by `seal align` with `align_settings`, kept in the user cache keyed by the settings and the
    alignment data, so every run (and `seal select --safety-adapter auto`) with the same settings shares one.
    Made (or resumed) when missing. Returns (model folder, cache key)."""
    from .config import to_dict
    from .models import cache_dir
    from .train import RUN_ONLY, AlignConfig, run_align
    settings = _precision_resolved({"seed": seed, **align_settings, "model": model})
    resolved = _key_settings(to_dict(AlignConfig(out="", **settings)), drop=RUN_ONLY)
    key_obj = {"align": resolved, "inputs": _fingerprint(resolved["data"])}  # defaults included: a changed
    # default makes a new aligned model
    folder = cache_dir() / "aligned" / _key(key_obj)
    key = (stages or Stages(folder.parent)).run("aligned", key_obj, lambda d, resume: run_align(AlignConfig(
        out=str(d), resume=resume, overwrite=not resume, progress=progress, **settings)), folder=folder)
    return str(folder), key


def run_pipeline(cfg: RunConfig) -> dict:
    from .config import build, to_dict
    from .evaluate import EvaluateConfig, run_evaluate
    from .filter import FilterConfig, n_kept, run_filter
    from .mix import MixConfig, run_mix
    from .select import SelectConfig, resolve_defaults, run_select
    from .train import FinetuneConfig, run_finetune

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    stages = Stages(out)
    common = {"seed": cfg.seed}
    t0 = time.time()

    # 1. the aligned starting point (proxy and target). Aligned models are kept in the user cache, keyed by
    #    their settings and inputs, so every run with the same alignment settings reuses one.
    model, model_key = cfg.model, cfg.model
    if cfg.align:
        model, model_key = aligned_model(cfg.model, cfg.align_settings, cfg.seed, cfg.progress, stages)
    target, target_key = model, model_key
    if cfg.target:
        target, target_key = cfg.target, cfg.target
        if cfg.align and cfg.align_target:
            target, target_key = aligned_model(cfg.target, cfg.align_settings, cfg.seed, cfg.progress, stages)

    # 2. the fine-tuning set (and labels, when known)
    if cfg.data:
        data, labels, data_key = cfg.data, cfg.labels, _fingerprint(cfg.data)
    else:
        settings = {**common, **cfg.mix}
        data_key = stages.run("mix", {"mix": settings, "inputs": [_fingerprint(settings.get("benign")),
                                                                  _fingerprint(settings.get("harmful"))]},
                              lambda d, resume: run_mix(MixConfig(out=str(d), **settings)))
        data, labels = str(out / "mix" / "mix.jsonl"), str(out / "mix" / "labels.jsonl")

    # 3. selection on the proxy (and, for seal-target, on the target). With an aligned model, Algorithm 1 runs on
    #    the base model with the alignment adapter as theta's safety offset (SelectConfig.safety_adapter), unless
    #    the settings say otherwise.
    def selection(stage: str, base: str, aligned: str, aligned_key: str, own: dict | None = None) -> str:
        chosen = {**cfg.select, **(own or {})}
        settings = {**common, **chosen, "model": aligned, "data": data, "safe": cfg.safe}
        if cfg.align and _offset_selection(chosen) and (Path(aligned) / "adapter" / "adapter_config.json").exists():
            settings.update(model=base, safety_adapter=str(Path(aligned) / "adapter"))
        settings.setdefault("safety_adapter", "none")  # align: false means no alignment, here too
        # the key holds every resolved setting, so a changed default of seal select reruns the stage
        resolved = _key_settings(to_dict(resolve_defaults(build(SelectConfig, {**settings, "out": ""}))))
        return stages.run(stage, {"select": settings, "resolved": resolved, "upstream": [aligned_key, data_key],
                                  "safe": _fingerprint(cfg.safe)},
                          lambda d, resume: run_select(SelectConfig(out=str(d), resume=resume, overwrite=not resume,
                                                                    progress=cfg.progress, **settings)))

    select_keys = [selection("select", cfg.model, model, model_key)]
    if "seal-target" in cfg.compare:
        select_keys.append(selection("select-target", cfg.target, target, target_key, cfg.target_select))

    # 4. the compared fine-tuning sets: full, a random fraction, SEAL's top fraction
    def make_sets(d: Path, resume: bool) -> None:
        from .data import load_samples, write_records
        if "full" in cfg.compare or "random" in cfg.compare:
            samples, records, _ = load_samples(data)
            raw = {r.index: r.raw for r in records}
            rows = [raw[s.index] for s in samples]
            write_records(rows, d / "full.jsonl", "jsonl")
            chosen = sorted(random.Random(f"{cfg.seed}:random").sample(range(len(rows)), n_kept(cfg.keep, len(rows))))
            write_records([rows[i] for i in chosen], d / "random.jsonl", "jsonl")
        for name, stage in (("seal", "select"), ("seal-target", "select-target")):
            if name in cfg.compare:
                run_filter(FilterConfig(data=data, scores=str(out / stage / "scores.jsonl"),
                                        out=str(d / f"{name}.jsonl"), keep=cfg.keep, out_format="jsonl"))

    stages.run("data", {"keep": cfg.keep, "compare": cfg.compare, "seed": cfg.seed,
                        "upstream": [data_key, *select_keys]}, make_sets)

    # 5. fine-tune the target on each set and evaluate everything the same way
    eval_settings = {**common, **cfg.evaluate}
    stages.run("eval-start", {"evaluate": eval_settings, "upstream": target_key},
               lambda d, resume: run_evaluate(EvaluateConfig(model=target, out=str(d), progress=cfg.progress,
                                                             **eval_settings)))
    ft_settings = _precision_resolved({**common, **cfg.finetune, "model": target})
    for name in cfg.compare:
        data_file = _fingerprint(str(out / "data" / f"{name}.jsonl"))
        ft_key = stages.run(f"ft-{name}", {"finetune": ft_settings, "upstream": [target_key, data_file]},
                            lambda d, resume, name=name: run_finetune(FinetuneConfig(
                                data=str(out / "data" / f"{name}.jsonl"), out=str(d), resume=resume,
                                overwrite=not resume, progress=cfg.progress, **ft_settings)))
        stages.run(f"eval-{name}", {"evaluate": eval_settings, "upstream": ft_key},
                   lambda d, resume, name=name: run_evaluate(EvaluateConfig(
                       model=str(out / f"ft-{name}"), out=str(d), progress=cfg.progress, **eval_settings)))

    # 6. the report
    from .report import write_report
    summary = {"out": str(out), "labels": labels, "model": model, "target": target, "ran": stages.ran,
               "skipped": stages.skipped,
               "wall_time_s": round(time.time() - t0, 2)}
    write_json(out / "run.json", {**summary, "config": {k: v for k, v in vars(cfg).items()}})
    summary["report"] = str(write_report(out))
    log.info("report: %s", summary["report"])
    return summary
