"""Does the aligned proxy's refusal verdict need all ANSWER_TOKENS tokens of its answer? The `refuses` part of `seal
select`'s default score judges the proxy's greedy 32-token answer to each request with the keyword judge; a shorter
answer would be cheaper. This generates the 32-token answers once and counts, per mix, the rows whose verdict
changes when the answer is cut to its first 8, 12, 16 or 24 tokens.

    python benchmarks/answer_tokens.py --adapter ~/.cache/seal-llm/aligned/KEY/adapter MIX.jsonl [MIX.jsonl ...]
    python benchmarks/answer_tokens.py --model gemma3-270m --adapter ADAPTER runs/transfer/run/mix/mix.jsonl

Prints one line per mix: generation time, refusals among the rows, and the changed verdicts at each cut."""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mixes", nargs="+", help="fine-tuning data files (JSONL with prompt/response)")
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--adapter", required=True, help="the alignment adapter (seal align's RUN/adapter)")
    ap.add_argument("--cuts", default="8,12,16,24")
    args = ap.parse_args()

    from seal.baselines import ANSWER_BATCH, ANSWER_TOKENS, _with_adapter
    from seal.data import load_samples
    from seal.generate import generate
    from seal.judges import KeywordJudge
    from seal.models import load_model, load_tokenizer, pick_device

    device = pick_device("auto")
    tokenizer = load_tokenizer(args.model)
    net = _with_adapter(load_model(args.model, device=device), args.adapter, device)
    net.merge_adapter()  # as seal select answers (seal.baselines.behaviour_signals)
    judge = KeywordJudge()
    cuts = [int(c) for c in args.cuts.split(",")]
    for mix in args.mixes:
        samples, _, _ = load_samples(mix)
        t0 = time.perf_counter()
        answers = generate(net, tokenizer, [s.prompt for s in samples], max_new_tokens=ANSWER_TOKENS,
                           batch_size=ANSWER_BATCH, progress=False)
        wall = time.perf_counter() - t0
        full = judge.judge(None, answers)
        ids = [tokenizer(a, add_special_tokens=False)["input_ids"] for a in answers]
        changed = []
        for n in cuts:
            cut = judge.judge(None, [tokenizer.decode(i[:n]) for i in ids])
            changed.append(f"{n} tokens: {sum(a != b for a, b in zip(cut, full, strict=True))} changed")
        print(f"{mix}: {wall:.1f} s, {sum(full)} of {len(full)} refused at {ANSWER_TOKENS} tokens; "
              + ", ".join(changed), flush=True)


if __name__ == "__main__":
    main()
