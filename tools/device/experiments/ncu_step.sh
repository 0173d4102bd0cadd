#!/usr/bin/env bash
# On the GPU machine: Nsight Compute on one launch of the fused decode-step kernel (all layers of
# a batch-1 step) for each preset given: speed of light, memory workload, occupancy, warp states.
# Usage: bash tools/device/ncu_step.sh PRESETS...   Reports in $OUT/ncu-step/.
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
mkdir -p "$OUT/ncu-step"
for m in "$@"; do
  ncu --clock-control none --cache-control none --kernel-name regex:layer_steps --launch-skip 4 --launch-count 1 \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section MemoryWorkloadAnalysis_Chart \
    --section Occupancy --section LaunchStats --section WarpStateStats --section SchedulerStats \
    "$bin/perfmamba" bench -m "$m" --device cuda --precision bf16 --seqlen 16 --batch 1 --decode-batch 1 \
    --repeats 1 --decode-steps 4 > "$OUT/ncu-step/$m.txt" 2>&1
  echo "== $m"
  grep -E "Duration|DRAM Throughput|Memory Throughput|L2 Hit|L1/TEX Hit|Mem Busy|Max Bandwidth|Issue Slots Busy|Achieved Occupancy|No Eligible|Stall|Warp Cycles Per Issued" "$OUT/ncu-step/$m.txt" | head -30
done
