"""Detection of the known-harmful rows of the shipped example mix by `seal select` (each algorithm, defaults):

    python benchmarks/detect_examples.py [--epochs 2] [--out /tmp/seal-detect]

Prints AUROC, average precision and how many harmful rows land among the dropped 20%."""

import argparse
import json
from pathlib import Path

from seal.metrics import detection_metrics, read_labels, read_scores_list
from seal.select import SelectConfig, run_select

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "seal" / "resources" / "examples"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--out", default="/tmp/seal-detect")
    args = ap.parse_args()
    labels = read_labels(EXAMPLES / "mix_labels.jsonl")
    for algorithm in (1, 2):
        out = Path(args.out) / f"alg{algorithm}"
        manifest = run_select(SelectConfig(data=str(EXAMPLES / "mix.jsonl"), safe=str(EXAMPLES / "safe.jsonl"),
                                           out=str(out), model=args.model, algorithm=algorithm, epochs=args.epochs,
                                           max_length=256, overwrite=True, progress=False))
        det = detection_metrics(read_scores_list(out / "scores.jsonl"), labels, drop_fraction=0.2)
        print(json.dumps({"algorithm": algorithm, **det, "wall_time_s": manifest["wall_time_s"]}), flush=True)


if __name__ == "__main__":
    main()
