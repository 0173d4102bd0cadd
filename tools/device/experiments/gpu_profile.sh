#!/usr/bin/env bash
# On the GPU machine: `perfmamba profile --device cuda` of the embedded models and the 130m/370m
# presets; reports come back under $OUT (JSON + HTML per model). Needs .device-bin.tar.xz.
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
nvidia-smi --query-gpu=name --format=csv,noheader
for m in models/mamba1-victorian models/mamba2-victorian mamba-130m mamba2-130m; do
  name=$(basename "$m")
  mkdir -p "$OUT/$name"
  timeout 150 "$bin/perfmamba" profile -m "$m" --device cuda --seqlen 64,256,1024,4096 --decode-positions 0,1024 \
    --repeats 3 --out "/tmp/prof-$name" > "/tmp/prof-$name.txt" 2>&1
  echo "== $name rc=$?"; head -n 1 "/tmp/prof-$name.txt"; grep -E "^(prefill|decode)" "/tmp/prof-$name.txt"
  cp "/tmp/prof-$name/profile.json" "$OUT/$name/" 2>/dev/null
done
