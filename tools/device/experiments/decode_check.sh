#!/usr/bin/env bash
# On the GPU machine: the CUDA tests, compute-sanitizer memcheck and racecheck on the kernel
# tests (decode-step kernels included), then for each preset given `perfmamba bench` in bf16
# (prefill L = 2048 and 16384 at batch 1, decode at batch 1, 8, 64), and the batch-1 decode step
# of the old path (plain launches, cuBLAS GEMVs) and of the ops one by one (no fused layer step)
# beside it. With PROFILE=1, a per-component decode
# profile of the first preset; with NCU_GEMV=1, Nsight Compute on its decode GEMVs.
# Usage: bash tools/device/decode_check.sh PRESETS...   Results in $OUT/decode.tar.gz.
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
export PERFMAMBA_FIXTURES=$PWD/tests/fixtures
mkdir -p "$OUT/decode"
nvidia-smi --query-gpu=name --format=csv,noheader
"$bin/backend_tests" --gtest_filter='Cuda*' 2>&1 | tee "$OUT/decode/tests.log" | grep -E "OK|PASSED|FAILED|Failure|rel|Which|Expected"
kernels=${KERNELS:-'Cuda.Conv1d*:Cuda.Selective*:Cuda.Ssd*:Cuda.GraphDecode*:CudaBf16.Skinny*:CudaBf16.Fused*'}  # Conv1d* covers the norms
for tool in memcheck racecheck; do
  timeout 200 compute-sanitizer --tool $tool --error-exitcode 9 "$bin/backend_tests" --gtest_filter="$kernels" \
    > "$OUT/decode/$tool.log" 2>&1
  echo "$tool rc=$?"; grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$OUT/decode/$tool.log" | tail -1
done
for m in "$@"; do
  "$bin/perfmamba" bench -m "$m" --device cuda --precision bf16 --seqlen 2048,16384 --batch 1 --decode-batch 1,8,64 \
    --repeats 2 --decode-steps 50 --json > "$OUT/decode/$m.json" 2> "$OUT/decode/$m.txt"
  echo "== $m"; grep -E "prefill|decode" "$OUT/decode/$m.txt"
  PERFMAMBA_CUDA_FUSED=0 PERFMAMBA_CUDA_CHAIN=0 PERFMAMBA_CUDA_GEMV=0 "$bin/perfmamba" bench -m "$m" --device cuda --precision bf16 --seqlen 64 \
    --batch 1 --decode-batch 1 --repeats 1 --decode-steps 50 --json > "$OUT/decode/$m-old-path.json" 2> "$OUT/decode/$m-old-path.txt"
  echo "   old path (plain launches, cuBLAS GEMVs): $(grep -E "decode" "$OUT/decode/$m-old-path.txt")"
  PERFMAMBA_CUDA_FUSED=0 "$bin/perfmamba" bench -m "$m" --device cuda --precision bf16 --seqlen 64 \
    --batch 1 --decode-batch 1 --repeats 1 --decode-steps 50 --json > "$OUT/decode/$m-unfused.json" 2> "$OUT/decode/$m-unfused.txt"
  echo "   ops one by one (PERFMAMBA_CUDA_FUSED=0): $(grep -E "decode" "$OUT/decode/$m-unfused.txt")"
done
if [ "${PROFILE:-0}" = 1 ]; then
  "$bin/perfmamba" profile -m "$1" --device cuda --precision bf16 --seqlen 64 --decode-positions 0 --repeats 3 \
    --out "$OUT/decode/profile-$1" > "$OUT/decode/profile-$1.txt" 2>&1
  grep -A14 "^decode" "$OUT/decode/profile-$1.txt"
fi
if [ "${NCU_GEMV:-0}" = 1 ]; then  # Nsight Compute on the decode GEMVs of the first preset (cold caches)
  ncu --clock-control none --cache-control all --kernel-name regex:gemv --launch-count 5 \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
    --section WarpStateStats --section SchedulerStats \
    "$bin/perfmamba" bench --kernels -m "$1" --device cuda --precision bf16 --seqlen 1 --batch 1 --repeats 3 \
    > "$OUT/decode/ncu-gemv-$1.txt" 2>&1
  grep -E "gemv_kernel|Duration|DRAM Throughput|Achieved Occupancy|Registers Per|Grid Size" "$OUT/decode/ncu-gemv-$1.txt" | head -40
fi
tar -czf "$OUT/decode.tar.gz" -C "$OUT" decode && rm -rf "$OUT/decode"
