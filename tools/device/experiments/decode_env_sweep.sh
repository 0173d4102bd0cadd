#!/usr/bin/env bash
# On the GPU machine: batch-1 decode of the packed binary (B) under several environment settings,
# against another perfmamba binary (A, xz-compressed; optional), alternating A and every B variant on each
# preset, RUNS times over (2), so that all see the same card and clocks. STEPS: decode steps (60).
# Usage: A=ab/base.xz VARIANTS="name:VAR=1,VAR2=0 name2:VAR=2" bash tools/device/decode_env_sweep.sh PRESETS...
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
[ -n "${A:-}" ] && xz -dc "$A" > /tmp/perfmamba-a && chmod +x /tmp/perfmamba-a
decode() {  # exe, preset, then VAR=value settings
  local exe=$1 m=$2; shift 2
  env "$@" "$exe" bench -m "$m" --device cuda --precision bf16 --seqlen 16 --batch 1 \
    --decode-batch 1 --repeats 1 --decode-steps "${STEPS:-60}" 2>&1 | grep decode
}
for m in "$@"; do
  for run in $(seq "${RUNS:-2}"); do
    [ -n "${A:-}" ] && echo "$m A: $(decode /tmp/perfmamba-a "$m")"
    for v in $VARIANTS; do
      echo "$m B ${v%%:*}: $(decode "$bin/perfmamba" "$m" $(tr , ' ' <<<"${v#*:}"))"
    done
  done
done
