#!/usr/bin/env bash
# On the GPU machine: the phases of the fused decode steps, from a measuring build (CMake option
# PERFMAMBA_STEP_TRACE, packed as an xz-compressed perfmamba binary): for each preset given, the
# trace of the 33rd launch of a batch-1 decode (graphs off, so the host sees every launch).
# Usage: TRACE=ab/perfmamba-trace.xz bash tools/device/step_trace.sh PRESETS...
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
xz -dc "$TRACE" > /tmp/perfmamba-trace && chmod +x /tmp/perfmamba-trace
for m in "$@"; do
  PERFMAMBA_CUDA_GRAPHS=0 /tmp/perfmamba-trace bench -m "$m" --device cuda --precision bf16 --seqlen 16 \
    --batch 1 --decode-batch 1 --repeats 1 --decode-steps 40 2>&1 | grep -A11 "launch 32"
done
