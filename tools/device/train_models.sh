#!/usr/bin/env bash
# On the GPU machine: check the training models against transformers, then train the embedded
# Mamba-1 and Mamba-2 models side by side on the one GPU. Needs .device-data/data (carry it).
# Files come back at most 16 MiB each: model.safetensors returns split into parts
# (join them with `cat model.safetensors.part-* > model.safetensors`).
# Usage (device tool): bash tools/device/train_models.sh MINUTES
set -uo pipefail
minutes=${1:-7}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 USE_HUB_KERNELS=0
cd "$(dirname "$0")/../train"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
python3 train.py --arch mamba1 --check && python3 train.py --arch mamba2 --check || exit 1
for arch in mamba1 mamba2; do
  python3 train.py --arch "$arch" --data ../../.device-data/data --out "$OUT/$arch" --minutes "$minutes" \
    --compile-scan > "/tmp/$arch.log" 2>&1 &
done
wait
for arch in mamba1 mamba2; do
  (cd "$OUT/$arch" && split -b 15M model.safetensors model.safetensors.part- && rm model.safetensors)
  grep -v "falling back" "/tmp/$arch.log" | tail -n 12
done
ls -la "$OUT"/*
