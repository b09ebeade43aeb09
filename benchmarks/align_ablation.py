"""What each part of builtin:align buys: `seal align` on growing subsets of its files, each evaluated the same way
(refusal on builtin:eval-harmful, over-refusal on XSTest, refusal on the past-tense rewordings), optionally
followed by fine-tuning on the testbed's benign rows to see how much refusal survives.

    python benchmarks/align_ablation.py [--out runs/align-ablation] [--levels first,requests,full] [--align-epochs 1]
                                        [--erosion runs/testbed/mix/benign_only.jsonl] [--doc FILE]

Levels (cumulative):
  first     safe, align-refusals, benign-open, benign-questions (the alignment set before align-requests)
  requests  + align-requests and benign-contrast (refusals in question form across harm areas, benign twins)
  full      + align-terse (short-answer tasks, and harmful requests with answer-format instructions refused)

Each stage is skipped when its output exists. About 15-20 minutes a level on 2 CPU cores, plus 8 with --erosion."""

from __future__ import annotations

import argparse
from pathlib import Path

from testbed import stage  # benchmarks/testbed.py: skip a stage whose output exists

from seal.builtin import ALIGN_FILES, resource
from seal.evaluate import EvaluateConfig, run_evaluate
from seal.train import AlignConfig, FinetuneConfig, run_align, run_finetune

LEVELS = {
    "first": ("safe.jsonl", "align-refusals.jsonl", "benign-open.jsonl", "benign-questions.jsonl"),
    "requests": ("align-requests.jsonl", "benign-contrast.jsonl"),
    "full": ("align-terse.jsonl",),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/align-ablation")
    ap.add_argument("--levels", default="first,requests,full")
    ap.add_argument("--n-eval", type=int, default=100)
    ap.add_argument("--align-epochs", type=int, default=AlignConfig.epochs, help="passes of seal align")
    ap.add_argument("--erosion", default=None, help="benign fine-tuning data (e.g. the testbed's benign_only.jsonl)")
    ap.add_argument("--lr", type=float, default=2e-4, help="learning rate of the erosion fine-tuning")
    ap.add_argument("--doc", default=None, help="write the table to this Markdown file")
    args = ap.parse_args()
    out = Path(args.out)
    n = dict(n_harmful=args.n_eval, n_benign=args.n_eval, n_tasks=args.n_eval, progress=False)
    names = list(LEVELS)
    rows = []
    for level in args.levels.split(","):
        chosen = {f for lv in names[: names.index(level) + 1] for f in LEVELS[lv]}
        files = [f for f in ALIGN_FILES if f in chosen]  # builtin:align's order: "full" is builtin:align
        folder = out / level
        folder.mkdir(parents=True, exist_ok=True)
        data = folder / "align-data.jsonl"
        data.write_text("".join(resource(f).read_text(encoding="utf-8") for f in files), encoding="utf-8")
        stage(folder / "aligned", run_align, AlignConfig(data=str(data), out=str(folder / "aligned"),
                                                                epochs=args.align_epochs, progress=False))
        m = stage(folder / "eval", run_evaluate, EvaluateConfig(model=str(folder / "aligned"),
                                                                 out=str(folder / "eval"), **n))
        p = stage(folder / "eval-pasttense", run_evaluate, EvaluateConfig(
            model=str(folder / "aligned"), out=str(folder / "eval-pasttense"), harmful="builtin:eval-pasttense",
            benign=None, tasks=None, heldout=None, **n))
        row = {"level": level, "rows": sum(1 for line in data.open() if line.strip()), "metrics": m, "past": p}
        if args.erosion:
            ft = folder / "ft-benign"
            stage(ft, run_finetune, FinetuneConfig(data=args.erosion, model=str(folder / "aligned"), out=str(ft),
                                                   lr=args.lr, progress=False))
            row["eroded"] = stage(folder / "eval-ft-benign", run_evaluate, EvaluateConfig(
                model=str(ft), out=str(folder / "eval-ft-benign"), benign=None, heldout=None, **n))
        rows.append(row)
    lines = ["| alignment data | rows | refusal | over-refusal | past-tense refusal | refusal after benign "
             "fine-tuning |", "|---|---|---|---|---|---|"]
    for r in rows:
        judge = r["metrics"]["primary_judge"]
        after = f"{r['eroded']['harmful']['refusal_rate'][judge]:.2f}" if "eroded" in r else "-"
        lines.append(f"| {r['level']} | {r['rows']} | {r['metrics']['harmful']['refusal_rate'][judge]:.2f} | "
                     f"{r['metrics']['benign']['over_refusal_rate'][judge]:.2f} | "
                     f"{r['past']['harmful']['refusal_rate'][judge]:.2f} | {after} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.doc:
        Path(args.doc).write_text(text)


if __name__ == "__main__":
    main()
