"""The `seal` command line. Each command is a thin wrapper over a function with a plain signature:

    seal align    -> seal.train.run_align(AlignConfig)
    seal mix      -> seal.mix.run_mix(MixConfig)
    seal select  -> seal.select.run_select(SelectConfig)
    seal filter  -> seal.filter.run_filter(FilterConfig)
    seal finetune -> seal.train.run_finetune(FinetuneConfig)
    seal evaluate -> seal.evaluate.run_evaluate(EvaluateConfig)
    seal demo    -> seal.demo.run_demo(DemoConfig)

Every command takes its settings as --flags, from a YAML file (--config FILE) and as key=value overrides."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings

from . import __version__
from .config import ConfigError, add_arguments, build

COMMANDS = {
    "align": ("LoRA-train a model into an aligned starting point (refusals + helpful answers)",
              "seal.train", "AlignConfig", "run_align"),
    "mix": ("build a fine-tuning set from benign and harmful data at a given harmful fraction (labels kept apart)",
            "seal.mix", "MixConfig", "run_mix"),
    "select": ("learn per-sample weights with the SEAL bilevel selector; writes scores.jsonl",
               "seal.select", "SelectConfig", "run_select"),
    "filter": ("keep the top fraction of a dataset by score (or add a weight column)",
               "seal.filter", "FilterConfig", "run_filter"),
    "finetune": ("fine-tune a model (LoRA or full) on a dataset, optionally with per-sample weights",
                 "seal.train", "FinetuneConfig", "run_finetune"),
    "evaluate": ("refusal rate on held-out harmful prompts, over-refusal, task accuracy, held-out loss",
                 "seal.evaluate", "EvaluateConfig", "run_evaluate"),
    "run": ("the whole pipeline from one YAML file: seal run CONFIG.yaml [key=value ...]",
            "seal.pipeline", "RunConfig", "run_pipeline"),
    "report": ("Markdown and HTML report of a run folder: seal report RUN_DIR", "seal.report", "ReportConfig",
               "run_report"),
    "demo": ("seal run on the embedded default: aligned SmolLM2, a contaminated mix, SEAL vs random vs full",
             "seal.demo", "DemoConfig", "run_demo"),
}
# Commands whose first bare argument (no "=") is a file or folder rather than a key=value override.
POSITIONAL = {"run": "config", "report": "run_dir"}


def _user_errors():
    from .data import DataError
    from .models import ModelError
    from .scores import ScoresError
    return (ConfigError, DataError, ModelError, ScoresError, FileNotFoundError)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="seal", description="Safety-aware data selection for LLM fine-tuning "
                                     "(SEAL bilevel sample weighting).")
    parser.add_argument("--version", action="version", version=f"seal-llm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_, module, cls_name, _) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--config", help="YAML file of settings (keys as the flags, with underscores)")
        p.add_argument("overrides", nargs="*", metavar="key=value", help="override a setting")
        p.add_argument("-q", "--quiet", action="store_true", help="less logging")
        add_arguments(p, getattr(importlib.import_module(module), cls_name))
    return parser


def main(argv: list[str] | None = None) -> int:
    import importlib

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="seal: %(message)s")
    try:
        import transformers
        transformers.logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass
    _, module, cls_name, fn_name = COMMANDS[args.command]
    mod = importlib.import_module(module)
    cli = {k: v for k, v in vars(args).items() if k not in ("command", "config", "overrides", "quiet")}
    if args.command in POSITIONAL and args.overrides and "=" not in args.overrides[0]:
        first = args.overrides.pop(0)
        if POSITIONAL[args.command] == "config":
            args.config = first
        else:
            cli[POSITIONAL[args.command]] = first
    try:
        cfg = build(getattr(mod, cls_name), cli, args.config, args.overrides)
        result = getattr(mod, fn_name)(cfg)
    except _user_errors() as e:
        print(f"seal {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"seal {args.command}: interrupted; rerun with --resume to continue", file=sys.stderr)
        return 130
    summary = {k: v for k, v in result.items() if k in (
        "samples_scored", "steps", "total_steps", "finished", "wall_time_s", "rows", "usable", "kept",
        "removed", "written", "dropped", "mode", "detection", "selected", "output_model", "final_loss",
        "harmful", "benign", "tasks", "heldout", "counts", "paths", "report", "html", "ran", "skipped", "model",
        "target")}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
