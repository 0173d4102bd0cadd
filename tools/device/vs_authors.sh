#!/usr/bin/env bash
# perfmamba against the Mamba authors' stack (mamba_ssm + causal_conv1d, MambaLMHeadModel with
# CUDA-graph decode) in one call on one card: whole models in bf16 with random weights, prefill
# at batch 1 (LENGTHS) and batch 8 (B8_LENGTHS), decode at DECODE_BATCHES (greedy, next ids
# chosen on the GPU on both sides); then the ratio table (vs_authors_table.py).
#   here, once:        bash tools/device/vs_authors.sh --prepare   (copies the baseline to .baselines/)
#   on the GPU machine: bash tools/device/vs_authors.sh PRESETS...   (carry .device-bin.tar.xz and
#                       .baselines). Results: $OUT/vs/*.jsonl, $OUT/vs/table.md and table.json.
set -uo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = --prepare ]; then
  mkdir -p .baselines && rm -rf .baselines/mamba-authors &&
    cp -r ../shared/baselines/mamba-authors .baselines/ && echo "copied to .baselines/mamba-authors"
  exit
fi
source tools/device/env.sh
source tools/device/authors_env.sh || exit 1
lengths=${LENGTHS:-512,2048,8192,16384} b8=${B8_LENGTHS:-2048} batches=${DECODE_BATCHES:-1,8,64}
mkdir -p "$OUT/vs"
card | tee "$OUT/vs/card.txt"
echo "${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}" > "$OUT/vs/commit.txt"
for m in "$@"; do
  echo "== $m"
  # prefill at batch 1 and 8, then decode, in separate runs so that each batch's list is its own
  timeout 300 "$bin/perfmamba" bench -m "$m" --device cuda --precision bf16 --seqlen "$lengths" \
    --batch 1 --decode-batch "$batches" --repeats "${REPEATS:-3}" --json > "$OUT/vs/$m-pm-b1.json" \
    2> "$OUT/vs/$m-pm-b1.txt"
  timeout 200 "$bin/perfmamba" bench -m "$m" --device cuda --precision bf16 --seqlen "$b8" \
    --batch 8 --decode-batch 1 --decode-steps 1 --repeats "${REPEATS:-3}" --json \
    > "$OUT/vs/$m-pm-b8.json" 2> "$OUT/vs/$m-pm-b8.txt"
  grep -E "prefill|decode" "$OUT/vs/$m-pm-b1.txt" "$OUT/vs/$m-pm-b8.txt" | sed 's/^.*txt://'
  timeout 300 python3 tools/device/authors_bench.py models "$m" --lengths "$lengths" \
    --b8-lengths "$b8" --decode-batches "$batches" > "$OUT/vs/$m-authors.jsonl" 2> "$OUT/vs/$m-authors.err"
  echo "authors rc=$? ($(wc -l < "$OUT/vs/$m-authors.jsonl") points)"
done
python3 tools/device/vs_authors_table.py "$OUT/vs" | tee "$OUT/vs/table.md"
