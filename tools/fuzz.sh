#!/usr/bin/env bash
# Fuzzes the torch.save readers (restricted unpickler, zip reader) with libFuzzer + ASan/UBSan.
# Usage: bash tools/fuzz.sh [SECONDS=120]  — needs clang and libclang-rt-14-dev.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs=${1:-120}
out=build/fuzz
mkdir -p "$out/corpus"
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc \
  fuzz/pickle_fuzz.cpp src/perfmamba/io/pickle.cpp src/perfmamba/io/zip_archive.cpp \
  src/perfmamba/core/error.cpp src/perfmamba/core/dtype.cpp src/perfmamba/core/tensor.cpp \
  src/perfmamba/core/memory.cpp -o "$out/pickle_fuzz"
# Seeds: the real and hostile checkpoints, and their pickles.
for f in tests/fixtures/state_spaces/hostile/*.bin tests/fixtures/state_spaces/*/pytorch_model.bin; do
  cp "$f" "$out/corpus/$(basename "$(dirname "$f")")-$(basename "$f")"
  unzip -p "$f" '*/data.pkl' > "$out/corpus/$(basename "$(dirname "$f")")-$(basename "$f").pkl" 2>/dev/null || true
done
"$out/pickle_fuzz" -max_total_time="$secs" -max_len=65536 -print_final_stats=1 "$out/corpus"
