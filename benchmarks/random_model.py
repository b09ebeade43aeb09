"""Save a model with random weights in the architecture of another (optionally resized), for speed and memory
measurements: time and memory do not depend on the weights' values, so no multi-GB download is needed.

    python benchmarks/random_model.py --like smollm2 --out /tmp/models/smollm2-random
    python benchmarks/random_model.py --like smollm2 --out /tmp/models/smollm2-1.7b-shape \\
        hidden_size=2048 intermediate_size=8192 num_hidden_layers=24 num_attention_heads=32 num_key_value_heads=32

The tokenizer, chat template and generation config are copied from --like. Prints the parameter count."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--like", required=True, help="embedded model name or a model folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("overrides", nargs="*", help="config key=value (integers and floats are parsed)")
    args = ap.parse_args()

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from seal.models import resolve_model

    src = Path(resolve_model(args.like))
    config = AutoConfig.from_pretrained(src)
    for item in args.overrides:
        key, _, value = item.partition("=")
        if not hasattr(config, key):
            raise SystemExit(f"{type(config).__name__} has no setting {key!r}")
        setattr(config, key, json.loads(value))
    torch.manual_seed(args.seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    out = Path(args.out)
    model.save_pretrained(out)
    for f in src.iterdir():  # tokenizer, chat template, generation config: everything but config and weights
        if f.is_file() and f.name != "config.json" and not f.name.endswith((".safetensors", ".bin", ".json.index")):
            if not (out / f.name).exists():
                shutil.copy2(f, out / f.name)
    n = sum(p.numel() for p in model.parameters())
    print(json.dumps({"out": str(out), "parameters": n, "like": str(src), "overrides": args.overrides}))


if __name__ == "__main__":
    main()
