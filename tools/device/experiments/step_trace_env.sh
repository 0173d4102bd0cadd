#!/usr/bin/env bash
# On the GPU machine: the phases of the fused decode steps (step_trace.sh) under several
# environment settings of the measuring build. Usage:
# TRACE=ab/trace.xz VARIANTS="name:VAR=1,VAR2=0 ..." bash tools/device/step_trace_env.sh PRESETS...
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
xz -dc "$TRACE" > /tmp/perfmamba-trace && chmod +x /tmp/perfmamba-trace
for m in "$@"; do
  for v in $VARIANTS; do
    echo "== $m ${v%%:*}"
    env $(tr , ' ' <<<"${v#*:}") PERFMAMBA_CUDA_GRAPHS=0 /tmp/perfmamba-trace bench -m "$m" --device cuda \
      --precision bf16 --seqlen 16 --batch 1 --decode-batch 1 --repeats 1 --decode-steps 40 2>&1 |
      grep -A11 "launch 32" | grep -v "^trace"
  done
done
