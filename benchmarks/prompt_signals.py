"""Static signals that look at the request, or take the response's style out, on the hard-negative mixes of
hard_mixes.py (docs/selection-quality.md).

For each row z = (prompt p, response r) of a MIX folder (runs/hard/NAME, holding mix/mix.jsonl and labels.jsonl),
the losses under the base SmolLM2 and under base + the alignment adapter of:
    orig     r given p                               (the sample itself)
    neutral  r given the prompt "Write a text."      (the response's likelihood without its prompt: style)
    refusal  a fixed refusal given p                 (how readily the model refuses p)
    cutT     the refusal after the first T tokens of r, as a prefill (how readily the model breaks off r; the
             recovery rows of builtin:align-recovery teach exactly that)
and, with --generate, the aligned model's own greedy answer to p (32 tokens), judged by the keyword judge (does
the proxy itself refuse the request?). Each signal is reported over all tokens of the scored text and over its
first 8 tokens (first 4 for the cut refusals), as AUROC / share of the harmful rows among the lowest-ranked 20%
(harmful = positive, higher = more harmful). Labels are read only to score. With --combine K, every sum of up to
K z-scored signals is scored on every mix, and the best by its worst mix is printed: how far the signals here
could go together, chosen with the labels (an upper bound, not a selector).

    python benchmarks/prompt_signals.py --safety-adapter CACHE/aligned/KEY/adapter \\
        --mix runs/hard/news-report runs/hard/alpaca-heldout --generate --combine 3
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

from seal.baselines import BREAK_OFF, REFUSAL, loss_signals
from seal.metrics import ranking_metrics, read_labels

CUTS = (16, 48)


def variants(rows: list[dict], tokenizer) -> dict[str, list[dict]]:
    out = {"orig": rows,
           "neutral": [{"prompt": "Write a text.", "response": r["response"]} for r in rows],
           "refusal": [{"prompt": r["prompt"], "response": REFUSAL} for r in rows]}
    for t in CUTS:
        out[f"cut{t}"] = [{"prompt": r["prompt"], "response": BREAK_OFF, "prefill": tokenizer.decode(
            tokenizer(r["response"], add_special_tokens=False)["input_ids"][:t])} for r in rows]
    return out


def mix_losses(folder: Path, args, tokenizer) -> dict[str, dict[int, tuple]]:
    """{variant: {row: (base losses, aligned losses)}}, each a pair [all tokens, first k tokens]; cached."""
    rows = [json.loads(line) for line in open(folder / "mix" / "mix.jsonl", encoding="utf-8")]
    out = folder / "prompt-signals"
    out.mkdir(exist_ok=True)
    loss = {}
    for name, variant in variants(rows, tokenizer).items():
        cache = out / f"{name}.json"
        if not cache.exists():
            path = out / f"{name}.jsonl"
            path.write_text("".join(json.dumps(x) + "\n" for x in variant))
            # the ids differ between variants; each row keeps its position as `index`
            first = 4 if name.startswith("cut") else 8
            cache.write_text(json.dumps(loss_signals(str(path), args.model, args.safety_adapter,
                                                     max_length=args.max_length + (64 if first == 4 else 0),
                                                     first_tokens=first,
                                                     progress=True)))
        loss[name] = cached_losses(out, name)
    return loss


def cached_losses(out: Path, name: str) -> dict[int, tuple]:
    """{row: (base losses, aligned losses)} of the variant `name` cached in `out` (a mix's prompt-signals folder).
    Loading keeps the first of identical rows (ids are content hashes): a repeated row (a prompt asked many times,
    with the fixed refusal) takes the losses of its first occurrence, the same text."""
    sig = json.loads((out / f"{name}.json").read_text())
    found = {i: (np.array(b), np.array(a)) for i, b, a in zip(sig["indices"], sig["base"], sig["aligned"])}
    first, rows = {}, {}
    for i, line in enumerate(open(out / f"{name}.jsonl", encoding="utf-8")):
        j = first.setdefault(json.dumps(json.loads(line), sort_keys=True), i)
        if j in found:
            rows[i] = found[j]
    return rows


def proxy_refuses(folder: Path, args) -> dict[int, float]:
    """1.0 where the aligned proxy's own greedy answer to the row's prompt is a refusal (keyword judge)."""
    cache = folder / "prompt-signals" / "generated.json"
    rows = [json.loads(line) for line in open(folder / "mix" / "mix.jsonl", encoding="utf-8")]
    if not cache.exists():
        from seal.baselines import _with_adapter
        from seal.generate import generate
        from seal.models import load_model, load_tokenizer
        net = _with_adapter(load_model(args.model), args.safety_adapter, "cpu").eval()
        answers = generate(net, load_tokenizer(args.model), [[{"role": "user", "content": r["prompt"]}]
                                                             for r in rows], max_new_tokens=32, desc="answers")
        cache.write_text(json.dumps(answers))
    from seal.judges import KeywordJudge
    return dict(enumerate(map(float, KeywordJudge().judge(None, json.loads(cache.read_text())))))


def signals(loss, refused) -> dict[str, callable]:
    def lo(name, model, i, c):  # model 0 = base, 1 = aligned; NaN where the variant's row was not scored
        return loss[name][i][model][c] if i in loss[name] else np.nan

    def gap(name, i, c):  # aligned minus base: how much alignment made the text LESS likely
        return lo(name, 1, i, c) - lo(name, 0, i, c)

    out = {
        "loss gap aligned - base (the defaults' starting signal)": lambda i, c: gap("orig", i, c),
        "prompt-free gap: gap(r; p) - gap(r; neutral)": lambda i, c: gap("orig", i, c) - gap("neutral", i, c),
        "aligned PMI: l_aligned(r; p) - l_aligned(r; neutral)":
            lambda i, c: lo("orig", 1, i, c) - lo("neutral", 1, i, c),
        "refusal propensity, aligned: -l_aligned(refusal; p)": lambda i, c: -lo("refusal", 1, i, c),
        "refusal propensity, base: -l_base(refusal; p)": lambda i, c: -lo("refusal", 0, i, c),
        "refusal gap: -(gap of the refusal given p)": lambda i, c: -gap("refusal", i, c),
        "margin, aligned: l_aligned(r; p) - l_aligned(refusal; p)":
            lambda i, c: lo("orig", 1, i, c) - lo("refusal", 1, i, c),
        "margin gap: gap(r; p) - gap(refusal; p)": lambda i, c: gap("orig", i, c) - gap("refusal", i, c),
    }
    for t in CUTS:
        out[f"break-off after {t} tokens, aligned: -l_aligned(refusal; p, r[:{t}])"] = \
            lambda i, c, t=t: -lo(f"cut{t}", 1, i, c)
        out[f"break-off gap after {t} tokens: -(gap of the refusal given p, r[:{t}])"] = \
            lambda i, c, t=t: -gap(f"cut{t}", i, c)
    if refused is not None:
        out["the aligned proxy refuses p (its own greedy answer, keyword judge)"] = lambda i, c: refused[i]
    return out


# Sums fixed on 2026-12-02 from the four mixes of docs/hard-mixes-topical.md (the best label-chosen 3-sum there,
# and the same with the selector's visit gap added), before the held-out review-objective mix was built; the
# third after review-objective had been seen and before xstest-answers was built: --fixed scores exactly these
# on every --mix, without choosing anything.
BREAK48 = "break-off after 48 tokens, aligned: -l_aligned(refusal; p, r[:48])"
BREAK48_GAP = "break-off gap after 48 tokens: -(gap of the refusal given p, r[:48])"
REFUSES = "the aligned proxy refuses p (its own greedy answer, keyword judge)"
VISIT_GAP = "seal select visit gap (--select NAME)"
FIXED = {"behaviour (3 signals)": [(BREAK48, "first"), (BREAK48_GAP, "all"), (REFUSES, "all")],
         "behaviour + visit gap": [(BREAK48, "first"), (BREAK48_GAP, "all"), (REFUSES, "all"), (VISIT_GAP, "all")],
         "visit gap + break-off gap": [(VISIT_GAP, "all"), (BREAK48_GAP, "all")]}


def z(s: np.ndarray) -> np.ndarray:
    return (s - s.mean()) / (s.std() or 1.0)


def score(y: np.ndarray, s: np.ndarray) -> tuple[float, float] | None:
    """AUROC and the share of the harmful rows among the lowest-ranked 20% (the highest harmfulness scores);
    None where the signal is undefined on some row or constant."""
    if np.isnan(s).any() or s.std() == 0:
        return None
    m = ranking_metrics(y, s)
    return m["auroc"], m["harmful_recall_in_dropped"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mix", nargs="+", required=True, help="folders of hard_mixes.py (mix/mix.jsonl, labels.jsonl)")
    ap.add_argument("--safety-adapter", required=True)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--generate", action="store_true", help="also let the aligned proxy answer each prompt")
    ap.add_argument("--combine", type=int, default=0, metavar="K", help="score sums of up to K signals")
    ap.add_argument("--select", metavar="NAME", help="add the visit gap of MIX/select/NAME/scores.jsonl as a signal")
    ap.add_argument("--fixed", action="store_true", help="score the sums fixed in FIXED (needs --generate, --select)")
    args = ap.parse_args()
    from seal.models import load_tokenizer
    tokenizer = load_tokenizer(args.model)
    columns = {}  # (signal, span) -> {mix: (labels, scores)}
    for folder in map(Path, args.mix):
        labels = read_labels(folder / "mix" / "labels.jsonl")
        loss = mix_losses(folder, args, tokenizer)
        refused = proxy_refuses(folder, args) if args.generate else None
        idx = sorted(labels)
        y = np.array([labels[i] for i in idx])
        found = signals(loss, refused)
        if args.select:
            visit = {r["index"]: -r["score"] for r in map(json.loads, open(folder / "select" / args.select /
                                                                          "scores.jsonl", encoding="utf-8"))}
            found[VISIT_GAP] = lambda i, c, visit=visit: visit[i]
        for name, f in found.items():
            for c, span in ((0, "all"), (1, "first")):
                s = np.array([f(i, c) for i in idx], dtype=float)
                columns.setdefault((name, span), {})[folder.name] = (y, s)
        if refused is not None:
            r = np.array([refused[i] for i in idx])
            print(f"{folder.name}: the aligned proxy refuses {r[y == 1].mean():.2f} of the harmful prompts and "
                  f"{r[y == 0].mean():.2f} of the benign ones")
    names = [Path(m).name for m in args.mix]
    head = " | ".join(f"{n}, {span}" for n in names for span in ("all tokens", "first tokens"))
    lines = ["AUROC / harmful among the lowest 20% (first tokens: 8 of the scored text, 4 of a break-off refusal)",
             "", f"| signal (higher = more harmful) | {head} |", "|---" * (1 + 2 * len(names)) + "|"]
    cell = lambda r: "-" if r is None else f"{r[0]:.3f} / {r[1]:.2f}"  # noqa: E731
    for name in dict.fromkeys(name for name, _ in columns):
        lines.append(f"| {name} | " + " | ".join(cell(score(*columns[(name, span)][n]))
                                                 for n in names for span in ("all", "first")) + " |")
    if args.fixed:
        lines += ["", "Fixed sums of z-scored signals (FIXED: each chosen before the mixes it is checked on):", "",
                  "| sum | " + " | ".join(names) + " |", "|---" * (1 + len(names)) + "|"]
        for label, combo in FIXED.items():
            lines.append(f"| {label} | " + " | ".join(
                cell(score(columns[combo[0]][n][0], sum(z(columns[c][n][1]) for c in combo))) for n in names) + " |")
    if args.combine:
        best = []
        keys = [k for k in columns if all(score(*columns[k][n]) is not None for n in names)]
        for k in range(1, args.combine + 1):
            for combo in itertools.combinations(keys, k):
                res = [score(columns[combo[0]][n][0], sum(z(columns[c][n][1]) for c in combo)) for n in names]
                best.append((min(a for a, _ in res), combo, res))
        best.sort(key=lambda x: -x[0])
        lines += ["", f"Best sums of up to {args.combine} z-scored signals, by their worst mix ({len(best)} tried, "
                      "chosen with the labels: an upper bound):", "",
                  "| signals | " + " | ".join(names) + " |", "|---" * (1 + len(names)) + "|"]
        for _, combo, res in best[:5]:
            lines.append("| " + " + ".join(f"{n} ({span})" for n, span in combo) + " | " +
                         " | ".join(cell(r) for r in res) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
