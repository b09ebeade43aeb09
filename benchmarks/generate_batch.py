"""Wall time of `seal evaluate`'s generation at several batch sizes, and whether the answers are the same.

    python benchmarks/generate_batch.py                                  # the aligned SmolLM2 of the demo config
    python benchmarks/generate_batch.py --model runs/demo/ft-seal --batch-sizes 16,32,64,128

Generates seal evaluate's harmful, benign and task prompts (its defaults, or --n-* as given) with the model at each
batch size in turn, in one process (the model loaded once; the first size is run again at the end, so a machine
that slows down during the run shows), and prints the wall time of each and how many answers equal those of the
first size. Greedy decoding: a batch only changes the padding, so the answers should not change.

    python benchmarks/generate_batch.py --batch-sizes 64 --decoders greedy,generate

--decoders compares seal.generate's own loop (greedy: a row leaves the batch when it stops) with transformers'
model.generate (the whole batch runs until its longest answer), each at every batch size."""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a model folder or embedded name (default: the demo config's aligned model, "
                                    "made by seal run if missing)")
    ap.add_argument("--batch-sizes", default="16,32,64")
    ap.add_argument("--n-harmful", type=int, default=100)
    ap.add_argument("--n-benign", type=int, default=50)
    ap.add_argument("--n-tasks", type=int, default=200)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--decoders", default="greedy", help="greedy (seal.generate's loop), generate (transformers' "
                    "model.generate) or both, comma-separated")
    args = ap.parse_args()

    import seal.generate
    from seal.evaluate import EvaluateConfig, _generate_rows
    from seal.models import load_model, load_tokenizer, pick_device

    model_name = args.model
    if model_name is None:
        from importlib.resources import files

        import yaml

        from seal.pipeline import aligned_model
        demo = yaml.safe_load((files("seal") / "resources" / "configs" / "demo.yaml").read_text())
        model_name, _ = aligned_model(demo["model"], demo["align_settings"], demo.get("seed", 0), True)
    tokenizer = load_tokenizer(model_name)
    tokenizer.padding_side = "left"
    model = load_model(model_name, device=pick_device(args.device))
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    decoders = args.decoders.split(",")
    plain = seal.generate.plain_greedy
    first = None
    print(f"model {model_name}; {args.n_harmful} harmful, {args.n_benign} benign, {args.n_tasks} task prompts")
    for size in sizes + sizes[:1]:
        for decoder in decoders:
            # model.generate is what generate() falls back to for a model that is not a plain greedy decoder
            seal.generate.plain_greedy = plain if decoder == "greedy" else (lambda model: False)
            cfg = EvaluateConfig(model=model_name, out="", n_harmful=args.n_harmful, n_benign=args.n_benign,
                                 n_tasks=args.n_tasks, batch_size=size, progress=False)
            t0 = time.perf_counter()
            rows = _generate_rows(cfg, model, tokenizer)
            wall = time.perf_counter() - t0
            got = [r["response"] for r in rows]
            first = first or got
            same = sum(a == b for a, b in zip(got, first, strict=True))
            print(f"batch {size}, {decoder}: {wall:.1f} s, {same} of {len(got)} answers equal to batch {sizes[0]}, "
                  f"{decoders[0]}'s", flush=True)


if __name__ == "__main__":
    main()
