#!/usr/bin/env bash
# On the GPU machine: decode at several batch sizes of the packed binary (B) against another
# perfmamba binary (A: .device-bin/perfmamba-base, packed beside it), alternating A B A B on each
# preset so that both see the same card and clocks. Runs the tests in TESTS of B first.
# Usage: TESTS='Cuda.Ssd*' BATCHES=8,64 bash tools/device/ab_decode_batches.sh PRESETS...
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
export PERFMAMBA_FIXTURES=$PWD/tests/fixtures
nvidia-smi --query-gpu=name --format=csv,noheader
[ -n "${TESTS:-}" ] && "$bin/backend_tests" --gtest_filter="$TESTS" 2>&1 | grep -E "OK|PASSED|FAILED|Failure|Which is|rel_error"
for m in "$@"; do
  for run in 1 2; do
    for side in A B; do
      exe=$bin/perfmamba; [ $side = A ] && exe=$bin/perfmamba-base
      "$exe" bench -m "$m" --device cuda --precision bf16 --seqlen 16 --batch 1 \
        --decode-batch "${BATCHES:-8,64}" --repeats 1 --decode-steps "${STEPS:-40}" 2>&1 |
        grep decode | sed "s/^/$m $side: /"
    done
  done
done
