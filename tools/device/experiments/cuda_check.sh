#!/usr/bin/env bash
# On the GPU machine: CUDA kernel tests (vs the CPU kernels and the golden fixtures),
# compute-sanitizer memcheck and racecheck on them, and the embedded models on the GPU.
# Needs .device-bin.tar.xz (tools/device/pack_binaries.sh) and .device-data/valid.txt (or
# valid.txt.xz, smaller to carry); carry both.
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
export PERFMAMBA_FIXTURES=$PWD/tests/fixtures PERFMAMBA_MODELS=$PWD/models
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
ldd "$bin/perfmamba" | grep -i "not found"
echo "== CUDA kernel and golden tests"
"$bin/backend_tests" --gtest_filter='Cuda*' 2>&1 | tee "$OUT/cuda_tests.log" | grep -E "OK|FAILED|Failure|rel|SKIPPED|Expected|Which"
echo "== compute-sanitizer memcheck"
compute-sanitizer --tool memcheck --error-exitcode 9 "$bin/backend_tests" \
  --gtest_filter='Cuda.*:CudaBf16.ConvAndScan*:CudaBf16.OutputOnly*:CudaBf16.NormRounded*:-Cuda.GoldenFixtures*' \
  > "$OUT/memcheck.log" 2>&1
echo "memcheck rc=$?"; grep -E "ERROR SUMMARY|PASSED|FAILED" "$OUT/memcheck.log" | tail -3
echo "== compute-sanitizer racecheck"
compute-sanitizer --tool racecheck --error-exitcode 9 "$bin/backend_tests" \
  --gtest_filter='Cuda.Conv1d*:Cuda.Selective*:Cuda.Ssd*:CudaBf16.ConvAndScan*:CudaBf16.OutputOnly*' > "$OUT/racecheck.log" 2>&1
echo "racecheck rc=$?"; grep -E "RACECHECK SUMMARY|ERROR SUMMARY|PASSED|FAILED" "$OUT/racecheck.log" | tail -3
echo "== embedded models on the GPU"
valid=.device-data/valid.txt
[ -f "$valid" ] || { xz -dc .device-data/valid.txt.xz > /tmp/valid.txt && valid=/tmp/valid.txt; }
for m in mamba1 mamba2; do
  for precision in f32 bf16; do
    "$bin/perfmamba" eval -m "models/$m-victorian" --ppl "$valid" --ctx 1025 --stride 1024 --max-tokens 65537 \
      --batch 8 --device cuda --precision $precision
  done
  "$bin/perfmamba" run -m "models/$m-victorian" -p "It was a dark and stormy night, and" -n 40 --temperature 0.8 --top-k 40 --sample-seed 7 --device cuda
done
