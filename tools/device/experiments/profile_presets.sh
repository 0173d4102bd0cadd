#!/usr/bin/env bash
# On the GPU machine, in one call: `perfmamba profile --device cuda` of the eight presets
# (mamba-130m ... 2.8b, mamba2-130m ... 2.7b) over L = 64 ... 16384 at batch 1, then Nsight
# Compute (--ncu) on the 130m presets. Everything comes back as one archive under $OUT
# (profiles.tar.xz: <model>/profile.json, report.html, summary.txt). Needs .device-bin.tar.xz.
# Usage: bash tools/device/profile_presets.sh [SEQLENS] [PRESETS...]
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
seqlens=${1:-64,128,256,512,1024,2048,4096,8192,16384}
shift || true
presets=${*:-mamba-130m mamba-370m mamba-790m mamba-1.4b mamba-2.8b mamba2-130m mamba2-370m mamba2-780m mamba2-1.3b mamba2-2.7b}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
dir=/tmp/profiles && rm -rf "$dir" && mkdir -p "$dir"
start=$SECONDS
for m in $presets; do
  mkdir -p "$dir/$m"
  timeout 150 "$bin/perfmamba" profile -m "$m" --device cuda --seqlen "$seqlens" --decode-positions 0,4096 \
    --repeats 3 --out "$dir/$m" > "$dir/$m/summary.txt" 2> "$dir/$m/stderr.txt"
  echo "== $m rc=$? at $((SECONDS - start)) s"; grep -E "^(prefill|decode)" "$dir/$m/summary.txt" | cut -c1-150
done
echo "sweep of all presets: $((SECONDS - start)) s"
tar -cJf "$OUT/profiles.tar.xz" -C "$dir" .
for m in mamba-130m mamba2-130m; do
  mkdir -p "$dir/ncu-$m"
  timeout 100 "$bin/perfmamba" profile -m "$m" --device cuda --seqlen 4096 --decode-positions 0 --repeats 3 --ncu \
    --out "$dir/ncu-$m" > "$dir/ncu-$m/summary.txt" 2> "$dir/ncu-$m/stderr.txt"
  echo "== ncu $m rc=$?"; sed -n '/^hardware counters/,$p' "$dir/ncu-$m/summary.txt"; tail -n 3 "$dir/ncu-$m/stderr.txt"
done
if ! grep -q "^ncu prefill" "$dir/ncu-mamba-130m/summary.txt"; then  # show what ncu writes, to fix the import
  ncu --clock-control none --csv --page raw --print-units base --nvtx --metrics dram__bytes_read.sum,gpu__time_duration.sum \
    --launch-count 30 "$bin/perfmamba" profile -m mamba-130m --device cuda --seqlen 256 --ncu-child prefill 2>&1 | head -c 3000
fi
tar -cJf "$OUT/profiles.tar.xz" -C "$dir" .
