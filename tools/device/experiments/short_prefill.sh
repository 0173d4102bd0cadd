#!/usr/bin/env bash
# On the GPU machine: bf16 prefill at short and middle lengths (batch 1 and 8, 5 repeats) for the
# presets given, the packed build (B) against ab/perfmamba-old.xz (A) when that exists.
# Usage: SEQLEN=64,128,256,512,1024 bash tools/device/short_prefill.sh PRESETS...
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
[ -f ab/perfmamba-old.xz ] && xz -dc ab/perfmamba-old.xz > /tmp/perfmamba-old && chmod +x /tmp/perfmamba-old
nvidia-smi --query-gpu=name --format=csv,noheader
for m in "$@"; do
  for who in A B; do
    exe=$bin/perfmamba
    if [ $who = A ]; then [ -x /tmp/perfmamba-old ] || continue; exe=/tmp/perfmamba-old; fi
    echo "== $m $who"
    "$exe" bench -m "$m" --device cuda --precision bf16 --seqlen "${SEQLEN:-64,128,256,512,1024}" \
      --batch ${BATCH:-1,8} --decode-batch 1 --decode-steps 2 --repeats 5 2>&1 | grep prefill
  done
done
