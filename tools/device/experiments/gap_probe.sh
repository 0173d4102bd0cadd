#!/usr/bin/env bash
# One-off (issue 23, first call): where perfmamba and the authors' stack spend a batched decode
# step and a long Mamba-2 prefill. perfmamba: `profile` per component; authors: torch.profiler
# kernel table (tools/device/authors_bench.py trace). Needs .device-bin.tar.xz and
# .baselines/mamba-authors (tools/device/vs_authors.sh says how); carry both.
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
source tools/device/authors_env.sh
nvidia-smi --query-gpu=name --format=csv,noheader
mkdir -p "$OUT/p"
for m in mamba-130m mamba-2.8b mamba2-2.7b; do
  timeout 120 "$bin/perfmamba" profile -m $m --device cuda --precision bf16 --seqlen 64 --batch 64 \
    --decode-positions 64 --repeats 3 --out /tmp/p-$m > "$OUT/p/$m-b64.txt" 2>&1
  echo "== $m rc=$?"; grep -A14 "^decode" "$OUT/p/$m-b64.txt"
done
timeout 120 "$bin/perfmamba" profile -m mamba2-2.7b --device cuda --precision bf16 --seqlen 8192 --batch 1 \
  --decode-positions 0 --repeats 3 --out /tmp/p-m2l > "$OUT/p/mamba2-2.7b-8192.txt" 2>&1
echo "== mamba2-2.7b L=8192 rc=$?"; grep -A12 "^prefill" "$OUT/p/mamba2-2.7b-8192.txt"
timeout 200 python3 tools/device/authors_bench.py trace mamba-130m,mamba-2.8b,mamba2-2.7b --lengths 8192 \
  --decode-batches 64 > "$OUT/p/authors-trace.jsonl" 2> "$OUT/p/authors-trace.err"
echo "== authors trace rc=$?"; tail -3 "$OUT/p/authors-trace.err"
python3 - "$OUT/p/authors-trace.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(r["kind"], r["model"], r.get("batch", r.get("L")), "total %.3f ms" % r["total_ms"])
    for k in r["kernels"][:12]:
        print("   %8.4f ms %6.1f  %s" % (k["ms"], k["calls"], k["name"][:80]))
PY
tar -czf "$OUT/gap-probe.tar.gz" -C "$OUT" p
