#!/usr/bin/env bash
# On the GPU machine: prefill/decode speed and peak memory of presets before and after structural
# pruning, in the same run on the same card: half of the SSM states (--axis state) and a quarter of
# the channels / heads (--axis channel). `random` gives the layouts a Δ-guided prune gives and
# needs no calibration text for random-weight presets. Profiles come back as one archive.
# Usage: bash tools/device/prune_speed.sh "SEQLENS" PRESETS...
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
seqlens=${1:-64,256,1024,4096,16384}
shift || true
presets=${*:-mamba-1.4b mamba2-1.3b}
dir=/tmp/prune-speed && rm -rf "$dir" && mkdir -p "$dir"
nvidia-smi --query-gpu=name --format=csv,noheader
for m in $presets; do
  "$bin/perfmamba" prune -m "$m" --axis state --method random --ratio 0.5 -o "/tmp/$m-state50" >/dev/null || exit 1
  "$bin/perfmamba" prune -m "$m" --axis channel --method random --ratio 0.25 -o "/tmp/$m-channel25" >/dev/null || exit 1
  for v in "$m" "/tmp/$m-state50" "/tmp/$m-channel25"; do
    name=$(basename "$v")
    mkdir -p "$dir/$name"
    "$bin/perfmamba" profile -m "$v" --device cuda --seqlen "$seqlens" --decode-positions 0 --repeats 2 \
      --out "$dir/$name" > "$dir/$name/summary.txt" 2>&1
    echo "== $name rc=$?"; grep -E "^(prefill|decode)" "$dir/$name/summary.txt" | cut -c1-140
  done
  rm -rf "/tmp/$m-state50" "/tmp/$m-channel25"
done
tar -cJf "$OUT/prune-speed-$(echo $presets | tr ' ' '_').tar.xz" -C "$dir" .
