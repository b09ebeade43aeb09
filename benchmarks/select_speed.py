"""Wall time of one selection epoch (Algorithm 1, Algorithm 2) against one plain LoRA fine-tuning epoch on the
same data, model and batches; each variant runs in its own process so its peak memory is its own.

    python benchmarks/select_speed.py                       # SmolLM2, the shipped example mix (100 rows)
    python benchmarks/select_speed.py --model PATH --data FILE --safe FILE --safe-batch-sizes 8,4,2
    python benchmarks/select_speed.py --device cuda --model PATH ...   # on a GPU: also peak CUDA memory
    python benchmarks/select_speed.py --no-length-split         # each selection batch in one padded pass

Prints one line per variant and the ratios to the plain epoch. Targets (not tests): Algorithm 2 <= 1.5x,
Algorithm 1 <= 2x a plain LoRA epoch."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from importlib.resources import files

EXAMPLES = files("seal") / "resources" / "examples"


def plain_steps(run, n: int | None = None) -> None:
    """The first n (default: all) steps of one plain LoRA fine-tuning epoch, what `seal finetune` does per step:
    the run's theta adapter, optimizer, batches and loss, no safe set, no weights. The passes are named for a
    profiler (benchmarks/profile_step.py) as in seal/bilevel.py."""
    from torch.profiler import record_function

    from seal.batching import epoch_batches, micro_batches

    for idx in epoch_batches(len(run.encoded), run.cfg.batch_size, run.cfg.seed, 0)[:n]:
        for mb in micro_batches([run.encoded[i] for i in idx.tolist()], run.cfg.batch_size):
            with record_function("seal: forward"):
                loss = run.theta.losses(run.collate(mb)).mean()
            with record_function("seal: backward"):
                loss.backward()
        with record_function("seal: optimizer steps"):
            run.theta.step()


def run_variant(args) -> dict:
    import torch

    from seal.manifest import process_peak_rss_mib
    from seal.select import SelectConfig, setup, train

    if args.no_length_split:  # every batch padded to its longest sample in one pass, as before cheapest_cuts
        import seal.select
        seal.select.PASS_OVERHEAD_TOKENS, seal.select.PASS_OVERHEAD_TOKENS_OTHER = {}, 10**12
    torch.manual_seed(0)
    cfg = SelectConfig(data=args.data, safe=args.safe, out=args.out, model=args.model, epochs=1,
                       batch_size=args.batch_size, safe_batch_size=args.safe_batch_size, max_length=args.max_length,
                       algorithm=1 if args.variant == "alg1" else 2, overwrite=True, progress=False,
                       device=args.device, lora_layers=args.lora_layers if args.variant != "plain-all" else None,
                       safety_adapter=args.safety_adapter)
    run = setup(cfg)
    cuda = run.device.type == "cuda"
    tokens = sum(len(e) for e in run.encoded)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    if args.variant in ("plain", "plain-all"):
        plain_steps(run)  # one plain LoRA epoch
        steps = run.steps_per_epoch
    else:
        train(run)
        steps = run.step
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    return {"variant": args.variant, "safe_batch_size": args.safe_batch_size, "steps": steps,
            "wall_s": round(wall, 2), "s_per_step": round(wall / steps, 3), "tokens_per_s": round(tokens / wall, 1),
            "peak_rss_mb": process_peak_rss_mib(), "samples": len(run.encoded), "threads": torch.get_num_threads(),
            "device": str(run.device),
            "peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--data", default=str(EXAMPLES / "mix.jsonl"))
    ap.add_argument("--safe", default=str(EXAMPLES / "safe.jsonl"))
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--safe-batch-sizes", default="8,2", help="comma-separated safe batch sizes to measure")
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--safety-adapter", default="auto", help="as seal select's (auto: the cached `seal align` "
                    "adapter of an embedded model with seal align's default settings, made on first use; seal "
                    "demo's alignment has other settings, so pass its CACHE/aligned/KEY/adapter to reuse it)")
    ap.add_argument("--out", default="/tmp/seal-bench-select")
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda ...")
    ap.add_argument("--lora-layers", type=int, help="train LoRA in the top N layers only (every variant; a plain "
                    "epoch with LoRA in every layer is measured too, as the reference)")
    ap.add_argument("--no-length-split", action="store_true", help="run each selection batch in one padded pass "
                    "instead of micro-batches of like length (seal.select.split_by_length), to measure what it saves")
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--safe-batch-size", type=int, default=8, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args)))
        return

    from seal.models import resolve_model
    resolve_model(args.model)  # convert/cache the embedded model once, outside the timings
    base = [sys.executable, __file__, "--model", args.model, "--data", args.data, "--safe", args.safe,
            "--batch-size", str(args.batch_size), "--max-length", str(args.max_length), "--out", args.out,
            "--device", args.device, "--safety-adapter", args.safety_adapter] + (
                ["--lora-layers", str(args.lora_layers)] if args.lora_layers else []) + (
                ["--no-length-split"] if args.no_length_split else [])
    plan = [("plain", args.batch_size)] + ([("plain-all", args.batch_size)] if args.lora_layers else [])
    plan += [(v, int(s)) for s in args.safe_batch_sizes.split(",") for v in ("alg2", "alg1")]
    results = []
    for variant, sbs in plan:
        proc = subprocess.run(base + ["--variant", variant, "--safe-batch-size", str(sbs)],
                              capture_output=True, text=True)
        if proc.returncode != 0:  # report and go on: one failed variant should not lose the others' numbers
            print(f"{variant} (safe batch {sbs}) failed, exit {proc.returncode}:\n{proc.stderr[-3000:]}", flush=True)
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    if not results or results[0]["variant"] != "plain":
        sys.exit("the plain LoRA epoch failed; no ratios to print")
    # the reference: a plain LoRA epoch in every layer (what seal finetune runs by default)
    plain = next((r["wall_s"] for r in results if r["variant"] == "plain-all"), results[0]["wall_s"])
    print(f"\n{'variant':<9} {'safe batch':>10} {'steps':>6} {'wall s':>8} {'s/step':>7} {'tok/s':>7} "
          f"{'peak MB':>8} {'CUDA MB':>8} {'x plain':>8}")
    for r in results:
        sbs = "-" if r["variant"].startswith("plain") else r["safe_batch_size"]
        print(f"{r['variant']:<9} {sbs:>10} {r['steps']:>6} {r['wall_s']:>8.1f} {r['s_per_step']:>7.2f} "
              f"{r['tokens_per_s']:>7.0f} {r['peak_rss_mb']:>8.0f} {r['peak_cuda_mb'] or 0:>8.0f} "
              f"{r['wall_s'] / plain:>8.2f}")
    print(f"\nmodel {args.model}, {results[0]['samples']} samples, batch {args.batch_size}, "
          f"max_length {args.max_length}, {results[0]['threads']} torch threads, device {results[0]['device']}, "
          f"LoRA layers {args.lora_layers or 'all'}, selection batches split by length: {not args.no_length_split} "
          "(x plain: against plain LoRA in every layer)")


if __name__ == "__main__":
    main()
