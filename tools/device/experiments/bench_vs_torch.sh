#!/usr/bin/env bash
# On the GPU machine: `perfmamba bench` (f32 and bf16 GEMMs) and the transformers baseline
# (bf16) for the given presets, same run, same card. Results under $OUT/bench/.
# Usage: bash tools/device/bench_vs_torch.sh "SEQLENS" PRESETS...
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
seqlens=${1:-64,256,1024,4096,16384}
shift || true
mkdir -p "$OUT/bench"
nvidia-smi --query-gpu=name --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
for m in "$@"; do
  for prec in bf16 f32; do
    timeout 150 "$bin/perfmamba" bench -m "$m" --device cuda --precision $prec --seqlen "$seqlens" --batch 1,8 \
      --decode-batch 1,8,64 --repeats 3 --json > "$OUT/bench/$m-$prec.json" 2> "$OUT/bench/$m-$prec.err"
    echo "== perfmamba $m $prec rc=$?"; grep -v '^[{} ]\|^  "' "$OUT/bench/$m-$prec.err" | tail -n 2
  done
  timeout 200 python3 tools/device/torch_baseline.py "$m" "$seqlens" 1,8 1,8,64 90 > "$OUT/bench/$m-torch.jsonl" 2> "$OUT/bench/$m-torch.err"
  echo "== torch $m rc=$?"; tail -n 2 "$OUT/bench/$m-torch.err"
done
