#!/usr/bin/env bash
# On the GPU machine: one layer's kernels (`perfmamba bench --kernels`) of two binaries on the same
# card, alternated: A = ab/perfmamba-old.xz (an earlier build), B = the packed build. Usage:
# OPS=scan bash tools/device/ab_kernels.sh PRESETS...   (OPS: a grep pattern for the op names)
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/device/env.sh
xz -dc ab/perfmamba-old.xz > /tmp/perfmamba-old && chmod +x /tmp/perfmamba-old
nvidia-smi --query-gpu=name --format=csv,noheader
for m in "$@"; do
  for round in 1 2; do
    for who in A B; do
      exe=$bin/perfmamba; [ $who = A ] && exe=/tmp/perfmamba-old
      echo "== $m $who round $round"
      "$exe" bench --kernels -m "$m" --device cuda --precision bf16 --seqlen ${SEQLEN:-512,2048,8192,16384} \
        --repeats 10 2>&1 | grep -E "${OPS:-scan|ssd}"
    done
  done
done
