#!/usr/bin/env bash
# On the GPU machine: one layer's kernels (`perfmamba bench --kernels`) of several builds on the
# same card, alternated over two rounds: each ab/NAME.xz (earlier or variant builds, xz'd
# perfmamba binaries), each .device-bin/variants/NAME and the packed build. Usage:
# OPS=scan SEQLEN=512,2048 bash tools/device/ab_kernels.sh PRESETS...   (OPS: a grep pattern;
# BATCH: prefill batches, default 1; SEQLEN=1 times the decode step's kernels)
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
declare -A exe=([packed]=$bin/perfmamba)
for f in ab/*.xz; do
  [ -f "$f" ] || continue
  name=$(basename "$f" .xz); xz -dc "$f" > "/tmp/$name" && chmod +x "/tmp/$name" && exe[$name]=/tmp/$name
done
for f in "$bin"/variants/*; do  # builds packed beside the main one (see ab_binaries.sh)
  [ -f "$f" ] && exe[$(basename "$f")]=$f
done
nvidia-smi --query-gpu=name --format=csv,noheader
for m in "$@"; do
  for round in 1 2; do
    for name in $(printf '%s\n' "${!exe[@]}" | sort); do
      echo "== $m $name round $round"
      "${exe[$name]}" bench --kernels -m "$m" --device cuda --precision bf16 \
        --seqlen ${SEQLEN:-512,2048,8192,16384} --batch ${BATCH:-1} --repeats 10 2>&1 | grep -E "${OPS:-scan|ssd}"
    done
  done
done
