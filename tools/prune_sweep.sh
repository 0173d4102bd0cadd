#!/usr/bin/env bash
# Perplexity of the embedded models after state pruning, for every method and ratio (CPU).
# Usage: bash tools/prune_sweep.sh > docs/pruning-sweep.tsv   (needs build/release and ../shared/data)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
pm=build/release/bin/perfmamba
data=../shared/data/corpus/gutenberg-victorian
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Calibration text from the training split (never the held-out valid.txt that is scored).
xz -dc "$data/train-007.txt.xz" | head -c 400000 > "$tmp/calib.txt" || true  # xz ends on SIGPIPE
ppl() { $pm eval -m "$1" --ppl "$data/valid.txt" --ctx 1025 --stride 1024 --max-tokens 16385 --batch 8 --json |
        python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["ppl"])'; }
printf "model\tmethod\tselection\tratio\td_state\tppl\n"
for m in mamba1-victorian mamba2-victorian; do
  printf "%s\tnone\t-\t0\t-\t%s\n" "$m" "$(ppl models/$m)"
  for method in delta-state magnitude random; do
    for sel in uniform global; do
      [ "$sel" = global ] && [ "$method" = random ] && continue
      for r in 0.25 0.5 0.75; do
        flag=""; [ "$sel" = global ] && flag="--global"
        out="$tmp/$m-$method-$sel-$r"
        ds=$($pm prune -m "models/$m" --method $method --ratio $r $flag --calib "$tmp/calib.txt" --calib-tokens 16384 \
             --out "$out" --json | python3 -c 'import json,sys; print(",".join(map(str, json.load(sys.stdin)["d_state_per_layer"])))')
        printf "%s\t%s\t%s\t%s\t%s\t%s\n" "$m" "$method" "$sel" "$r" "$ds" "$(ppl "$out")"
        rm -rf "$out"
      done
    done
  done
done
