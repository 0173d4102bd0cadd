#!/usr/bin/env bash
# Perplexity of the embedded models after pruning, for every criterion, axis, ratio and bridge
# (CPU). Usage: bash tools/prune_sweep.sh > docs/pruning-sweep.tsv   (needs build/release and ../shared/data)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
pm=${PERFMAMBA:-build/release/bin/perfmamba}
data=../shared/data/corpus/gutenberg-victorian
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Calibration text from the training split (never the held-out valid.txt that is scored).
xz -dc "$data/train-007.txt.xz" | head -c 400000 > "$tmp/calib.txt" || true  # xz ends on SIGPIPE
ppl() { $pm eval -m "$1" --ppl "$data/valid.txt" --ctx 1025 --stride 1024 --max-tokens 16385 --batch 8 --json |
        python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["ppl"])'; }
run() {  # model axis method ratio bridge
  local out="$tmp/p"
  rm -rf "$out"
  sizes=$($pm prune -m "models/$1" --axis "$2" --method "$3" --ratio "$4" --bridge "$5" --calib "$tmp/calib.txt" \
          --calib-tokens 16384 --out "$out" --json 2>/dev/null |
          python3 -c 'import json,sys; j=json.load(sys.stdin); print(",".join(map(str, j.get("d_state_per_layer") or j["channels_per_layer"])))')
  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$1" "$2" "$3" "$4" "$5" "$sizes" "$(ppl "$out")"
}
# PARTS picks what to run (default: everything), e.g. PARTS="mamba2-victorian:state".
parts=${PARTS:-"mamba1-victorian:state mamba1-victorian:channel mamba2-victorian:state mamba2-victorian:channel"}
printf "model\taxis\tmethod\tratio\tbridge\tsizes\tppl\n"
for part in $parts; do
  m=${part%%:*} axis=${part##*:}
  [ "$axis" = state ] && printf "%s\t-\tnone\t0\tnone\t-\t%s\n" "$m" "$(ppl models/$m)"
  if [ "$axis" = state ]; then ratios="0.25 0.5 0.75"; delta=delta-state; else ratios="0.125 0.25 0.5"; delta=delta-channel; fi
  for r in $ratios; do
    for b in none fold lsq; do run $m $axis $delta $r $b; done
    for method in magnitude random; do run $m $axis $method $r none; done
  done
done
