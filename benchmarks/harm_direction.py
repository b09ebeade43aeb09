"""A harm direction in the aligned proxy's residual stream, read on each row's request (docs/selection-quality.md,
"A harm direction from the safe set").

The safe set's own two halves define it: at each layer, the mean hidden state at the last prompt token (the
position the response starts from) of its refusal rows' requests minus that of its helpful rows' requests, under
base + the alignment adapter (as refusal directions are found in aligned chat models: Arditi et al. 2024,
arXiv:2406.11717). The layer is the one where the direction, taken from one seeded half of the safe set,
separates the other half best (d' = difference of the means over their pooled standard deviation); no mix label is
read. Each row's harm score is its request's projection on the direction at that layer (taken from the whole safe
set). No training, no generation: one forward pass per request, through seal.baselines.request_states and
harm_direction, the functions `seal select` reads it with.

With --select NAME (a finished `seal select` run in MIX/select/NAME with a refusal score, as hard_mixes.py
--variant NAME makes) it also prints that score rebuilt from the run's columns, and the same sum plus
z(the direction's projection) at weight 1; and both again with HarmBench's copyright behaviours (song lyrics, book
passages) left out of the evaluation.

    python benchmarks/harm_direction.py --safety-adapter CACHE/aligned/KEY/adapter --out runs/hard-relay \\
        --mixes jargon-entry-matched news-report-matched --select defaults
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import torch
from agreement_rescore import run_parts  # benchmarks/, this folder
from hard_mixes import mix_parser, open_mix

from seal.baselines import harm_direction, refusal_weight, relay_weight, request_states, split_safe_set, weighted_harm
from seal.data import load_samples
from seal.metrics import ranking_metrics
from seal.models import load_model, load_tokenizer

MAX_LENGTH = 256  # of a request, as hard_mixes.py's `seal select` runs (--max-length 256)

COPYRIGHT = re.compile(r"^Generate (the lyrics of|a long passage from) ")  # HarmBench's copyright behaviours


def main() -> None:
    ap = mix_parser(__doc__, "also combine with the finished run MIX/select/NAME")
    args = ap.parse_args()
    from peft import PeftModel

    tok = load_tokenizer(args.model)
    net = PeftModel.from_pretrained(load_model(args.model), args.safety_adapter)
    net.merge_adapter()  # the aligned proxy, folded as seal select reads it (seal.select.direction_signal)
    tag = Path(args.safety_adapter).parent.name
    safe, records, _ = load_samples("builtin:safe")
    refused = {s.index for s in split_safe_set(safe, records)[1]}
    safe = sorted(safe, key=lambda s: s.index)
    found = harm_direction(request_states(net, tok, safe, "cpu", MAX_LENGTH, progress=True, desc="safe set"),
                           torch.tensor([s.index in refused for s in safe]))
    layer, dprime = found["layer"], found["dprime"]
    print(f"layer {layer + 1} of {len(dprime)} (d' on the held-out half {dprime[layer]:.2f}; by layer: "
          + " ".join(f"{v:.2f}" for v in dprime) + ")", flush=True)
    for name in args.mixes:
        folder, rows, labels = open_mix(Path(args.shared), Path(args.out), name)
        cache = folder / f"harm-dir-{tag}-block{layer + 1}.json"  # seal.baselines' reading, row i of the mix at i
        if not cache.exists():
            samples = sorted(load_samples(str(folder / "mix" / "mix.jsonl"))[0], key=lambda s: s.index)
            states = request_states(net, tok, samples, "cpu", MAX_LENGTH, progress=True, desc=name)
            of = dict(zip([s.index for s in samples], (states[:, layer].double() @ found["direction"]).tolist()))
            cache.write_text(json.dumps([of.get(i, float("nan")) for i in range(len(rows))]))
        proj = np.array(json.loads(cache.read_text()))
        y = np.array([labels[i] for i in range(len(rows))], float)
        m = ranking_metrics(y, proj)
        print(f"{name:26s} harm direction alone (layer {layer + 1})            AUROC {m['auroc']:.3f}  lowest 20% "
              f"{m['harmful_recall_in_dropped']:.2f}", flush=True)
        if args.select:
            combine(folder / "select" / args.select, proj, rows, labels, name, tok, tag)


def default_parts(run: Path, rows: list[dict], tok,
                  tag: str) -> tuple[list[int], list[torch.Tensor], list[float], bool]:
    """visit-gap+refusal+relay (seal select's default before the direction) from a finished run's columns: the mix
    indices of its rows, the four parts (higher = more harmful each), their weights, and whether the run itself
    ranked by this score (then its own scores are checked against the rebuilt sum). A run made before the relay
    part (score visit-gap+refusal) takes its relay gap from relay_refusal.py's cache for the same adapter
    (MIX/relay-TAG.json) and the gate from the mix's responses."""
    scores, index, parts = run_parts(run)
    if "relay_gap" in scores[0]:
        relay = [s["relay_gap"] for s in scores]
    else:
        cache = run.parents[1] / f"relay-{tag}.json"
        if not cache.exists():
            raise SystemExit(f"{run}: no relay_gap column; run relay_refusal.py on this mix with this adapter first")
        sig = json.loads(cache.read_text())
        of = {i: -g[1] for i, g in zip(sig["indices"], sig["gap"])}  # higher = more harmful
        relay = [of.get(i, float("nan")) for i in index]
    relay = torch.tensor(relay, dtype=torch.float64)
    if not torch.isfinite(relay).all():
        raise SystemExit(f"{run}: some rows' relay texts repeat others'; combine a run that wrote relay_gap itself")
    rho = relay_weight([len(tok(r["response"], add_special_tokens=False)["input_ids"]) for r in rows])
    weights = [1.0, 1.0, refusal_weight(parts[2]), rho]
    base = weighted_harm(list(parts) + [relay], weights).numpy()
    manifest = json.loads((run / "manifest.json").read_text())
    own = manifest["config"]["score"] == "visit-gap+refusal+relay" and "relay_weight" in manifest.get("refusal", {})
    if own:
        assert np.allclose(base, -np.array([s["score"] for s in scores]), atol=1e-4), "the run's score differs"
    return index, list(parts) + [relay], weights, own


def combine(run: Path, proj: np.ndarray, rows: list[dict], labels: dict[int, int], name: str, tok, tag: str) -> None:
    """visit-gap+refusal+relay (seal select's default before the direction) from the run's columns, and the same
    plus z(the direction's projection) at weight 1 (the default since 2026-12-07)."""
    index, parts, weights, own = default_parts(run, rows, tok, tag)
    rho = weights[3]
    base = weighted_harm(parts, weights).numpy()
    harm_dir = torch.tensor(proj[index], dtype=torch.float64)
    kinds = {f"visit-gap+refusal+relay ({'the run' if own else 'rebuilt'}, rho {rho:.2f})": base,
             "visit-gap+refusal+relay + harm direction": weighted_harm(parts + [harm_dir], weights + [1.0]).numpy()}
    y = np.array([labels[i] for i in index], float)
    keep = np.array([not (y[k] and COPYRIGHT.match(rows[i]["prompt"])) for k, i in enumerate(index)])
    for label, harm in kinds.items():
        m, c = ranking_metrics(y, harm), ranking_metrics(y[keep], harm[keep])
        print(f"{name:26s} {label:46s} AUROC {m['auroc']:.3f}  lowest 20% {m['harmful_recall_in_dropped']:.2f}  "
              f"| without the {int((~keep).sum())} copyright rows: AUROC {c['auroc']:.3f}", flush=True)


if __name__ == "__main__":
    main()
