#!/usr/bin/env bash
# On the GPU machine: the CUDA tests (kernels against the CPU kernels and float64, golden
# fixtures, graphs, fused steps), compute-sanitizer memcheck and racecheck on the kernel tests,
# and the embedded models on the GPU (perplexity in f32 and bf16, a sampled continuation).
# Needs .device-bin.tar.xz (pack_binaries.sh) and .device-data/valid.txt.xz; carry both.
# SANITIZE=0 skips the sanitizers, MODELS=0 the embedded models.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/device/env.sh
card
ldd "$bin/perfmamba" | grep -i "not found"
echo "== CUDA tests"
cuda_tests 'Cuda*'
if [ "${SANITIZE:-1}" = 1 ]; then
  kernels='Cuda.*:CudaScan.*:CudaBf16.Skinny*:-Cuda.GoldenFixtures*:Cuda.GraphDecode*'
  echo "== compute-sanitizer memcheck"
  compute-sanitizer --tool memcheck --error-exitcode 9 "$bin/backend_tests" --gtest_filter="$kernels" \
    > "$OUT/memcheck.log" 2>&1
  echo "memcheck rc=$?"; grep -E "ERROR SUMMARY|PASSED|FAILED" "$OUT/memcheck.log" | tail -3
  echo "== compute-sanitizer racecheck"
  compute-sanitizer --tool racecheck --error-exitcode 9 "$bin/backend_tests" \
    --gtest_filter='Cuda.Conv1d*:Cuda.Bf16Outputs*:CudaScan.*:Cuda.Ssd*' > "$OUT/racecheck.log" 2>&1
  echo "racecheck rc=$?"; grep -E "RACECHECK SUMMARY|ERROR SUMMARY|PASSED|FAILED" "$OUT/racecheck.log" | tail -3
fi
if [ "${MODELS:-1}" = 1 ]; then
  echo "== embedded models on the GPU"
  valid=.device-data/valid.txt
  [ -f "$valid" ] || { xz -dc .device-data/valid.txt.xz > /tmp/valid.txt && valid=/tmp/valid.txt; }
  for m in mamba1 mamba2; do
    for precision in f32 bf16; do
      "$bin/perfmamba" eval -m "models/$m-victorian" --ppl "$valid" --ctx 1025 --stride 1024 \
        --max-tokens 65537 --batch 8 --device cuda --precision $precision
    done
    "$bin/perfmamba" run -m "models/$m-victorian" -p "It was a dark and stormy night, and" -n 40 \
      --temperature 0.8 --top-k 40 --sample-seed 7 --device cuda
  done
fi
