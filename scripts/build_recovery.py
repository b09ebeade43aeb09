"""Build align-recovery.jsonl: recovery examples for "deeper" alignment (Qi et al. 2024, arXiv:2406.05946):

    python scripts/build_recovery.py [--out-dir src/seal/resources/builtin] [--max-prefix 32] [--skip-recovery]

Each row is a harmful request of the alignment set (builtin:safe, align-refusals, align-requests: the same
prompts and refusals, no new harmful requests), a `prefill` holding the first k tokens of a compliant answer
(k drawn uniformly from 1..--max-prefix, seeded), and the row's refusal as the response. The prefill is part of
the prompt for training (not trained on), so the model learns to stop and refuse after it has started to comply,
not only in its first tokens: a shallow refusal is what fine-tuning on benign data erodes (docs/testbed.md).

The compliant answers come from the embedded SmolLM2-135M-Instruct before alignment, greedy: the plain answer
where it complies, else its continuation of "Sure, here is" (refusals, judged by keyword:seal-v1, are dropped).
They are never shipped as responses: only their first k tokens, as prefills that carry no loss. None of these
prompts is an evaluation prompt (they are the alignment set's own, checked in tests/test_builtin.py).

It also writes align-continue.jsonl, the benign counterpart: helpful rows of the alignment set (builtin:safe's
helpful half, benign-open, benign-questions, benign-contrast) split into a prefill (their answer's first k tokens)
and the rest of the answer as the response, so that whether to stop and refuse depends on the request, not on an
answer having started (with recovery rows alone the model learned to break off benign answers on alarming topics
too: docs/testbed-deep.md). --skip-recovery rewrites only this file (no model needed)."""

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_builtin import write_jsonl  # noqa: E402

OPENER = "Sure, here is"
SOURCES = ("safe.jsonl", "align-refusals.jsonl", "align-requests.jsonl")
HELPFUL = ("safe.jsonl", "benign-open.jsonl", "benign-questions.jsonl", "benign-contrast.jsonl")


def rows_of(folder: Path, names: tuple[str, ...], refusals: bool) -> list[dict]:
    """The refusal rows (refusals=True) or the other rows of these files, in order."""
    rows = [json.loads(line) for name in names for line in open(folder / name, encoding="utf-8") if line.strip()]
    return [r for r in rows if r.get("category", "").startswith("refusal") == refusals]


def continuations(rows: list[dict], n: int, max_prefix: int, tok, rng: random.Random) -> list[dict]:
    """n helpful rows split into a prefill (their answer's first k tokens) and the rest of the answer, so that
    what decides a refusal is the request, not a partial answer that has started."""
    out = []
    for row in rng.sample(rows, min(n, len(rows))):
        ids = tok(row["response"], add_special_tokens=False)["input_ids"]
        if len(ids) < 8:
            continue
        k = rng.randint(1, min(max_prefix, len(ids) - 4))
        prefill, rest = tok.decode(ids[:k]), tok.decode(ids[k:])
        if prefill + rest != row["response"]:   # a token boundary inside a character: keep only exact splits
            continue
        out.append({"prompt": row["prompt"], "prefill": prefill, "response": rest,
                    "source": row.get("source", "seal-llm") + "+continuation",
                    "category": row.get("category", "helpful") + "/continuation"})
    return out


def compliant_answers(prompts: list[str], max_new_tokens: int) -> list[str | None]:
    """The unaligned model's answer to each prompt, or its continuation of OPENER where it refuses; None where
    both refuse."""
    from seal.generate import generate
    from seal.judges import KeywordJudge
    from seal.models import load_model, load_tokenizer

    model, tok = load_model("smollm2"), load_tokenizer("smollm2")
    judge = KeywordJudge("seal-v1")
    chats = [[{"role": "user", "content": p}] for p in prompts]
    answers: list[str | None] = generate(model, tok, chats, max_new_tokens=max_new_tokens, batch_size=16,
                                         desc="answers")
    again = [i for i, a in enumerate(answers) if judge.is_refusal(a)]
    opened = generate(model, tok, [chats[i] for i in again], max_new_tokens=max_new_tokens, batch_size=16,
                      desc="opened", prefills=[OPENER] * len(again))
    for i, cont in zip(again, opened, strict=True):
        text = f"{OPENER} {cont}"
        answers[i] = None if judge.is_refusal(cont) or not cont.strip() else text
    return answers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    folder = Path(__file__).resolve().parents[1] / "src/seal/resources/builtin"
    ap.add_argument("--out-dir", default=str(folder), help="where align-recovery.jsonl and align-continue.jsonl go")
    ap.add_argument("--max-prefix", type=int, default=32, help="longest prefill, in tokens")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--continuations", type=int, default=864,
                    help="helpful rows drawn for align-continue.jsonl (those that split exactly are kept)")
    ap.add_argument("--skip-recovery", action="store_true", help="write align-continue.jsonl only (no model)")
    args = ap.parse_args()
    out_dir = Path(args.out_dir)

    from seal.models import load_tokenizer

    tok = load_tokenizer("smollm2")
    more = continuations(rows_of(folder, HELPFUL, refusals=False), args.continuations, args.max_prefix, tok,
                         random.Random(args.seed + 1))
    write_jsonl(out_dir / "align-continue.jsonl", more)
    if args.skip_recovery:
        return
    rows = rows_of(folder, SOURCES, refusals=True)
    answers = compliant_answers([r["prompt"] for r in rows], max_new_tokens=args.max_prefix + 8)
    rng = random.Random(args.seed)
    out, skipped = [], 0
    for row, answer in zip(rows, answers, strict=True):
        if answer is None:
            skipped += 1
            continue
        ids = tok(answer, add_special_tokens=False)["input_ids"]
        k = rng.randint(1, min(args.max_prefix, len(ids)))
        prefill = tok.decode(ids[:k])
        out.append({"prompt": row["prompt"], "prefill": prefill, "response": "\n\n" + row["response"],
                    "source": row["source"] + "+recovery", "category": row["category"] + "/recovery"})
    write_jsonl(out_dir / "align-recovery.jsonl", out)
    print(f"{skipped} prompts skipped: the unaligned model refused both ways")


if __name__ == "__main__":
    main()
