#!/usr/bin/env bash
# On the GPU machine: `perfmamba bench` (bf16) of every build (env.sh: builds) on each preset,
# the builds alternated over ROUNDS rounds so that all see the same card and clocks: an A/B when
# ab/*.xz or .device-bin/variants/ hold other builds, a plain table otherwise.
# Usage: [MODE=model|kernels] [SEQLEN=512,2048] [BATCH=1] [DECODE_BATCH=1,8,64] [ROUNDS=1]
#        [GREP=regex] bash tools/device/bench.sh PRESETS...
# MODE=kernels times one layer's ops alone (`bench --kernels`; SEQLEN=1 gives the decode step's).
# JSON per (preset, build, round) under $OUT/bench/; the text lines (matching GREP) on stdout.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/device/env.sh
mkdir -p "$OUT/bench"
card
mapfile -t all < <(builds)
for m in "$@"; do
  for round in $(seq "${ROUNDS:-1}"); do
    for b in "${all[@]}"; do
      name=${b%%=*} exe=${b#*=}
      args=(-m "$m" --device cuda --precision "${PRECISION:-bf16}" --seqlen "${SEQLEN:-512,2048,8192}"
            --batch "${BATCH:-1}" --json)
      if [ "${MODE:-model}" = kernels ]; then
        args+=(--kernels --repeats 10)
      else
        args+=(--decode-batch "${DECODE_BATCH:-1,8,64}" --repeats "${REPEATS:-3}")
      fi
      echo "== $m $name round $round"
      timeout "${TIMEOUT:-300}" "$exe" bench "${args[@]}" > "$OUT/bench/$m-$name-r$round.json" \
        2> "$OUT/bench/$m-$name-r$round.txt"
      grep -E "${GREP:-.}" "$OUT/bench/$m-$name-r$round.txt" | grep -v " on cuda"
    done
  done
done
