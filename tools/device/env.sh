# Sourced by the GPU-machine drivers (check.sh, bench.sh, nsight.sh, vs_authors.sh, ...): unpacks
# .device-bin.tar.xz (tools/device/pack_binaries.sh), sets the library path so the binaries built
# here find OpenBLAS, PCRE2, utf8proc and cuBLAS, and defines the helpers below.
tar -xJf .device-bin.tar.xz
bin=$PWD/.device-bin
cublas=$(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__) + "/lib")' 2>/dev/null)
export LD_LIBRARY_PATH=$bin/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:${cublas}:${LD_LIBRARY_PATH:-}
# The machine's C++ runtime is used unless it is older than the one the binaries need.
"$bin/perfmamba" --version >/dev/null 2>&1 || export LD_LIBRARY_PATH=$bin/libstdcxx:$LD_LIBRARY_PATH
export PERFMAMBA_FIXTURES=$PWD/tests/fixtures PERFMAMBA_MODELS=$PWD/models

card() { nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader; }

# The perfmamba builds to compare, as "name=path" lines: the packed build ("packed"), each
# ab/NAME.xz (an xz'd perfmamba binary: an earlier commit, a variant) and each
# .device-bin/variants/NAME (stripped builds packed beside the main one).
builds() {
  echo "packed=$bin/perfmamba"
  local f name
  for f in ab/*.xz; do
    [ -f "$f" ] || continue
    name=$(basename "$f" .xz); xz -dc "$f" > "/tmp/$name" && chmod +x "/tmp/$name" && echo "$name=/tmp/$name"
  done
  for f in "$bin"/variants/*; do [ -f "$f" ] && echo "$(basename "$f")=$f"; done
}

# The CUDA tests whose names match a gtest filter; prints the summary lines.
cuda_tests() {
  "$bin/backend_tests" --gtest_filter="${1:-Cuda*}" 2>&1 | tee "$OUT/cuda_tests.log" |
    grep -E "^\[  (PASSED|FAILED) |Failure|Expected|Which is|fused vs" | head -40
}
