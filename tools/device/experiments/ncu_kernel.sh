#!/usr/bin/env bash
# On the GPU machine: Nsight Compute's throughput, occupancy, pipe, warp-state and instruction
# sections for one kernel of `perfmamba bench --kernels` at one length (environment passed
# through). Usage:
# KERNEL=chunk_output SEQLEN=2048 bash tools/device/ncu_kernel.sh PRESET   Report in $OUT/ncu-kernel/.
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
mkdir -p "$OUT/ncu-kernel"
m=$1
f="$OUT/ncu-kernel/$m-${KERNEL:-scan}.txt"
ncu --clock-control none --kernel-name regex:"${KERNEL:-scan}" --launch-count 1 \
  --section SpeedOfLight --section Occupancy --section LaunchStats --section ComputeWorkloadAnalysis \
  --section WarpStateStats --section InstructionStats --section MemoryWorkloadAnalysis \
  "$bin/perfmamba" bench --kernels -m "$m" --device cuda --precision "${PRECISION:-f32}" \
  --seqlen "${SEQLEN:-2048}" --repeats 1 > "$f" 2>&1
grep -E "Duration|Throughput|Pipe|Issue|Warp Cycles|Occupancy|Registers|Shared Memory|Stall|Executed Ipc|Eligible|Active Warps|Bank" "$f" | head -60
