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
