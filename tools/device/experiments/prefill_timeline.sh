#!/usr/bin/env bash
# On the GPU machine: the kernels of the first layers of a bf16 prefill (batch 1, L = SEQLEN,
# default 2048), each with its duration, DRAM throughput and achieved occupancy (Nsight Compute,
# one pass per kernel; CACHE=none keeps the caches warm between kernels, as in a real run). Usage:
# SEQLEN=2048 COUNT=40 CACHE=all bash tools/device/prefill_timeline.sh PRESETS...
# CSVs in $OUT/prefill-timeline/.
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
mkdir -p "$OUT/prefill-timeline"
for m in "$@"; do
  ncu --clock-control none --cache-control "${CACHE:-all}" --launch-count "${COUNT:-40}" --csv \
    --metrics gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__warps_active.avg.pct_of_peak_sustained_active \
    "$bin/perfmamba" bench -m "$m" --device cuda --precision bf16 --seqlen "${SEQLEN:-2048}" --batch 1 \
    --decode-batch 1 --repeats 1 --decode-steps 1 > "$OUT/prefill-timeline/$m.csv" 2> "$OUT/prefill-timeline/$m.err"
  echo "== $m: kernel, duration (ns), DRAM %, occupancy %"
  python3 - "$OUT/prefill-timeline/$m.csv" <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
head = rows[0]; rows = rows[1:]
k, name, metric, value = head.index("ID"), head.index("Kernel Name"), head.index("Metric Name"), head.index("Metric Value")
by = collections.OrderedDict()
for r in rows:
    by.setdefault(r[k], [r[name][:60], {}])[1][r[metric]] = r[value]
for i, (n, m) in by.items():
    print(f"{i:>4} {n:<60} {m.get('gpu__time_duration.sum',''):>10} {m.get('dram__throughput.avg.pct_of_peak_sustained_elapsed',''):>7} {m.get('sm__warps_active.avg.pct_of_peak_sustained_active',''):>7}")
PY
done
