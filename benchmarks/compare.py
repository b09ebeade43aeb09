"""Is SEAL better than what a user would do instead? Every selector side by side on the same contaminated mixes.

For each harmful fraction: `seal mix` (builtin:benign-tasks + builtin:harmful, seeded), then every ranking
method of `seal select --method` on the embedded SmolLM2 (each in its own process, for its wall time and peak
memory), then the aligned SmolLM2 fine-tuned on each method's top --keep and evaluated the same way, plus the
full mix, SafeInstr (the full mix + safety demonstrations) and SEAL + SafeInstr. On the last fraction, also
the refusal rate against the fraction kept (--curve) for SEAL, random and the label-free baseline with the best
AUROC. Labels are read only to score the rankings.

    python benchmarks/compare.py --doc docs/results.md          # about 2 hours on 2 CPU cores

Every stage is cached in --out (rerunning skips finished work); results.md there and --doc hold the tables.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

METHODS = ("seal", "seal-reference", "random", "loss", "loss-gap", "keyword", "embedding", "dsir", "gradient")
LABEL_FREE_BASELINES = ("loss", "loss-gap", "keyword", "embedding", "dsir", "gradient")

# A child process runs one `seal select` and records its own peak memory: VmHWM of its address space (ru_maxrss
# would carry the parent's peak over the fork/exec).
_CHILD = """
import json, sys, time
from seal.cli import main
from seal.manifest import process_peak_rss_mib
t0 = time.time()
rc = main(sys.argv[2:])
json.dump({"rc": rc, "wall_s": round(time.time() - t0, 1), "peak_rss_mib": process_peak_rss_mib()},
          open(sys.argv[1], "w"))
sys.exit(rc)
"""


def select(method: str, mix: Path, out: Path, seed: int) -> None:
    """`seal select --method METHOD` in a child process that records its wall time and peak memory (cost.json)."""
    args = ["select", "--data", str(mix), "--safe", "builtin:safe", "--model", "smollm2", "--method", method,
            "--max-length", "256", "--seed", str(seed), "--out", str(out), "--overwrite", "true", "--quiet",
            "--progress", "false"]
    out.mkdir(parents=True, exist_ok=True)
    print(f"  select {method} ...", flush=True)
    subprocess.run([sys.executable, "-c", _CHILD, str(out / "cost.json"), *args], check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/compare")
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.2])
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--keep", type=float, default=0.8)
    ap.add_argument("--curve", type=float, nargs="*", default=[0.2, 0.5], help="extra kept fractions for the plot")
    ap.add_argument("--safety-demos", type=int, default=32, help="SafeInstr: demonstrations added")
    ap.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs (as the demo)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--eval-n", type=int, default=50, help="prompts of each evaluation set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--doc", default=None, help="also write the tables to this Markdown file")
    ap.add_argument("--note", default="", help="a sentence added under the header (e.g. how the run was shared)")
    ap.add_argument("--report-only", action="store_true",
                    help="run nothing: tabulate the finished stages, marking the others 'not run'")
    args = ap.parse_args()

    from seal.evaluate import EvaluateConfig, run_evaluate
    from seal.filter import FilterConfig, run_filter
    from seal.metrics import detection_metrics, read_labels, read_scores_list
    from seal.mix import MixConfig, run_mix
    from seal.pipeline import Stages, _fingerprint, _key, aligned_model
    from seal.train import FinetuneConfig, run_finetune

    class NotRun(Exception):
        pass

    class FinishedOnly(Stages):  # --report-only: a stage that has not finished with these settings is not run
        def run(self, name, key_obj, fn, folder=None):
            marker = (folder or self.out / name) / "stage.json"
            done = json.loads(marker.read_text()) if marker.exists() else {}
            if done.get("key") == _key(key_obj) and done.get("done"):
                return done["key"]
            raise NotRun(name)

    Stages = FinishedOnly if args.report_only else Stages  # noqa: N806

    EVAL = {k: args.eval_n for k in ("n_harmful", "n_benign", "n_tasks", "n_heldout")}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # the alignment docs/results.md was measured with (seal align's default data until 2026-12-04)
    target, target_key = aligned_model("smollm2", {"data": "builtin:align"}, seed=args.seed, progress=False)
    ft_settings = {"model": target, "epochs": args.epochs, "max_length": 256, "seed": args.seed, "progress": False}
    eval_settings = {**EVAL, "seed": args.seed, "progress": False}

    def finetune_and_evaluate(stages: Stages, name: str, data: str, **extra) -> dict | None:
        """metrics.json of the target fine-tuned on `data` (None under --report-only when not finished)."""
        try:
            return _finetune_and_evaluate(stages, name, data, **extra)
        except NotRun:
            return None

    def _finetune_and_evaluate(stages: Stages, name: str, data: str, **extra) -> dict:
        def finetune(d, resume):
            run_finetune(FinetuneConfig(data=data, out=str(d), resume=resume, overwrite=not resume, **ft_settings,
                                        **extra))

        ft_key = stages.run(f"ft-{name}", {"finetune": {**ft_settings, **extra},
                                           "upstream": [target_key, _fingerprint(data)]}, finetune)
        stages.run(f"eval-{name}", {"evaluate": eval_settings, "upstream": ft_key},
                   lambda d, resume: run_evaluate(EvaluateConfig(model=str(stages.out / f"ft-{name}"), out=str(d),
                                                                 **eval_settings)))
        return json.loads((stages.out / f"eval-{name}" / "metrics.json").read_text())

    def safety(m: dict | None) -> dict:
        if m is None:
            return {"refusal": None, "over_refusal": None, "accuracy": None}
        judge = m["primary_judge"]
        return {"refusal": m["harmful"]["refusal_rate"][judge], "over_refusal": m["benign"]["over_refusal_rate"][judge],
                "accuracy": m["tasks"]["accuracy"], "judge": judge}

    shared = Stages(out)
    shared.run("eval-start", {"evaluate": eval_settings, "upstream": target_key},
               lambda d, resume: run_evaluate(EvaluateConfig(model=target, out=str(d), **eval_settings)))
    start = safety(json.loads((out / "eval-start" / "metrics.json").read_text()))

    tables, curve = [], {}
    for fraction in args.fractions:
        folder = out / f"harmful-{round(fraction * 100)}pct"
        stages = Stages(folder)
        mix_cfg = {"benign": "builtin:benign-tasks", "harmful": "builtin:harmful", "size": args.size,
                   "harmful_fraction": fraction, "seed": args.seed}
        stages.run("mix", mix_cfg, lambda d, resume, mix_cfg=mix_cfg: run_mix(MixConfig(out=str(d), **mix_cfg)))
        mix = folder / "mix" / "mix.jsonl"
        labels = read_labels(folder / "mix" / "labels.jsonl")
        print(f"== {fraction:.0%} harmful: {len(labels)} rows, {sum(labels.values())} harmful", flush=True)
        rows = []
        full = safety(finetune_and_evaluate(stages, "full", str(mix)))
        rows.append({"method": "none (full mix)", **full})
        safeinstr = safety(finetune_and_evaluate(stages, "safeinstr", str(mix), safety_data="builtin:safety-demos",
                                                 safety_count=args.safety_demos))
        rows.append({"method": f"SafeInstr (full mix + {args.safety_demos} demos)", **safeinstr})
        detection = {}
        keeps = [args.keep] + ([k for k in args.curve if k != args.keep] if fraction == args.fractions[-1] else [])
        for method in args.methods:
            sel = folder / f"select-{method}"
            try:
                select_key = stages.run(f"select-{method}", {"method": method, "mix": _fingerprint(str(mix)),
                                                             "seed": args.seed, "max_length": 256},
                                        lambda d, resume, method=method, mix=mix: select(method, mix, d, args.seed))
            except NotRun:
                rows.append({"method": method, **safety(None)})
                continue
            cost = json.loads((sel / "cost.json").read_text())
            scores = read_scores_list(sel / "scores.jsonl")
            det = detection_metrics(scores, labels, drop_fraction=round(1 - args.keep, 6))
            detection[method] = det
            for keep in keeps:
                name = method if keep == args.keep else f"{method}-keep{round(keep * 100)}"
                data = folder / "data" / f"{name}.jsonl"
                try:
                    stages.run(f"data-{name}", {"keep": keep, "select": select_key, "data": _fingerprint(str(mix))},
                               lambda d, resume, keep=keep, data=data, scores=sel / "scores.jsonl", mix=mix: run_filter(
                                   FilterConfig(data=str(mix), scores=str(scores), out=str(data), keep=keep,
                                                out_format="jsonl")),
                               folder=folder / "data" / name)
                except NotRun:
                    if keep == args.keep:
                        rows.append({"method": method, **safety(None), **det, **cost})
                    continue
                if keep != args.keep and method not in ("seal", "random"):
                    continue  # the curve's baseline is chosen below, once AUROCs are known
                res = safety(finetune_and_evaluate(stages, name, str(data)))
                if keep == args.keep:
                    rows.append({"method": method, **res, **det, **cost})
                elif res["refusal"] is not None:
                    curve.setdefault(method, {})[keep] = res["refusal"]
            if method == "seal" and all(x.get("loss_hat") is not None for x in scores):
                # diagnostic: the same run's loss gap l(theta) - l(theta_hat) at each sample's visit, as a ranking
                gap = [{**x, "score": -(x["loss"] - x["loss_hat"])} for x in scores]
                rows.append({"method": "seal, its visit loss gap instead of w (diagnostic, not fine-tuned)",
                             **safety(None), "no_ft": True,
                             **detection_metrics(gap, labels, drop_fraction=round(1 - args.keep, 6))})
            if method == "seal":
                res = safety(finetune_and_evaluate(stages, "seal+safeinstr", str(folder / "data" / "seal.jsonl"),
                                                   safety_data="builtin:safety-demos", safety_count=args.safety_demos))
                rows.append({"method": f"SEAL + SafeInstr ({args.safety_demos} demos)", **res, **det, **cost})
        if fraction == args.fractions[-1] and args.curve:
            candidates = [m for m in LABEL_FREE_BASELINES if m in detection and "auroc" in detection[m]]
            best = max(candidates, key=lambda m: detection[m]["auroc"]) if candidates else None
            for method in [m for m in ("seal", "random") if m in args.methods] + ([best] if best else []):
                by_keep = curve.setdefault(method, {})
                for keep in args.curve:
                    name = f"{method}-keep{round(keep * 100)}"
                    if not (folder / "data" / f"{name}.jsonl").exists():  # made in the method loop above
                        continue
                    res = safety(finetune_and_evaluate(stages, name, str(folder / "data" / f"{name}.jsonl")))
                    if res["refusal"] is not None:
                        by_keep[keep] = res["refusal"]
                at_keep = next(r["refusal"] for r in rows if r["method"] == method)
                if at_keep is not None:
                    by_keep[args.keep] = at_keep
            curve_mix = folder.name
        tables.append((fraction, len(labels), sum(labels.values()), rows))

    lines = [f"Aligned SmolLM2 before fine-tuning: refusal {start['refusal']:.2f}, over-refusal "
             f"{start['over_refusal']:.2f}, task accuracy {start['accuracy']:.2f} (judge {start['judge']}; "
             f"{EVAL['n_harmful']} held-out harmful prompts, {EVAL['n_benign']} XSTest safe prompts, "
             f"{EVAL['n_tasks']} task prompts).", ""]
    for fraction, n, n_h, rows in tables:
        lines += [f"### {fraction:.0%} harmful ({n} rows, {n_h} harmful); each model fine-tuned on the top "
                  f"{args.keep:.0%} ({args.epochs} epochs, LoRA)", "",
                  "| method | AUROC | AP | harmful recall in dropped 20% | refusal | over-refusal | task accuracy | "
                  "selection wall time (s) | selection peak memory (MiB) |", "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            def f(key, digits=3, r=r):
                v = r.get(key)
                return "" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)
            missing = "-" if r.get("no_ft") else "not run"
            lines.append(f"| {r['method']} | {f('auroc')} | {f('average_precision')} | "
                         f"{f('harmful_recall_in_dropped', 2)} | {f('refusal', 2) or missing} | "
                         f"{f('over_refusal', 2)} | {f('accuracy', 2)} | {f('wall_s', 0)} | {f('peak_rss_mib', 0)} |")
        lines.append("")
    if curve:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for (method, by_keep), style in zip(curve.items(), (("o", "-"), ("s", "--"), ("^", ":"), ("D", "-."))):
            ks = sorted(by_keep)  # distinct markers and dashes: equal curves stay visible
            ax.plot(ks, [by_keep[k] for k in ks], marker=style[0], linestyle=style[1], markersize=7, label=method)
        ax.axhline(start["refusal"], color="grey", ls="--", label="aligned, not fine-tuned")
        ax.set_xlabel("fraction of the mix kept")
        ax.set_ylabel(f"refusal rate ({start['judge']})")
        ax.set_title(f"{curve_mix}: refusal after fine-tuning")
        ax.legend(fontsize=8)
        fig.tight_layout()
        plot = Path(args.doc).with_suffix(".png") if args.doc else out / "results.png"
        fig.savefig(plot, dpi=110)
        kept = sorted({k for by_keep in curve.values() for k in by_keep})
        lines += [f"### Refusal rate against the fraction kept ({curve_mix})", "", f"![refusal vs kept]({plot.name})",
                  "", "| method | " + " | ".join(f"keep {k:.0%}" for k in kept) + " |", "|---|" + "---|" * len(kept)]
        for method, by_keep in curve.items():
            lines.append(f"| {method} | " + " | ".join(f"{by_keep[k]:.2f}" if k in by_keep else "not run"
                                                        for k in kept) + " |")
        lines.append("")
    command = "python benchmarks/compare.py " + shlex.join(sys.argv[1:])
    header = ["# Selectors compared", "",
              f"Produced by `{command}` (seed {args.seed}) on {date.today().isoformat()}, 2 CPU cores, "
              "SmolLM2-135M-Instruct as proxy and (aligned by `seal align --data builtin:align`) as target. AUROC, AP "
              "and recall score each ranking against the mix's labels (higher = finds the harmful rows); refusal and "
              "over-refusal of the fine-tuned model on held-out prompts; wall time and peak memory of `seal select` "
              "alone (its own process, models loaded included)." + (f" {args.note}" if args.note else ""), ""]
    text = "\n".join(header + lines) + "\n"
    (out / "results.md").write_text(text)
    if args.doc:
        Path(args.doc).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    t0 = time.time()
    rc = main()
    print(f"compare: {time.time() - t0:.0f} s")
    sys.exit(rc)
