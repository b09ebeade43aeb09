"""The aligned proxy's refusal propensity with each row's RESPONSE as the request, in one fixed template, on the
hard-negative mixes of hard_mixes.py (docs/selection-quality.md, "The response as the request").

Where the aligned proxy over-refuses a mix's benign requests (their register: "one sentence of a negative film
review that mentions ..."), every request-side signal reads the register, not the harm. This puts the first 64
tokens of the response, whatever the request was, into one fixed request, "Continue this text:\\n\\n{text}", and
scores the fixed refusal after it (seal.baselines.REFUSAL) under the base model and under base + the alignment
adapter: -l_aligned(refusal; template(r)) and its alignment gap -(l_aligned - l_base), over all of the refusal's
tokens and its first 8. AUROC / share of the harmful rows among the lowest-ranked 20% (higher = more harmful).
Template and signals were fixed before any number was read (2026-12-07). No training; about 2 minutes a mix.

With --select NAME (a finished `seal select` run in MIX/select/NAME with score visit-gap+refusal or
visit-gap+refusal+relay, as hard_mixes.py --variant NAME makes), also visit-gap+refusal rebuilt from its columns
and visit-gap+refusal+relay, the same sum plus z(the relay gap, first 8 tokens) at weight 1; the run's own score is
checked against the one of the two it names. Two exploratory weightings of the relay part follow (lambda(R), the
refusal part's weight, and 1 / (1 + lambda(R))); seal select offers neither. Where the run wrote its own relay
gap (`seal select`'s default score since 2026-12-07), the sum uses that column, and its largest difference from
this script's is printed.

    python benchmarks/relay_refusal.py --safety-adapter CACHE/aligned/KEY/adapter --out runs/hard-relay \\
        --mixes review-objective-matched book-continue-matched
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from agreement_rescore import run_parts  # benchmarks/, this folder
from hard_mixes import mix_parser, open_mix

from seal.baselines import REFUSAL, RELAY, RELAY_TEXT_TOKENS, loss_signals, refusal_weight, weighted_harm
from seal.metrics import ranking_metrics
from seal.models import load_tokenizer


def main() -> None:
    ap = mix_parser(__doc__, "also combine with the finished run MIX/select/NAME")
    args = ap.parse_args()
    tok = load_tokenizer(args.model)
    tag = Path(args.safety_adapter).parent.name
    for name in args.mixes:
        folder, rows, labels = open_mix(Path(args.shared), Path(args.out), name)
        cache = folder / f"relay-{tag}.json"
        if not cache.exists():
            path = folder / "relay.jsonl"  # row i of the mix is row i here (rows with the same text: the first)
            starts = [tok.decode(tok(r["response"], add_special_tokens=False)["input_ids"][:RELAY_TEXT_TOKENS])
                      for r in rows]
            path.write_text("".join(json.dumps({"prompt": RELAY.format(text=t), "response": REFUSAL}) + "\n"
                                    for t in starts))
            cache.write_text(json.dumps(loss_signals(str(path), args.model, args.safety_adapter, max_length=256,
                                                     first_tokens=8, progress=True)))
        sig = json.loads(cache.read_text())
        y = np.array([labels[i] for i in sig["indices"]], float)
        for key, label in (("aligned", "-l_aligned(refusal; template(r))"), ("gap", "-(aligned - base)"),
                           ("base", "-l_base(refusal; template(r))")):
            for col, span in ((0, "all tokens"), (1, "first 8")):
                m = ranking_metrics(y, -np.array([v[col] for v in sig[key]]))
                print(f"{name:26s} {label:34s} {span:10s} AUROC {m['auroc']:.3f}  lowest 20% "
                      f"{m['harmful_recall_in_dropped']:.2f}  ({len(y)} rows, adapter {tag})", flush=True)
        if args.select:
            combine(folder / "select" / args.select, sig, labels, name)


def combine(run: Path, sig: dict, labels: dict[int, int], name: str) -> None:
    """visit-gap+refusal from the run's columns, and the same plus z(relay gap, first 8 tokens)."""
    scores, index, parts = run_parts(run)
    relay_of = {i: g[1] for i, g in zip(sig["indices"], sig["gap"])}
    y = np.array([labels[i] for i in index], float)
    # higher = more harmful; NaN where the loader dropped a row whose template text repeats an earlier one's
    relay = torch.tensor([-relay_of.get(i, float("nan")) for i in index], dtype=torch.float64)
    if "relay_gap" in scores[0]:  # seal select's own reading of the same gap, on every row
        own = torch.tensor([s["relay_gap"] for s in scores], dtype=torch.float64)
        both = torch.isfinite(relay)
        print(f"{name:26s} relay gap: seal select's column against this script's, largest difference "
              f"{(own - relay)[both].abs().max():.2e} ({int(both.sum())} rows)", flush=True)
        relay = own
    elif not torch.isfinite(relay).all():
        raise SystemExit(f"{name}: some rows' relay texts repeat others'; combine a run that wrote relay_gap itself")
    lam = refusal_weight(parts[2])
    parts, weights = list(parts), [1.0, 1.0, lam]
    manifest = json.loads((run / "manifest.json").read_text())  # rho: the relay gate (1 in runs before it)
    kind, rho = manifest["config"]["score"], manifest.get("refusal", {}).get("relay_weight", 1.0)
    kinds = {"visit-gap+refusal": weighted_harm(parts, weights).numpy(),
             "visit-gap+refusal+relay": weighted_harm(parts + [relay], weights + [rho]).numpy()}
    # not scores seal select offers: the relay part weighted by lambda(R) too, or by 1 / (1 + lambda(R))
    kinds["relay weighted lambda (exploratory)"] = weighted_harm(parts + [relay], weights + [lam]).numpy()
    kinds["relay weighted 1/(1+lambda) (exploratory)"] = weighted_harm(parts + [relay],
                                                                     weights + [1 / (1 + lam)]).numpy()
    stored = -np.array([s["score"] for s in scores])
    assert kind in kinds and np.allclose(kinds[kind], stored, atol=1e-4), f"the run's score is not {kind} of its parts"
    for label, harm in kinds.items():
        m = ranking_metrics(y, harm)
        label += " (the run's own)" if label == kind else "" if "exploratory" in label else " (rebuilt)"
        print(f"{name:26s} {label:40s} AUROC {m['auroc']:.3f}  lowest 20% {m['harmful_recall_in_dropped']:.2f}  "
              f"(lambda {lam:.2f})", flush=True)


if __name__ == "__main__":
    main()
