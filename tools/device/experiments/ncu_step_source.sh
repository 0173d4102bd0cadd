#!/usr/bin/env bash
# On the GPU machine: where the fused decode-step kernel's warps stall, by source line (Nsight
# Compute's source counters), for one launch of a batch-1 step. BIN: an xz-compressed perfmamba
# built with -DCMAKE_CUDA_FLAGS=-lineinfo. Usage: BIN=ab/trace.xz bash tools/device/ncu_step_source.sh PRESET
# Reports in $OUT/ncu-step-source/: the summary, and per CUDA source line (csv).
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
out=$OUT/ncu-step-source
mkdir -p "$out"
xz -dc "$BIN" > /tmp/perfmamba-lines && chmod +x /tmp/perfmamba-lines
m=$1
ncu --clock-control none --kernel-name regex:layer_steps --launch-skip 4 --launch-count 1 \
  --section SourceCounters --section WarpStateStats --section SpeedOfLight -o "$out/$m" -f \
  /tmp/perfmamba-lines bench -m "$m" --device cuda --precision bf16 --seqlen 16 --batch 1 \
  --decode-batch 1 --repeats 1 --decode-steps 4 > "$out/$m.log" 2>&1
ncu --import "$out/$m.ncu-rep" --print-details all > "$out/$m.txt" 2>&1
ncu --import "$out/$m.ncu-rep" --page source --print-source cuda --csv > "$out/$m-lines.csv" 2>&1
grep -E "Duration|DRAM Throughput|Executed Ipc|Issue Slots|Warp Cycles Per Issued|No Eligible" "$out/$m.txt" | head
wc -l "$out/$m-lines.csv"; head -3 "$out/$m-lines.csv" | cut -c1-600
