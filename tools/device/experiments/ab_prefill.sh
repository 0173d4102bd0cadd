#!/usr/bin/env bash
# On the GPU machine: whole-model bf16 prefill of two builds on the same card, alternated over two
# rounds: ab/before.xz (an earlier build) and the packed build. Usage:
# SEQLEN=512,2048 BATCH=1 bash tools/device/ab_prefill.sh PRESETS...
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
xz -dc ab/before.xz > /tmp/perfmamba-before && chmod +x /tmp/perfmamba-before
nvidia-smi --query-gpu=name --format=csv,noheader
for m in "$@"; do
  for round in 1 2; do
    for who in before packed; do
      exe=$bin/perfmamba; [ $who = before ] && exe=/tmp/perfmamba-before
      echo "== $m $who round $round"
      "$exe" bench -m "$m" --device cuda --precision bf16 --seqlen "${SEQLEN:-512,2048}" --batch "${BATCH:-1}" \
        --decode-batch 1 --decode-steps 2 --repeats 5 2>&1 | grep prefill
    done
  done
done
