#!/usr/bin/env bash
# On the GPU machine: mamba-1.4b with the per-layer state plan that budget mode found for the
# embedded Mamba-1 within 3% perplexity (repeated over the 48 layers), and with 25% of the states
# removed uniformly, against the unpruned preset, same run.
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
plan=$(for i in 1 2 3 4 5 6; do printf "0.75,0.75,0.25,0,0.75,0.75,0.25,0.75,"; done | sed 's/,$//')
"$bin/perfmamba" prune -m mamba-1.4b --method random --layer-ratios "$plan" -o /tmp/m14-plan >/dev/null || exit 1
"$bin/perfmamba" prune -m mamba-1.4b --method random --ratio 0.25 -o /tmp/m14-state25 >/dev/null || exit 1
for v in mamba-1.4b /tmp/m14-plan /tmp/m14-state25; do
  name=$(basename "$v"); mkdir -p "$OUT/$name"
  "$bin/perfmamba" profile -m "$v" --device cuda --seqlen 64,256,1024,4096,16384 --decode-positions 0 --repeats 2 \
    --out "$OUT/$name" > "$OUT/$name/summary.txt" 2>&1
  echo "== $name rc=$?"; grep -E "^(prefill|decode)" "$OUT/$name/summary.txt" | cut -c1-140
  rm -f "$OUT/$name/profile.csv" "$OUT/$name/report.html"
done
