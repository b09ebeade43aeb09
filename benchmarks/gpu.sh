#!/usr/bin/env bash
# One prepared GPU measurement of selection and fine-tuning speed (docs/performance.md, "GPU numbers").
#
#   benchmarks/gpu.sh prepare          # here (any machine with the venv): writes .gpu/ (~3 MB: the SmolLM2 config and
#                                      # tokenizer, a 320-row mix of builtin:benign-open + 10% builtin:harmful, the safe set)
#   benchmarks/gpu.sh run OUT_DIR      # on the GPU machine, from the repository root, with .gpu/ copied there
#
# `run` needs only torch, transformers, peft, accelerate, numpy, tqdm and pyyaml (no model download: the weights
# are random, built from the carried config, since time and memory do not depend on their values). It measures,
# for the SmolLM2-135M shape and a SmolLM2-1.7B shape (hidden 2048, 24 layers): a plain LoRA epoch, Algorithm 2 and
# Algorithm 1 at safe batch 16 and 4 (benchmarks/select_speed.py), then `seal finetune` of the 1.7B shape with and
# without bf16 autocast. Each part has its own time limit and writes its log to OUT_DIR as it goes.
set -u
cd "$(dirname "$0")/.."
mode=${1:-}

if [ "$mode" = prepare ]; then
    PY=${PY:-.venv/bin/python}
    rm -rf .gpu && mkdir -p .gpu/smollm2
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
    "$PY" - <<'EOF'
import shutil
from pathlib import Path
from seal.builtin import builtin_path
from seal.models import resolve_model
src = Path(resolve_model("smollm2"))
for f in src.iterdir():
    if f.is_file() and not f.name.endswith(".safetensors"):
        shutil.copy2(f, Path(".gpu/smollm2") / f.name)
shutil.copy2(builtin_path("safe"), ".gpu/safe.jsonl")
EOF
    "$PY" -m seal mix --benign builtin:benign-open --harmful builtin:harmful --size 320 --harmful-fraction 0.1 \
        --seed 0 --out .gpu/mixdir -q && cp .gpu/mixdir/mix.jsonl .gpu/mix.jsonl
    du -sh .gpu
    exit 0
fi

if [ "$mode" != run ] || [ -z "${2:-}" ]; then
    echo "usage: $0 prepare | run OUT_DIR" >&2
    exit 2
fi
OUT=$2
mkdir -p "$OUT"
[ -d .gpu/smollm2 ] || { echo ".gpu/ missing: run '$0 prepare' first and carry .gpu" >&2; exit 2; }
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY=${PY:-python3}
M=/tmp/seal-gpu-models

{
    date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$PY" -c "import torch, transformers, peft, accelerate; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'transformers', transformers.__version__, 'peft', peft.__version__, 'accelerate', accelerate.__version__)"
} 2>&1 | tee "$OUT/env.txt"

timeout 120 "$PY" benchmarks/random_model.py --like .gpu/smollm2 --out $M/smollm2-135m 2>&1 | tail -1 | tee "$OUT/models.txt"
timeout 180 "$PY" benchmarks/random_model.py --like .gpu/smollm2 --out $M/smollm2-1.7b-shape hidden_size=2048 \
    intermediate_size=8192 num_hidden_layers=24 num_attention_heads=32 num_key_value_heads=32 2>&1 | tail -1 \
    | tee -a "$OUT/models.txt"

for name in smollm2-135m smollm2-1.7b-shape; do
    timeout 200 "$PY" benchmarks/select_speed.py --device cuda --model $M/$name --data .gpu/mix.jsonl \
        --safe .gpu/safe.jsonl --batch-size 16 --safe-batch-sizes 16,4 --max-length 512 --out /tmp/seal-gpu-sel \
        2>&1 | tee "$OUT/select_speed-$name.txt"
done

for mp in no bf16; do
    timeout 150 "$PY" -m seal finetune --model $M/smollm2-1.7b-shape --data .gpu/mix.jsonl --epochs 1 --batch-size 16 \
        --max-length 512 --device cuda --mixed-precision $mp --merge false --progress false \
        --out /tmp/seal-gpu-ft-$mp --overwrite 2>&1 | tail -5 > "$OUT/finetune-$mp.log"
    "$PY" -c "import json,sys; m=json.load(open('/tmp/seal-gpu-ft-$mp/manifest.json'));
print(json.dumps({'mixed_precision': '$mp', 'steps': m['steps'], 'samples': m['samples'], 'wall_time_s': m['wall_time_s'],
'final_loss': m['final_loss'], 'device': m['device']}))" 2>&1 | tee -a "$OUT/finetune.txt"
done
date -u | tee -a "$OUT/env.txt"
