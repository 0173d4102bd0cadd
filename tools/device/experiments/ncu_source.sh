#!/usr/bin/env bash
# On the GPU machine: where one kernel's warps stall, by source line (Nsight Compute's source
# counters; build with -DCMAKE_CUDA_FLAGS=-lineinfo for line numbers). The kernel is taken from
# `perfmamba bench --kernels` at one length. Usage:
# KERNEL=chunk_output SEQLEN=8192 bash tools/device/ncu_source.sh PRESET   Report in $OUT/ncu-source/.
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
mkdir -p "$OUT/ncu-source"
m=$1
ncu --clock-control none --kernel-name regex:"${KERNEL:-chunk_output}" --launch-count 1 \
  --section SourceCounters --section WarpStateStats --section InstructionStats --print-details all \
  "$bin/perfmamba" bench --kernels -m "$m" --device cuda --precision bf16 --seqlen "${SEQLEN:-8192}" \
  --repeats 1 > "$OUT/ncu-source/$m-${KERNEL:-chunk_output}.txt" 2>&1
grep -v "^    ---" "$OUT/ncu-source/$m-${KERNEL:-chunk_output}.txt" | grep -A200 "Section: Source Counters" | head -150
