#!/usr/bin/env bash
# On the GPU machine: where a batch-1 decode step's wall time goes. For each preset given, the
# duration of every kernel of the last decode steps (Nsight Compute, one metric, warm caches) and
# the step's wall time from `perfmamba bench`, so the time outside the kernels (launch, copies of
# ids and logits, synchronisation) shows as the difference.
# Usage: bash tools/device/step_timeline.sh PRESETS...   Results in $OUT/timeline/.
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
mkdir -p "$OUT/timeline"
for m in "$@"; do
  "$bin/perfmamba" bench -m "$m" --device cuda --precision bf16 --seqlen 16 --batch 1 --decode-batch 1 \
    --repeats 1 --decode-steps 50 2>&1 | grep decode
  ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv \
    --kernel-name regex:'step_kernel|gemv_kernel|add_rmsnorm|embedding' \
    "$bin/perfmamba" bench -m "$m" --device cuda --precision bf16 --seqlen 16 --batch 1 --decode-batch 1 \
    --repeats 1 --decode-steps 4 > "$OUT/timeline/$m.csv" 2> "$OUT/timeline/$m.err"
  echo "== $m: the last 16 kernels (ns)"
  grep gpu__time_duration "$OUT/timeline/$m.csv" | tail -16 | awk -F'","' '{print $5, $NF}' | cut -c1-110
done
