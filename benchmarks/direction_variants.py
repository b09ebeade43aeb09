"""Variants of the harm direction (docs/selection-quality.md, "Variants of the harm direction"), on the hard mixes of
hard_mixes.py, each added to visit-gap+refusal+relay (rebuilt from a finished run's columns, as harm_direction.py)
or read alone. Exploratory: `seal select` offers the one the docs name as its default.

All variants read the aligned proxy's request states (seal.baselines.request_states) at the block seal select
picks from the safe set (seal.baselines.harm_direction); none reads a mix label:

- safe: the safe set's refusal-minus-helpful mean (seal select's default part);
- mix-whitened: the same direction, whitened by the mix's own covariance at that block (shrunk towards its
  diagonal scale): (C_mix + s I)^-1 d, so that the mix's own style variation, which the safe set does not know,
  counts less;
- safe-lda: the same with the safe set's within-class covariance instead (Fisher's direction);
- mix-anchored: the safe set's refusal mean minus the whole mix's mean (the mix as the helpful anchor);
- self-trained: from the default sum's ranking, the lowest-ranked 10% of the mix against its top half, their
  mean difference in the mix's own states; cross-fitted in two seeded folds so that no row's score uses its own
  pseudo-label.

The states are cached in MIX/states-TAG.npy (float16), the safe set's in OUT/safe-states-TAG.npy.

With --stress, two checks of the anchored direction alone on the cached states of the mixes named (run without it
first): a larger harmful share (each mix's benign rows subsampled, seeded, to 10, 20, 30 and 50% harmful), and
several registers in one data set (all the mixes pooled, and five seeded draws of three), against the safe
set's own direction.

    python benchmarks/direction_variants.py --safety-adapter CACHE/aligned/KEY/adapter --out runs/hard-relay \\
        --mixes jargon-entry-matched news-report-matched --select defaults
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from hard_mixes import mix_parser, open_mix
from harm_direction import MAX_LENGTH, default_parts

from seal.baselines import harm_direction, request_states, split_safe_set, weighted_harm
from seal.data import load_samples
from seal.metrics import ranking_metrics, read_labels
from seal.models import load_model, load_tokenizer

SHRINK = 1.0  # the ridge s of the whitened variants, as a multiple of the covariance's mean eigenvalue
SELF_SHARE, SELF_TOP = 0.10, 0.50  # self-trained: lowest-ranked share as harmful, top share as helpful


def _whiten(d: np.ndarray, x: np.ndarray) -> np.ndarray:
    c = np.cov(x, rowvar=False)
    return np.linalg.solve(c + SHRINK * np.trace(c) / len(c) * np.eye(len(c)), d)


def _self_trained(x: np.ndarray, harm: np.ndarray, seed: int = 0) -> np.ndarray:
    """Cross-fitted pseudo-label direction: each fold's rows projected on the other fold's direction."""
    fold = np.random.default_rng(seed).permutation(len(x)) % 2
    out = np.empty(len(x))
    for f in (0, 1):
        train = np.flatnonzero(fold != f)
        order = train[np.argsort(-harm[train])]
        pos, neg = order[:max(2, int(SELF_SHARE * len(train)))], order[-int(SELF_TOP * len(train)):]
        d = x[pos].mean(0) - x[neg].mean(0)
        out[fold == f] = x[fold == f] @ d
        # each fold on its own scale: z-score within the fold so the two halves compare
        out[fold == f] = (out[fold == f] - out[fold == f].mean()) / (out[fold == f].std() + 1e-12)
    return out


def main() -> None:
    ap = mix_parser(__doc__, "the finished run MIX/select/NAME", "defaults")
    ap.add_argument("--stress", action="store_true", help="harmful shares and pooled registers (see above)")
    args = ap.parse_args()
    tok = load_tokenizer(args.model)
    tag = Path(args.safety_adapter).parent.name
    net = None

    def states_of(samples: list, cache: Path, desc: str) -> np.ndarray:
        nonlocal net
        if not cache.exists():
            if net is None:
                from peft import PeftModel

                net = PeftModel.from_pretrained(load_model(args.model), args.safety_adapter)
                net.merge_adapter()
            np.save(cache, request_states(net, tok, samples, "cpu", MAX_LENGTH, progress=True,
                                          desc=desc).numpy().astype(np.float16))
        return np.load(cache).astype(np.float64)

    safe, records, _ = load_samples("builtin:safe")
    refused = {s.index for s in split_safe_set(safe, records)[1]}
    safe = sorted(safe, key=lambda s: s.index)
    s_states = states_of(safe, Path(args.out) / f"safe-states-{tag}.npy", "safe set")
    r = np.array([s.index in refused for s in safe])
    found = harm_direction(torch.from_numpy(s_states), torch.from_numpy(r))
    layer = found["layer"]
    d = found["direction"].numpy()
    xs = s_states[:, layer]
    within = np.concatenate([xs[r] - xs[r].mean(0), xs[~r] - xs[~r].mean(0)])
    d_lda = _whiten(d, within)
    print(f"block {layer + 1}, d' {found['dprime'][layer]:.2f}; safe set {len(safe)} rows ({r.sum()} refusals)")
    if args.stress:
        return stress(args, tag, xs, r, d, layer)
    table = {}
    for name in args.mixes:
        folder, rows, labels = open_mix(Path(args.shared), Path(args.out), name)
        samples = sorted(load_samples(str(folder / "mix" / "mix.jsonl"))[0], key=lambda s: s.index)
        x_all = states_of(samples, folder / f"states-{tag}.npy", name)[:, layer]
        pos = {s.index: k for k, s in enumerate(samples)}
        index, parts, weights, _ = default_parts(folder / "select" / args.select, rows, tok, tag)
        x = x_all[[pos[i] for i in index]]
        y = np.array([labels[i] for i in index], float)
        base = weighted_harm(parts, weights).numpy()
        t = lambda v: torch.from_numpy(np.asarray(v, dtype=np.float64))  # noqa: E731
        proj = {"safe": x @ d, "mix-whitened": x @ _whiten(d, x), "safe-lda": x @ d_lda,
                "mix-anchored": x @ (xs[r].mean(0) - x.mean(0))}
        default = weighted_harm(parts + [t(proj["safe"])], weights + [1.0]).numpy()
        proj["self-trained"] = _self_trained(x, default)
        res = {"base (no direction)": base}
        for k, v in proj.items():
            res[f"{k} alone"] = v
            res[f"base + {k}"] = weighted_harm(parts + [t(v)], weights + [1.0]).numpy()
            res[f"base + 2 {k}"] = weighted_harm(parts + [t(v)], weights + [2.0]).numpy()
        res["base + safe + self-trained"] = weighted_harm(parts + [t(proj["safe"]), t(proj["self-trained"])],
                                                          weights + [1.0, 1.0]).numpy()
        for k, v in res.items():
            m = ranking_metrics(y, v)
            table.setdefault(k, {})[name] = (m["auroc"], m["harmful_recall_in_dropped"])
            print(f"{name:26s} {k:34s} AUROC {m['auroc']:.3f}  lowest 20% {m['harmful_recall_in_dropped']:.2f}",
                  flush=True)
    print("\n| variant | " + " | ".join(n.removesuffix("-matched") for n in args.mixes) + " | met |")
    print("|---|" + "---|" * (len(args.mixes) + 1))
    for k, by in table.items():
        met = sum(a >= 0.9 and rec >= 0.8 for a, rec in by.values())
        print(f"| {k} | " + " | ".join(f"{a:.3f} / {rec:.0%}" for a, rec in by.values()) + f" | {met} |")


def stress(args, tag: str, xs: np.ndarray, r: np.ndarray, d: np.ndarray, layer: int) -> None:
    """The anchored direction alone at other harmful shares and on pooled registers (module docstring)."""
    xs_r = xs[r].mean(0)
    mixes = []
    for name in args.mixes:
        folder = Path(args.out) / name
        labels = read_labels(folder / "mix" / "labels.jsonl")
        samples = sorted(load_samples(str(folder / "mix" / "mix.jsonl"))[0], key=lambda s: s.index)
        x = np.load(folder / f"states-{tag}.npy").astype(np.float64)[:, layer]
        mixes.append((name.removesuffix("-matched"), x, np.array([labels[s.index] for s in samples], float)))

    def read(x, y, direction) -> str:
        m = ranking_metrics(y, x @ direction)
        return f"{m['auroc']:.3f} / {m['harmful_recall_in_dropped']:.0%}"

    rng = np.random.default_rng(0)
    print("\n| harmful share | " + " | ".join(n for n, _, _ in mixes) + " |")
    print("|---|" + "---|" * len(mixes))
    for share in (0.1, 0.2, 0.3, 0.5):
        cells = []
        for _, x, y in mixes:
            harmful, benign = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
            n = min(len(benign), int(round(len(harmful) * (1 - share) / share)))
            keep = np.concatenate([harmful, rng.choice(benign, n, replace=False)])
            cells.append(read(x[keep], y[keep], xs_r - x[keep].mean(0)))
        print(f"| {share:.0%} | " + " | ".join(cells) + " |")
    print("\n| registers pooled | anchored alone | safe direction alone |\n|---|---|---|")
    draws = [list(range(len(mixes)))] + [list(rng.choice(len(mixes), 3, replace=False)) for _ in range(5)]
    for pick in draws:
        x = np.concatenate([mixes[i][1] for i in pick])
        y = np.concatenate([mixes[i][2] for i in pick])
        label = "all" if len(pick) == len(mixes) else " + ".join(mixes[i][0] for i in pick)
        print(f"| {label} | {read(x, y, xs_r - x.mean(0))} | {read(x, y, d)} |")


if __name__ == "__main__":
    main()
