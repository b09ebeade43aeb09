"""How much of a demo's downstream numbers is fine-tuning noise: each selection of finished `seal run` folders
fine-tuned again with other seeds (the run's own fine-tune settings, only `seed` changed; the same evaluation
prompts, seed 0) and evaluated as the run evaluates it (docs/selection-quality.md, "Fine-tuning seeds and the
demo's targets"). Seed 0 is the run's own eval-SET. Each extra fine-tune and evaluation lands in
RUN/seeds/SET-sSEED and is reused when it exists.

    python benchmarks/demo_seeds.py --runs runs/demo-direction runs/demo-anchored --sets seal random --seeds 1 2

A set whose data file is byte-identical to an earlier run's (`random` with the same seed) is run once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
from pathlib import Path

from seal.evaluate import EvaluateConfig, run_evaluate
from seal.train import FinetuneConfig, run_finetune

FT_KEYS = ("epochs", "lr", "max_length", "model", "mixed_precision")


def _metrics(folder: Path) -> dict:
    m = json.loads((folder / "metrics.json").read_text())
    judge = m["primary_judge"]
    return {"refusal": m["harmful"]["refusal_rate"][judge], "over_refusal": m["benign"]["over_refusal_rate"][judge],
            "accuracy": m["tasks"]["accuracy"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="+", required=True, help="finished `seal run` folders")
    ap.add_argument("--sets", nargs="+", default=["seal", "random"], help="their data/SET.jsonl to fine-tune")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2], help="fine-tune seeds besides the run's 0")
    args = ap.parse_args()
    seen, table = {}, []
    for run in map(Path, args.runs):
        settings = json.loads((run / "run.json").read_text())["config"]
        for name in args.sets:
            data = run / "data" / f"{name}.jsonl"
            digest = hashlib.sha256(data.read_bytes()).hexdigest()
            if digest in seen:
                print(f"{run}/{name}: the same data as {seen[digest]}; not run again", flush=True)
                continue
            seen[digest] = f"{run}/{name}"
            ft = json.loads((run / f"ft-{name}" / "stage.json").read_text())["settings"]["finetune"]
            ev = json.loads((run / f"eval-{name}" / "stage.json").read_text())["settings"]["evaluate"]
            reads = [_metrics(run / f"eval-{name}")]
            for seed in args.seeds:
                folder = run / "seeds" / f"{name}-s{seed}"
                if not (folder / "eval" / "metrics.json").exists():
                    run_finetune(FinetuneConfig(data=str(data), out=str(folder / "ft"), overwrite=True, seed=seed,
                                                progress=settings.get("progress", True),
                                                **{k: ft[k] for k in FT_KEYS if k in ft}))
                    run_evaluate(EvaluateConfig(model=str(folder / "ft"), out=str(folder / "eval"), **ev))
                reads.append(_metrics(folder / "eval"))
            table.append((f"{run.name}/{name}", reads))
            print(f"{run.name}/{name}: " + "; ".join(f"seed {s}: " + ", ".join(f"{k} {v:.3f}" for k, v in r.items())
                                                   for s, r in zip([0] + args.seeds, reads)), flush=True)
    seeds = ", ".join(str(s) for s in [0] + args.seeds)
    print(f"\n| selection | refusal (seeds {seeds}) | mean | over-refusal | mean | task accuracy | mean |")
    print("|---|---|---|---|---|---|---|")
    for label, reads in table:
        cells = []
        for key in ("refusal", "over_refusal", "accuracy"):
            values = [r[key] for r in reads]
            cells += [" / ".join(f"{v:.3f}" for v in values), f"{statistics.mean(values):.3f}"]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
