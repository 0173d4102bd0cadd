#!/usr/bin/env bash
# On the GPU machine: Nsight Compute on the kernels matching KERNEL (a regex) in one layer's ops
# (`perfmamba bench --kernels`, MODE=kernels) or in a whole-model bf16 forward (MODE=model:
# prefill at SEQLEN, or one decode step at DECODE_BATCH when SEQLEN=0): throughput, occupancy,
# pipes, warp states and memory sections. Environment passes through (PERFMAMBA_* switches).
# Usage: KERNEL=chunk_output SEQLEN=2048 bash tools/device/nsight.sh PRESET   Report in $OUT/ncu/.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/device/env.sh
mkdir -p "$OUT/ncu"
m=$1
f="$OUT/ncu/$m-${KERNEL:-scan}-${SEQLEN:-2048}.txt"
if [ "${MODE:-kernels}" = kernels ]; then
  run=("$bin/perfmamba" bench --kernels -m "$m" --device cuda --precision "${PRECISION:-bf16}"
       --seqlen "${SEQLEN:-2048}" --repeats 1)
elif [ "${SEQLEN:-2048}" = 0 ]; then
  run=("$bin/perfmamba" bench -m "$m" --device cuda --precision bf16 --seqlen 1 --repeats 1
       --decode-batch "${DECODE_BATCH:-1}" --decode-steps 1)
else
  run=("$bin/perfmamba" bench -m "$m" --device cuda --precision bf16 --seqlen "$SEQLEN" --repeats 1
       --decode-batch 1 --decode-steps 1)
fi
PERFMAMBA_CUDA_GRAPHS=0 ncu --clock-control none --kernel-name regex:"${KERNEL:-scan}" \
  --launch-skip "${SKIP:-0}" --launch-count "${COUNT:-1}" \
  --section SpeedOfLight --section Occupancy --section LaunchStats --section ComputeWorkloadAnalysis \
  --section WarpStateStats --section InstructionStats --section MemoryWorkloadAnalysis \
  "${run[@]}" > "$f" 2>&1
grep -E "Duration|Throughput|Pipe|Issue|Warp Cycles|Occupancy|Registers|Shared Memory|Stall|Executed Ipc|Eligible|Active Warps|Bank" "$f" | head -60
