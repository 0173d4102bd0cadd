#!/usr/bin/env bash
# On the GPU machine: the CUDA kernel tests, compute-sanitizer memcheck and racecheck on the
# kernel tests, and `perfmamba bench --kernels` (one layer's conv1d and scan/SSD alone, f32 and
# with bf16 SSD products) at the shapes of targets.md. Results under $OUT/kernels/ and as
# $OUT/kernels.tar.gz. Needs .device-bin.tar.xz (tools/device/pack_binaries.sh); carry it.
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
export PERFMAMBA_FIXTURES=$PWD/tests/fixtures
mkdir -p "$OUT/kernels"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
echo "== CUDA kernel tests"
"$bin/backend_tests" --gtest_filter='Cuda*' 2>&1 | tee "$OUT/kernels/tests.log" | grep -E "^\[  |Failure|rel|Expected|Which" | grep -v "RUN"
kernels='Cuda.Conv1d*:Cuda.Selective*:Cuda.Ssd*'
echo "== compute-sanitizer memcheck ($kernels)"
timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 "$bin/backend_tests" --gtest_filter="$kernels" > "$OUT/kernels/memcheck.log" 2>&1
echo "memcheck rc=$?"; grep -E "ERROR SUMMARY|PASSED|FAILED" "$OUT/kernels/memcheck.log" | tail -3
echo "== compute-sanitizer racecheck ($kernels)"
timeout 100 compute-sanitizer --tool racecheck --error-exitcode 9 "$bin/backend_tests" --gtest_filter="$kernels" > "$OUT/kernels/racecheck.log" 2>&1
echo "racecheck rc=$?"; grep -E "RACECHECK SUMMARY|ERROR SUMMARY|PASSED|FAILED" "$OUT/kernels/racecheck.log" | tail -3
for m in ${MODELS:-mamba-130m mamba-2.8b mamba2-130m mamba2-2.7b}; do
  for prec in f32 bf16; do
    case "$m:$prec" in mamba-*:bf16) continue ;; esac  # the Mamba-1 scan has no bf16 variant
    "$bin/perfmamba" bench --kernels -m "$m" --device cuda --precision $prec --seqlen 512,2048,8192,16384 --repeats 10 \
      --json > "$OUT/kernels/$m-$prec.json" 2> "$OUT/kernels/$m-$prec.txt"
    echo "== $m $prec"; grep -v "^{" "$OUT/kernels/$m-$prec.txt" | grep -v conv1d | tail -4
  done
  "$bin/perfmamba" bench --kernels -m "$m" --device cuda --seqlen 1 --batch 1,64 --repeats 50 --json \
    > "$OUT/kernels/$m-step.json" 2> "$OUT/kernels/$m-step.txt"
done
tar -czf "$OUT/kernels.tar.gz" -C "$OUT" kernels
