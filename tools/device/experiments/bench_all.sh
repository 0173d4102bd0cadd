#!/usr/bin/env bash
# On the GPU machine: the acceptance table of the CUDA backend issue. For each preset given,
# `perfmamba bench` in bf16 (prefill L = 64 .. 16384 at batch 1 and 8, decode at batch 1, 8, 64)
# and, in the same run, the transformers baseline (bf16, same shapes; points past its time budget
# are skipped). With NCU=1, also an Nsight Compute profile (bf16, prefill L=2048 and decode) of
# mamba-1.4b and mamba2-1.3b to explain the distance to the limits.
# Usage: bash tools/device/bench_all.sh PRESETS...   Results under $OUT/bench/.
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
export PERFMAMBA_FIXTURES=$PWD/tests/fixtures
seqlens=64,128,256,512,1024,2048,4096,8192,16384
mkdir -p "$OUT/bench"
nvidia-smi --query-gpu=name --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
"$bin/backend_tests" --gtest_filter='Cuda*' 2>&1 | grep -E "PASSED|FAILED|Failure"
for m in "$@"; do
  timeout 240 "$bin/perfmamba" bench -m "$m" --device cuda --precision bf16 --seqlen "$seqlens" --batch 1,8 \
    --decode-batch 1,8,64 --repeats "${REPEATS:-2}" --json > "$OUT/bench/$m-bf16.json" 2> "$OUT/bench/$m-bf16.err"
  echo "== perfmamba $m bf16 rc=$?"; grep -E "L +(2048|16384)|decode" "$OUT/bench/$m-bf16.err"
  timeout "${TORCH_TIMEOUT:-120}" python3 tools/device/torch_baseline.py "$m" "$seqlens" 1,8 1,8,64 "${TORCH_BUDGET:-45}" \
    > "$OUT/bench/$m-torch.jsonl" 2> "$OUT/bench/$m-torch.err"
  echo "== torch $m rc=$? ($(grep -c tokens_per_s "$OUT/bench/$m-torch.jsonl") points)"
done
if [ "${NCU:-0}" = 1 ]; then
  for m in mamba-1.4b mamba2-1.3b; do
    timeout 200 "$bin/perfmamba" profile -m "$m" --device cuda --precision bf16 --seqlen 2048 --decode-positions 0 \
      --repeats 2 --ncu --out "$OUT/ncu-$m" > "$OUT/ncu-$m.txt" 2>&1
    echo "== ncu $m rc=$?"; grep -iA30 "nsight\|ncu" "$OUT/ncu-$m.txt" | head -40
  done
fi
# the device tool returns only a few files: everything also goes back as one archive
tar -czf "$OUT/bench-all.tar.gz" -C "$OUT" bench $(cd "$OUT" && ls -d ncu-* 2>/dev/null)
