"""Host memory of the data layer and the selector's own state as the dataset grows (no model is loaded).

For each N: a synthetic JSONL of N prompt/response pairs (seeded random words, about --words words of response),
then, in a fresh process, seal's data layer reads and tokenises it with the SmolLM2 tokenizer
(`load_and_encode`, what `seal select` does), the selector's O(N) state is allocated (logits w, last losses,
latest signals) and a scores file is written. Printed: the peak RSS (VmHWM) of that process and the RSS held
after loading, in MiB, and whether the token store went to a memory-mapped file (it does past
`TokenStore.SPILL_TOKENS` tokens; its pages are file-backed, read in as batches need them and reclaimable).

    python benchmarks/memory_scale.py --sizes 10000 100000        # add 1000000 for the 1M point (slow)
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

_CHILD = r"""
import json, math, re, sys, time
from pathlib import Path
import torch
from seal.models import load_tokenizer
from seal.scores import write_scores
from seal.tokenization import load_and_encode

def rss(kind):
    return int(re.search(kind + r":\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) / 1024

path, max_length, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
tok = load_tokenizer("smollm2")
base = rss("VmRSS")
t0 = time.time()
encoded, report = load_and_encode(path, tok, max_length=max_length)
t_load = time.time() - t0
n = len(encoded)
state = [torch.zeros(n), torch.full((n,), math.nan), torch.full((n,), math.nan), torch.full((n,), math.nan)]
held = rss("VmRSS") - base
tokens = encoded.n_tokens
write_scores(out, ({"id": e.id, "index": e.index, "score": 0.0, "weight": 1.0, "rank": r + 1, "loss": None}
                   for r, e in enumerate(encoded)))
print(json.dumps({"samples": n, "tokens": tokens, "load_s": round(t_load, 1), "held_mib": round(held, 1),
                  "peak_mib": round(rss("VmHWM"), 1), "tokenizer_mib": round(base, 1),
                  "spilled": encoded.spilled}))
"""


def synthetic(path: Path, n: int, words: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    vocab = [f"{a}{b}" for a in ("ka", "lo", "mi", "su", "te", "ra", "no", "vi") for b in
             ("n", "m", "r", "s", "t", "l", "ko", "da")] + ["the", "a", "of", "and", "to", "in", "is", "it"]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            prompt = f"Task {i}: " + " ".join(rng.choices(vocab, k=20))
            response = " ".join(rng.choices(vocab, k=words))
            f.write(json.dumps({"prompt": prompt, "response": response}) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--words", type=int, default=100, help="words per response")
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--out", default="/tmp/seal-bench-memory")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print("| samples | tokens | load + tokenise (s) | held after loading (MiB) | peak RSS (MiB) | bytes/token held "
          "| tokens on disk |")
    print("|---|---|---|---|---|---|---|")
    for n in args.sizes:
        data = out / f"synthetic-{n}-{args.words}.jsonl"
        if not data.exists():
            synthetic(data, n, args.words)
        t0 = time.time()
        res = subprocess.run([sys.executable, "-c", _CHILD, str(data), str(args.max_length), str(out / "scores.jsonl")],
                             capture_output=True, text=True, check=True)
        r = json.loads(res.stdout.strip().splitlines()[-1])
        print(f"| {r['samples']:,} | {r['tokens']:,} | {r['load_s']} | {r['held_mib']:.0f} | {r['peak_mib']:.0f} | "
              f"{r['held_mib'] * 2**20 / r['tokens']:.1f} | {'yes' if r['spilled'] else 'no'} |  "
              f"({time.time() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
