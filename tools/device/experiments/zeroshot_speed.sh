#!/usr/bin/env bash
# On the GPU machine: zero-shot task throughput (items/s) of the embedded models with
# --device cuda. Needs .device-bin.tar.xz and the task files copied to .device-data/zeroshot.
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
for m in mamba1-victorian mamba2-victorian; do
  echo "== $m"
  "$bin/perfmamba" eval -m "models/$m" --task all --limit ${1:-500} --data-dir .device-data/zeroshot --device cuda
done
