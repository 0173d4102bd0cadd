#!/usr/bin/env bash
# On the GPU machine: batch-1 decode of the packed binary (B) against another perfmamba binary
# (A, xz-compressed, e.g. an earlier commit's), alternating A B A B on each preset so that both
# see the same card and clocks. Runs the fused-step tests of B first.
# Usage: A=ab/perfmamba-base.xz bash tools/device/ab_decode.sh PRESETS...
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
export PERFMAMBA_FIXTURES=$PWD/tests/fixtures
xz -dc "$A" > /tmp/perfmamba-a && chmod +x /tmp/perfmamba-a
"$bin/backend_tests" --gtest_filter="${TESTS:-CudaBf16.Fused*:Cuda.GraphDecode*}" 2>&1 | grep -E "OK|PASSED|FAILED|Failure|fused vs"
for m in "$@"; do
  for run in 1 2; do
    for side in A B; do
      exe=$bin/perfmamba; [ $side = A ] && exe=/tmp/perfmamba-a
      r=$("$exe" bench -m "$m" --device cuda --precision bf16 --seqlen 16 --batch 1 --decode-batch 1 \
        --repeats 1 --decode-steps 60 2>&1 | grep decode)
      echo "$m $side: $r"
    done
  done
done
