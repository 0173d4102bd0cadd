#!/usr/bin/env bash
# The main job (README): install dependencies, build, then show perfmamba on the embedded
# models: what they are, text they write, their held-out perplexity.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target perfmamba_cli
pm=build/release/bin/perfmamba
valid=../shared/data/corpus/gutenberg-victorian/valid.txt
for m in models/mamba1-victorian models/mamba2-victorian; do
  [ -f "$m/model.safetensors" ] || { echo "missing $m (see models/README.md)"; exit 1; }
  echo; echo "=== $m ==="
  $pm inspect --model "$m"
  echo; echo "--- generate (top-k 40, temperature 0.8) ---"
  $pm run --model "$m" --prompt "It was a dark and stormy night, and" -n 80 \
    --temperature 0.8 --top-k 40 --sample-seed 7
  if [ -f "$valid" ]; then
    echo; echo "--- held-out perplexity (first 64 windows of 1024 tokens of valid.txt) ---"
    $pm eval --model "$m" --ppl "$valid" --ctx 1025 --stride 1024 --max-tokens 65537 --batch 8
  fi
done

# Where the time goes, and what state pruning buys (see docs/findings.md, docs/pruning.md).
out=build/demo
rm -rf "$out" && mkdir -p "$out"
echo; echo "=== profile: models/mamba2-victorian, prefill L=64..1024 and decode (report: $out/profile/report.html) ==="
$pm profile --model models/mamba2-victorian --seqlen 64,256,1024 --decode-positions 0 --repeats 2 --out "$out/profile"
if [ -f "$valid" ]; then
  xz -dc ../shared/data/corpus/gutenberg-victorian/train-007.txt.xz | head -c 200000 > "$out/calib.txt" || true
  echo; echo "=== prune: half of the SSM states, Δ-guided, calibrated on training text, lsq bridge ==="
  $pm prune --model models/mamba2-victorian --method delta-state --ratio 0.5 --bridge lsq --calib "$out/calib.txt" \
    --calib-tokens 8192 --out "$out/mamba2-pruned"
  $pm eval --model "$out/mamba2-pruned" --ppl "$valid" --ctx 1025 --stride 1024 --max-tokens 65537 --batch 8
  $pm profile --model "$out/mamba2-pruned" --seqlen 64,256,1024 --decode-positions 0 --repeats 2 --out "$out/profile-pruned" >/dev/null
  echo; echo "=== before vs after pruning ($out/compare/compare.html) ==="
  echo "(a small model on a shared CPU: differences of a few percent are noise; docs/pruning.md has H100 numbers)"
  $pm profile --compare "$out/profile/profile.json" "$out/profile-pruned/profile.json" --out "$out/compare" | head -n 16
fi
