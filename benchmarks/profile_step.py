"""Where the time of a selection step goes: a few `seal select` steps (and, for reference, plain LoRA fine-tuning
steps on the same batches) under torch.profiler, after warm-up steps that are not measured.

    python benchmarks/profile_step.py                               # SmolLM2, the shipped example mix, Algorithm 1
    python benchmarks/profile_step.py --algorithm 2 --steps 4 --trace runs/profile/trace.json   # + a Chrome trace
    python benchmarks/profile_step.py --lora-layers 8               # LoRA in the top 8 layers only

Prints (1) the step's phases, named in seal/bilevel.py with `record_function` (theta on the safe batch, theta on
the fine-tuning batch, theta_hat, optimizer steps; and inside them forward and backward passes), as wall time per
step and share of the step; (2) the operators with the most self time. Times are CPU times as the profiler sees
them, on the device the model runs on (`--device cuda` adds CUDA kernels to the operator table)."""

from __future__ import annotations

import argparse
import dataclasses
import time

from select_speed import EXAMPLES, plain_steps  # benchmarks/select_speed.py: its example mix, the plain steps it times

PHASES = ("seal: theta on the safe batch", "seal: theta on the fine-tuning batch",
          "seal: theta_hat on the fine-tuning batch", "seal: optimizer steps", "seal: forward", "seal: backward")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--data", default=str(EXAMPLES / "mix.jsonl"))
    ap.add_argument("--safe", default=str(EXAMPLES / "safe.jsonl"))
    ap.add_argument("--algorithm", type=int, default=1, choices=(1, 2))
    ap.add_argument("--plain", action="store_true", help="profile plain LoRA fine-tuning steps instead")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--safe-batch-size", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--lora-layers", type=int)
    ap.add_argument("--warmup", type=int, default=1, help="steps run before the profiler starts")
    ap.add_argument("--steps", type=int, default=3, help="steps profiled")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default="/tmp/seal-profile-step")
    ap.add_argument("--trace", help="also write a Chrome trace (open in chrome://tracing or Perfetto)")
    ap.add_argument("--top", type=int, default=15, help="operators listed")
    ap.add_argument("--by-shape", action="store_true", help="list operators by input shape too (which matrix "
                    "products: the layers' or the vocabulary projection's)")
    args = ap.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile

    from seal.select import SelectConfig, setup, train

    cfg = SelectConfig(data=args.data, safe=args.safe, out=args.out, model=args.model, epochs=1,
                       batch_size=args.batch_size, safe_batch_size=args.safe_batch_size,
                       max_length=args.max_length, algorithm=2 if args.plain else args.algorithm, overwrite=True,
                       progress=False, device=args.device, lora_layers=args.lora_layers,
                       # plain steps: one new adapter, as `seal finetune` trains (no alignment adapter under it)
                       **({"safety_adapter": "none"} if args.plain else {}))
    run = setup(cfg)
    if args.warmup + args.steps > run.steps_per_epoch:
        raise SystemExit(f"{args.warmup} + {args.steps} steps do not fit in one epoch of {run.steps_per_epoch}")

    def steps(n: int) -> None:
        if args.plain:
            plain_steps(run, n)
        else:
            run.cfg = dataclasses.replace(run.cfg, max_steps=n)
            train(run)

    steps(args.warmup)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if run.device.type == "cuda" else [])
    t0 = time.perf_counter()
    with profile(activities=activities, record_shapes=args.by_shape) as prof:
        steps(args.steps)
        if run.device.type == "cuda":
            torch.cuda.synchronize()
    wall = (time.perf_counter() - t0) / args.steps
    if args.trace:
        prof.export_chrome_trace(args.trace)

    what = "plain LoRA fine-tuning" if args.plain else f"Algorithm {args.algorithm}"
    print(f"{what}: {args.steps} steps profiled after {args.warmup} warm-up, {wall:.2f} s a step (wall, "
          f"profiler on), batch {args.batch_size}, safe batch {args.safe_batch_size}, max_length {args.max_length}, "
          f"LoRA layers {args.lora_layers or 'all'}, {torch.get_num_threads()} threads, device {run.device}\n")
    events = {e.key: e for e in prof.key_averages()}
    print("| phase | s a step | share of the step |\n|---|---|---|")
    for name in PHASES:
        if name in events:
            t = events[name].cpu_time_total / 1e6 / args.steps
            print(f"| {name.removeprefix('seal: ')} | {t:.3f} | {t / wall:.0%} |")
    print(f"\nTop {args.top} operators by self time (CPU{' + CUDA' if run.device.type == 'cuda' else ''}):\n")
    sort = "self_cuda_time_total" if run.device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=args.top, max_name_column_width=60))
    if args.by_shape:
        print(f"\nTop {args.top} operators by self time, by input shape:\n")
        print(prof.key_averages(group_by_input_shape=True).table(sort_by=sort, row_limit=args.top,
                                                                 max_name_column_width=40, max_shapes_column_width=60))


if __name__ == "__main__":
    main()
