"""Detection quality of selector variants on one labelled mix: AUROC, average precision and the share of the
harmful rows among the lowest-ranked 20%, for each variant, with the same data, proxy and seed.

    python benchmarks/selection_variants.py --mix runs/demo/mix --model runs/demo/aligned-model \\
        --variant paper theta_offset=none --variant offset theta_offset=penalty \\
        --variant offset-first8 theta_offset=penalty signal_tokens=8 [--out runs/variants]

A mix folder is what `seal mix` writes (mix.jsonl + labels.jsonl). Each variant is a name followed by
`seal select` settings as key=value; runs are kept under --out and reused when finished. Prints a Markdown
table (also written to OUT/variants.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seal.config import build
from seal.metrics import detection_metrics, read_labels, read_scores_list
from seal.select import SelectConfig, run_select


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mix", required=True)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--safe", default="builtin:safe")
    ap.add_argument("--out", default="runs/variants")
    ap.add_argument("--variant", nargs="+", action="append", required=True, metavar="NAME KEY=VALUE")
    args = ap.parse_args()
    mix, out = Path(args.mix), Path(args.out)
    labels = read_labels(mix / "labels.jsonl")
    rows = []
    for name, *overrides in args.variant:
        cfg = build(SelectConfig, {"data": str(mix / "mix.jsonl"), "safe": args.safe, "model": args.model,
                                   "out": str(out / name), "progress": False}, overrides=overrides)
        manifest_path = out / name / "manifest.json"
        if not (manifest_path.exists() and json.loads(manifest_path.read_text()).get("finished")):
            cfg.overwrite = True
            run_select(cfg)
        manifest = json.loads(manifest_path.read_text())
        scores = read_scores_list(out / name / "scores.jsonl")
        m = detection_metrics(scores, labels, 0.2)
        rows.append((name, " ".join(overrides) or "(defaults)", m, manifest.get("wall_time_s")))
        print(name, m, flush=True)
    lines = [f"Mix `{mix}`, proxy `{args.model}`, safe set `{args.safe}`.", "",
             "| variant | settings | AUROC | average precision | harmful among lowest 20% | wall s |",
             "|---|---|---|---|---|---|"]
    for name, settings, m, wall in rows:
        lines.append(f"| {name} | `{settings}` | {m['auroc']:.3f} | {m['average_precision']:.3f} | "
                     f"{m['harmful_recall_in_dropped']:.2f} | {wall if wall is None else round(wall)} |")
    (out / "variants.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
