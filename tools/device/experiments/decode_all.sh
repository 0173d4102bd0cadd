#!/usr/bin/env bash
# On the GPU machine: the decode half of bench_all.sh (batch 1, 8, 64; bf16), for a change that
# touches only the decode path, after the CUDA tests. Usage: bash tools/device/decode_all.sh PRESETS...
# Results under $OUT/decode/.
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
export PERFMAMBA_FIXTURES=$PWD/tests/fixtures
mkdir -p "$OUT/decode"
nvidia-smi --query-gpu=name --format=csv,noheader
"$bin/backend_tests" --gtest_filter='Cuda*' 2>&1 | grep -E "^\[  (PASSED|FAILED)|Failure"
for m in "$@"; do
  timeout 120 "$bin/perfmamba" bench -m "$m" --device cuda --precision bf16 --seqlen 16 --batch 1 \
    --decode-batch 1,8,64 --decode-steps "${STEPS:-100}" --repeats "${REPEATS:-3}" --json \
    > "$OUT/decode/$m-bf16.json" 2> "$OUT/decode/$m-bf16.err"
  echo "== $m rc=$?"; grep -E "decode" "$OUT/decode/$m-bf16.err"
done
