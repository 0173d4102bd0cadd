#!/usr/bin/env bash
# On the GPU machine: speed and memory of presets before and after removing half of the SSM
# states (the layout a Δ-guided prune produces; `random` needs no calibration text for presets).
# Usage: bash tools/device/prune_speed.sh [PRESETS...]; profiles come back under $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/device/env.sh
presets=${*:-mamba-130m mamba2-130m mamba2-1.3b}
for m in $presets; do
  "$bin/perfmamba" prune -m "$m" --method random --ratio 0.5 --dtype f32 -o "/tmp/$m-pruned" >/dev/null || exit 1
  for v in "$m" "/tmp/$m-pruned"; do
    name=$(basename "$v")
    "$bin/perfmamba" profile -m "$v" --device cuda --seqlen 1024,4096 --decode-positions 0 --repeats 3 \
      --out "/tmp/p-$name" > "/tmp/p-$name.txt" 2>&1
    echo "== $name rc=$?"; grep -E "^(prefill|decode)|  (scan|ssd) " "/tmp/p-$name.txt"
    mkdir -p "$OUT/$name" && cp "/tmp/p-$name/profile.json" "$OUT/$name/"
  done
done
