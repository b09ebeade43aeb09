"""Token-level loss gaps: does the alignment's effect on a response concentrate on a few tokens in harmful rows and
spread thinly over every token in benign rows of another style? (issue 8, docs/selection-quality.md)

    python benchmarks/token_gaps.py --safety-adapter CACHE/aligned/KEY/adapter runs/hard-default/news-report-matched ...

Each argument is a mix folder of benchmarks/hard_mixes.py (MIX/mix/mix.jsonl and labels.jsonl). For every sample the
per-token gap d_t = l_aligned(token t) - l_base(token t) over its response tokens (the safety adapter on and off; no
training), then statistics of d fixed before any mix was scored with them:

    mean             the static loss gap (what seal select's visit gap starts from)
    first 8          the mean over the first 8 response tokens
    top 8            the mean of the 8 largest d_t (all of them when the response is shorter)
    top 10% - median the mean of the largest tenth of d_t (at least one token) minus the median d_t: a peak above
                     the sample's own diffuse shift (style moves every token a little)
    max              the largest d_t

Higher = more harmful for each. Prints AUROC, the share of the harmful rows among the lowest-ranked 20%, the AUROC
over length-matched (harmful, benign) pairs and the Spearman correlation with response length, per mix."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

STATS = ("mean", "first 8", "top 8", "top 10% - median", "max")


def token_gaps(data: str, model: str, adapter: str, max_length: int, batch_size: int = 16) -> dict[int, np.ndarray]:
    """{row index: per-token gaps d_t over the response} of every sample of `data`."""
    from seal.baselines import _with_adapter
    from seal.models import load_model, load_tokenizer, pick_device, response_token_losses
    from seal.tokenization import Collator, load_and_encode

    tokenizer = load_tokenizer(model)
    encoded, _ = load_and_encode(data, tokenizer, max_length=max_length, name="data")
    dev = pick_device("auto")
    net = _with_adapter(load_model(model, device=dev), adapter, dev).eval()
    collate = Collator(tokenizer.pad_token_id)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    out = {}
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = {k: v.to(dev) for k, v in collate([encoded[i] for i in idx]).items()}
            aligned, keep = response_token_losses(net, batch)
            with net.disable_adapter():
                base, _ = response_token_losses(net, batch)
            for row, i in enumerate(idx):
                out[encoded[i].index] = (aligned[row] - base[row])[keep[row]].float().cpu().numpy()
    return out


def statistics(d: np.ndarray) -> dict[str, float]:
    if len(d) == 0:
        return {name: float("nan") for name in STATS}
    top = np.sort(d)[::-1]
    tenth = top[:max(1, len(d) // 10)]
    return {"mean": float(d.mean()), "first 8": float(d[:8].mean()), "top 8": float(top[:8].mean()),
            "top 10% - median": float(tenth.mean() - np.median(d)), "max": float(top[0])}


def main() -> None:
    from hard_mixes import evaluate_signal, read_labels

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mixes", nargs="+", help="mix folders of benchmarks/hard_mixes.py")
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--safety-adapter", required=True)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--json", help="also write every sample's statistics here")
    args = ap.parse_args()
    dump = {}
    print("| mix | statistic | AUROC | harmful in lowest 20% | AUROC, length-matched pairs | rho(response length) |")
    print("|---|---|---|---|---|---|")
    for folder in map(Path, args.mixes):
        labels = read_labels(folder / "mix" / "labels.jsonl")
        rows = [json.loads(line) for line in open(folder / "mix" / "mix.jsonl", encoding="utf-8")]
        gaps = token_gaps(str(folder / "mix" / "mix.jsonl"), args.model, args.safety_adapter, args.max_length)
        per_sample = {i: statistics(d) for i, d in gaps.items()}
        dump[folder.name] = {str(i): v for i, v in per_sample.items()}
        for name in STATS:
            r = evaluate_signal(name, {i: v[name] for i, v in per_sample.items()}, labels, rows)
            matched = "-" if r["matched"] is None else f"{r['matched']:.3f} ({r['pairs']})"
            print(f"| {folder.name} | {name} | {r['auroc']:.3f} | {r['recall20']:.2f} | {matched} | "
                  f"{r['rho_response_len']} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(dump))


if __name__ == "__main__":
    main()
