"""How much of a demo's downstream numbers is fine-tuning noise: each selection of finished `seal run` folders
fine-tuned again with other seeds (the run's own fine-tune settings, only `seed` changed; the same evaluation
prompts, seed 0) and evaluated as the run evaluates it (docs/selection-quality.md, "Fine-tuning seeds and the
demo's targets"). Seed 0 is the run's own eval-SET. Each extra fine-tune and evaluation lands in
RUN/seeds/SET-sSEED and is reused when it exists.

    python benchmarks/demo_seeds.py --runs runs/demo-direction runs/demo-anchored --sets seal random --seeds 1 2

A set whose data file is byte-identical to an earlier run's (`random` with the same seed) is run once. After the
table, differences of mean refusal and over-refusal (each run's seal minus random; each later run's seal minus the
first run's) with 95% bootstrap intervals that resample the fine-tune seeds of each selection and the evaluation
prompts (the same prompts for every model, so they are resampled jointly); with a handful of seeds the interval is
a lower bound on the seed part of the noise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
from pathlib import Path

import numpy as np

from seal.evaluate import EvaluateConfig, run_evaluate
from seal.train import FinetuneConfig, run_finetune

FT_KEYS = ("epochs", "lr", "max_length", "model", "mixed_precision")


def _metrics(folder: Path) -> dict:
    m = json.loads((folder / "metrics.json").read_text())
    judge = m["primary_judge"]
    return {"refusal": m["harmful"]["refusal_rate"][judge], "over_refusal": m["benign"]["over_refusal_rate"][judge],
            "accuracy": m["tasks"]["accuracy"]}


def _verdicts(folder: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """Each judged set's prompts and the primary judge's refusals (1 = refused), from generations.jsonl."""
    rows = [json.loads(line) for line in (folder / "generations.jsonl").read_text().splitlines() if line]
    return {kind: ([r["prompt"] for r in rows if r["set"] == kind],
                   np.array([float(r["refused"]) for r in rows if r["set"] == kind]))
            for kind in ("harmful", "benign")}


def bootstrap_difference(a: np.ndarray, b: np.ndarray, n: int = 4000, seed: int = 0) -> tuple[float, float, float]:
    """mean(a) - mean(b) for verdict matrices (fine-tune seeds x prompts) of two selections on the same prompts, and
    a 95% percentile interval: each draw resamples a's seeds, b's seeds and the prompts (jointly for both)."""
    rng = np.random.default_rng(seed)
    draws = np.empty(n)
    for k in range(n):
        j = rng.integers(0, a.shape[1], a.shape[1])
        draws[k] = (a[rng.integers(0, len(a), len(a))][:, j].mean() - b[rng.integers(0, len(b), len(b))][:, j].mean())
    lo, hi = np.quantile(draws, [0.025, 0.975])
    return float(a.mean() - b.mean()), float(lo), float(hi)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="+", required=True, help="finished `seal run` folders")
    ap.add_argument("--sets", nargs="+", default=["seal", "random"], help="their data/SET.jsonl to fine-tune")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2], help="fine-tune seeds besides the run's 0")
    args = ap.parse_args()
    seen, table, verdicts = {}, [], {}
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
            folders = [run / f"eval-{name}"]
            for seed in args.seeds:
                folder = run / "seeds" / f"{name}-s{seed}"
                if not (folder / "eval" / "metrics.json").exists():
                    run_finetune(FinetuneConfig(data=str(data), out=str(folder / "ft"), overwrite=True, seed=seed,
                                                progress=settings.get("progress", True),
                                                **{k: ft[k] for k in FT_KEYS if k in ft}))
                    run_evaluate(EvaluateConfig(model=str(folder / "ft"), out=str(folder / "eval"), **ev))
                folders.append(folder / "eval")
            reads = [_metrics(f) for f in folders]
            table.append((f"{run.name}/{name}", reads))
            verdicts[f"{run.name}/{name}"] = [_verdicts(f) for f in folders]
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
    print_differences(verdicts)


def print_differences(verdicts: dict[str, list[dict]]) -> None:
    """Each run's seal minus the random selection, and each later run's seal minus the first run's."""
    seals = [k for k in verdicts if k.endswith("/seal")]
    randoms = [k for k in verdicts if k.endswith("/random")]
    pairs = [(s, randoms[0]) for s in seals] if randoms else []
    pairs += [(s, seals[0]) for s in seals[1:]]
    if not pairs:
        return
    print("\n| difference | refusal (95% interval) | over-refusal (95% interval) | seeds |")
    print("|---|---|---|---|")
    for a, b in pairs:
        cells = []
        for kind in ("harmful", "benign"):
            prompts = {tuple(v[kind][0]) for v in verdicts[a] + verdicts[b]}
            if len(prompts) != 1:
                raise SystemExit(f"{a} and {b} were evaluated on different {kind} prompts")
            d, lo, hi = bootstrap_difference(np.stack([v[kind][1] for v in verdicts[a]]),
                                             np.stack([v[kind][1] for v in verdicts[b]]))
            cells.append(f"{d:+.3f} ({lo:+.3f} to {hi:+.3f})")
        print(f"| {a} - {b} | {cells[0]} | {cells[1]} | {len(verdicts[a])} vs {len(verdicts[b])} |")


if __name__ == "__main__":
    main()
