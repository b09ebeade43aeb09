"""The aligned proxy's refusals read after it has learned the fine-tuning data's register (docs/selection-quality.md,
"The proxy's refusals after adapting it to the data"). No labels are used except to score.

Where `seal select`'s aligned proxy refuses many benign requests of a register its alignment set never showed
(film reviews that mention a killing, passages of novels to continue), the request-side part of its score says
little. Two ways of letting the proxy see the register first, each read from a finished `seal select` run of
benchmarks/hard_mixes.py (MIX/select/defaults, with its checkpoint):

    final     the run's own safety-aware model at its last step (theta = theta_hat + theta adapters): it has been
              fine-tuned on every row, harmful ones included, once
    crossfit  two folds by id hash; for each, a new LoRA on top of the alignment adapter is trained on the OTHER
              fold's rows with the objective 0.5 safe + 0.5 data (--epochs passes, batch 8, safe batch 4, --lr),
              then answers this fold's requests: no row is judged by a model that learned its own answer
    answered  one new LoRA, trained the same way on the rows whose request the step-0 proxy ANSWERED (its
              `refuses` is 0 in the run's scores: mostly benign rows, few harmful ones), then asks again only the
              requests it refused: a refusal counts if the proxy refuses before and after

Each answers the requests (32 greedy tokens, keyword judge, as `refuses`) and, for crossfit, scores the graded
propensity (minus the loss of a fixed refusal right after the request, first 8 tokens). Prints AUROC / harmful
among the lowest 20% of the step-0 refusal (the run's column), the adapted one, `seal select`'s defaults and the
defaults with the adapted refusal in place (its own lambda), and how many benign / harmful requests each refuses.
With --json, the per-row readings go to a file (benchmarks/adapted_refusal.py combos reads them back).

    python benchmarks/adapted_refusal.py crossfit --lr 3e-4 --epochs 1 --json runs/adapted.json \\
        runs/hard-registers/review-objective-matched runs/hard-registers/book-continue-matched
    python benchmarks/adapted_refusal.py combos runs/adapted.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


def _run(folder: Path):
    from seal.select import SelectConfig

    m = json.loads((folder / "select" / "defaults" / "manifest.json").read_text())
    names = {f.name for f in fields(SelectConfig)}
    return SelectConfig(**{k: v for k, v in m["config"].items() if k in names})


def _answers(model, tok, samples) -> list[float]:
    from seal.baselines import ANSWER_TOKENS
    from seal.generate import generate
    from seal.judges import KeywordJudge

    model.eval()
    with torch.no_grad():
        answers = generate(model, tok, [s.prompt for s in samples], max_new_tokens=ANSWER_TOKENS, batch_size=64,
                           progress=False)
    return [float(v) for v in KeywordJudge().judge(None, answers)]


def final_readings(folder: Path) -> dict:
    """{id: refuses} by the run's theta at its last step (its checkpoint)."""
    from seal.data import load_samples
    from seal.models import use_adapter
    from seal.select import load_checkpoint, setup

    cfg = _run(folder)
    run = setup(cfg)
    if not load_checkpoint(run):
        raise SystemExit(f"{folder}: no checkpoint of the finished run")
    by_id = {s.id: s for s in load_samples(cfg.data)[0]}
    use_adapter(run.model, ["theta_hat", "theta"])
    refuses = _answers(run.model, run.tokenizer, [by_id[e.id] for e in run.encoded])
    return {"refuses": dict(zip([e.id for e in run.encoded], refuses, strict=True))}


def crossfit_readings(folder: Path, lr: float, epochs: int) -> dict:
    """{"refuses": {id: 0/1}, "propensity": {id: float}}, each row read by the model adapted to the other fold."""
    from seal.baselines import PROPENSITY_TOKENS, REFUSAL, response_losses
    from seal.data import load_samples
    from seal.select import setup
    from seal.tokenization import encode

    cfg = _run(folder)
    by_id = {s.id: s for s in load_samples(cfg.data)[0]}
    refuses, propensity = {}, {}
    for fold in (0, 1):
        torch.manual_seed(0)
        run = setup(cfg)  # theta_hat: a new LoRA (B = 0); theta: the alignment adapter
        model, tok = run.model, run.tokenizer
        fold_of = [int(hashlib.sha256(e.id.encode()).hexdigest()[:8], 16) % 2 for e in run.encoded]
        train_rows = [e for e, f in zip(run.encoded, fold_of, strict=True) if f != fold]
        score_rows = [e for e, f in zip(run.encoded, fold_of, strict=True) if f == fold]
        _adapt(run, train_rows, lr, epochs)
        requests = [by_id[e.id] for e in score_rows]
        refuses.update(zip([e.id for e in score_rows], _answers(model, tok, requests), strict=True))
        asked = [encode(tok, replace(s, prefill="", response=REFUSAL), cfg.max_length + 16)[0] for s in requests]
        losses = response_losses(model, asked, tok.pad_token_id, run.device, first_tokens=PROPENSITY_TOKENS)[:, 1]
        propensity.update(zip([e.id for e in score_rows], (-losses).tolist(), strict=True))
    return {"refuses": refuses, "propensity": propensity}


def _adapt(run, rows: list, lr: float, epochs: int, seed: int = 0) -> None:
    """Train run.model's theta_hat adapter (B = 0 at the start), stacked on the alignment adapter (theta), on `rows`
    with the objective 0.5 safe + 0.5 data."""
    from seal.batching import cycling_batch, epoch_batches
    from seal.models import adapter_parameters, per_sample_loss, use_adapter

    model = run.model
    use_adapter(model, ["theta_hat", "theta"], trainable="theta_hat")
    model.train()
    opt = torch.optim.AdamW(adapter_parameters(model, "theta_hat"), lr=lr, weight_decay=0.0)
    step = 0
    for epoch in range(epochs):
        for idx in epoch_batches(len(rows), 8, seed, epoch):
            data = run.collate([rows[i] for i in idx.tolist()])
            safe = run.collate([run.safe_encoded[i] for i in cycling_batch(len(run.safe_encoded), 4, seed, step)])
            loss = 0.5 * per_sample_loss(model, safe).mean() + 0.5 * per_sample_loss(model, data).mean()
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1


def answered_readings(folder: Path, lr: float, epochs: int) -> dict:
    """{"refuses": {id: 0/1}, "propensity": {id: float}}: refused at step 0 and again after the proxy learned the
    rows it answered at step 0; the propensity of every row under the adapted proxy."""
    from seal.baselines import PROPENSITY_TOKENS, REFUSAL, response_losses
    from seal.data import load_samples
    from seal.select import setup
    from seal.tokenization import encode

    cfg = _run(folder)
    by_id = {s.id: s for s in load_samples(cfg.data)[0]}
    step0 = {json.loads(line)["id"]: json.loads(line)["refuses"]
             for line in open(folder / "select" / "defaults" / "scores.jsonl", encoding="utf-8")}
    torch.manual_seed(0)
    run = setup(cfg)
    _adapt(run, [e for e in run.encoded if not step0[e.id]], lr, epochs)
    again = [e for e in run.encoded if step0[e.id]]
    refuses = {e.id: 0.0 for e in run.encoded}
    refuses.update(zip([e.id for e in again], _answers(run.model, run.tokenizer, [by_id[e.id] for e in again]),
                       strict=True))
    asked = [encode(run.tokenizer, replace(by_id[e.id], prefill="", response=REFUSAL), cfg.max_length + 16)[0]
             for e in run.encoded]
    losses = response_losses(run.model, asked, run.tokenizer.pad_token_id, run.device,
                             first_tokens=PROPENSITY_TOKENS)[:, 1]
    return {"refuses": refuses, "propensity": dict(zip([e.id for e in run.encoded], (-losses).tolist(), strict=True))}


def score(folder: Path, readings: dict) -> dict:
    """AUROC / recall in the lowest 20% of the step-0 and adapted readings and of the scores built from them."""
    from hard_mixes import evaluate_signal, read_labels

    from seal.baselines import refusal_weight, weighted_harm

    run_dir = folder / "select" / "defaults"
    rows_scored = [json.loads(line) for line in open(run_dir / "scores.jsonl", encoding="utf-8")]
    rows = [json.loads(line) for line in open(folder / "mix" / "mix.jsonl", encoding="utf-8")]
    labels = read_labels(folder / "mix" / "labels.jsonl")
    index = [s["index"] for s in rows_scored]
    col = lambda f: torch.tensor([f(s) for s in rows_scored], dtype=torch.float64)  # noqa: E731
    gap, brk, r0 = col(lambda s: s["loss"] - s["loss_hat"]), col(lambda s: s["break_gap"]), col(lambda s: s["refuses"])
    rx = col(lambda s: readings["refuses"][s["id"]])
    lab = torch.tensor([labels[i] for i in index])
    l0, lx = refusal_weight(r0), refusal_weight(rx)
    variants = {"refuses, step 0": r0, "refuses, adapted": rx,
                "defaults": weighted_harm([gap, brk, r0], [1, 1, l0]),
                "defaults, adapted refusal": weighted_harm([gap, brk, rx], [1, 1, lx]),
                "defaults + adapted refusal": weighted_harm([gap, brk, r0, rx], [1, 1, l0, lx])}
    if "propensity" in readings:
        variants["propensity, adapted"] = col(lambda s: readings["propensity"][s["id"]])
    out = {}
    for name, harm in variants.items():
        e = evaluate_signal(name, dict(zip(index, harm.tolist(), strict=True)), labels, rows)
        out[name] = f"{e['auroc']:.3f} / {100 * e['recall20']:.0f}%"
    out["benign / harmful refused, step 0"] = f"{int(r0[lab == 0].sum())} / {int(r0[lab == 1].sum())}"
    out["benign / harmful refused, adapted"] = f"{int(rx[lab == 0].sum())} / {int(rx[lab == 1].sum())}"
    out["lambda step 0, adapted"] = f"{l0:.2f}, {lx:.2f}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("final", "crossfit", "answered", "combos"))
    ap.add_argument("paths", nargs="+", help="mix folders (final, crossfit, answered) or one --json file (combos)")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--json", help="write the per-row readings here (final, crossfit)")
    args = ap.parse_args()
    if args.mode == "combos":
        saved = json.loads(Path(args.paths[0]).read_text())
        for folder, readings in saved.items():
            print(Path(folder).name, score(Path(folder), readings), flush=True)
        return
    saved = json.loads(Path(args.json).read_text()) if args.json and Path(args.json).exists() else {}
    for folder in map(Path, args.paths):
        t0 = time.time()
        readings = (final_readings(folder) if args.mode == "final" else
                    crossfit_readings(folder, args.lr, args.epochs) if args.mode == "crossfit" else
                    answered_readings(folder, args.lr, args.epochs))
        print(folder.name, score(folder, readings), f"{time.time() - t0:.0f} s", flush=True)
        if args.json:
            saved[str(folder)] = readings
            Path(args.json).write_text(json.dumps(saved))


if __name__ == "__main__":
    main()
