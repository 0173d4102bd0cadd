#!/usr/bin/env bash
# On the GPU machine: Δ-guided prunes of the embedded models (with bridges) load in transformers
# and give perfmamba's perplexity; then Nsight Compute on the 130m presets. Needs .device-bin.tar.xz
# and .device-data/{calib,valid}.txt.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/device/env.sh
python3 -c "import transformers; print('transformers', transformers.__version__)"
check() {  # model out prune-args...
  local m=$1 out=$2; shift 2
  "$bin/perfmamba" prune -m "models/$m" --calib .device-data/calib.txt --calib-tokens 8192 --dtype f32 -o "$out" "$@" >/dev/null || return
  "$bin/perfmamba" eval -m "$out" --ppl .device-data/valid.txt --ctx 1025 --stride 1024 --max-tokens 4097 --json > "$out.json" 2>/dev/null
  python3 tools/device/hf_pruned_check.py "$out" .device-data/valid.txt "$out.json" 2>&1 | tail -n 1
}
check mamba2-victorian /tmp/m2-state50-lsq --method delta-state --ratio 0.5 --bridge lsq
check mamba1-victorian /tmp/m1-state25-fold --method delta-state --ratio 0.25 --bridge fold
check mamba1-victorian /tmp/m1-channel50-lsq --method delta-channel --ratio 0.5 --bridge lsq+fold
for m in mamba-130m mamba2-130m; do
  mkdir -p "$OUT/ncu-$m"
  timeout 120 "$bin/perfmamba" profile -m "$m" --device cuda --seqlen 4096 --decode-positions 0 --repeats 3 --ncu \
    --out "$OUT/ncu-$m" > "$OUT/ncu-$m/summary.txt" 2>&1
  echo "== ncu $m rc=$?"; sed -n '/^hardware counters/,$p' "$OUT/ncu-$m/summary.txt"
done
