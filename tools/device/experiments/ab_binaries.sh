#!/usr/bin/env bash
# On the GPU machine: whole-model decode of several perfmamba builds (variants of one constant,
# say) alternated over RUNS rounds (3) on each preset, so that all see the same card and clocks.
# The builds are packed beside the main one as .device-bin/variants/NAME (strip them first).
# Usage: BATCHES=1 STEPS=200 bash tools/device/ab_binaries.sh PRESETS...
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
nvidia-smi --query-gpu=name --format=csv,noheader
for m in "$@"; do
  for run in $(seq "${RUNS:-3}"); do
    for exe in "$bin/perfmamba" "$bin"/variants/*; do
      r=$("$exe" bench -m "$m" --device cuda --precision bf16 --seqlen 16 --batch 1 \
        --decode-batch "${BATCHES:-1}" --decode-steps "${STEPS:-200}" --repeats 1 2>&1 | grep decode)
      echo "$m $(basename "$exe") round $run: $r"
    done
  done
done
