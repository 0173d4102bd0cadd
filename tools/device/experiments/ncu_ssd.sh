#!/usr/bin/env bash
# On the GPU machine: Nsight Compute on the kernels of one chunked SSD call (bf16 tensor cores)
# at a preset's shapes: duration, speed of light, occupancy, launch and warp-state statistics.
# Usage: SEQLEN=8192 bash tools/device/ncu_ssd.sh PRESETS...   Reports in $OUT/ncu-ssd/.
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
mkdir -p "$OUT/ncu-ssd"
for m in "$@"; do
  ncu --clock-control none --kernel-name regex:'chunk_|pass_states' --launch-count 4 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis \
    "$bin/perfmamba" bench --kernels -m "$m" --device cuda --precision bf16 --seqlen "${SEQLEN:-8192}" \
    --repeats 1 > "$OUT/ncu-ssd/$m.txt" 2>&1
  echo "== $m"
  grep -E "^  [a-z_]+.*\(|Duration|DRAM Throughput|Memory Throughput|L1/TEX Hit|L2 Hit|Issue Slots Busy|Achieved Occupancy|Registers Per|Theoretical Occ|Stall|Warp Cycles Per Issued|Block Limit" \
    "$OUT/ncu-ssd/$m.txt" | head -80
done
