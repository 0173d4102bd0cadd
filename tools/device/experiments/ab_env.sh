#!/usr/bin/env bash
# On the GPU machine: the packed build under several environment settings, alternated over
# RUNS rounds (2) on each preset so that all see the same card and clocks: one layer's kernels
# (MODE=kernels, OPS a grep pattern, BATCH), whole-model bf16 prefill (MODE=prefill, BATCH) or
# decode (MODE=decode, BATCHES, STEPS).
# Usage: VARIANTS="chunks:PERFMAMBA_SCAN=chunks tokens:PERFMAMBA_SCAN=tokens" MODE=kernels \
#   OPS=scan SEQLEN=512,2048 bash tools/device/ab_env.sh PRESETS...
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
nvidia-smi --query-gpu=name --format=csv,noheader
one() {  # preset, then VAR=value settings
  local m=$1; shift
  if [ "${MODE:-kernels}" = kernels ]; then
    env "$@" "$bin/perfmamba" bench --kernels -m "$m" --device cuda --precision bf16 \
      --seqlen "${SEQLEN:-512,2048,16384}" --batch "${BATCH:-1}" --repeats 10 2>&1 | grep -E "${OPS:-scan}"
  elif [ "$MODE" = decode ]; then
    env "$@" "$bin/perfmamba" bench -m "$m" --device cuda --precision bf16 --seqlen 16 --batch 1 \
      --decode-batch "${BATCHES:-8,64}" --decode-steps "${STEPS:-30}" --repeats 1 2>&1 | grep decode
  else
    env "$@" "$bin/perfmamba" bench -m "$m" --device cuda --precision bf16 --seqlen "${SEQLEN:-512,2048}" \
      --batch "${BATCH:-1}" --decode-batch 1 --decode-steps 2 --repeats "${REPEATS:-3}" 2>&1 | grep prefill
  fi
}
for m in "$@"; do
  for run in $(seq "${RUNS:-2}"); do
    for v in $VARIANTS; do
      echo "== $m ${v%%:*} round $run"
      one "$m" $(tr , ' ' <<<"${v#*:}")
    done
  done
done
