#!/usr/bin/env bash
# Here (no GPU): build perfmamba for the GPU machine (x86-64-v3, sm_90) and pack the binaries
# with the shared libraries that machine lacks into .device-bin.tar.xz (git-ignored; carry it:
# compressed, it fits beside the repository in the 64 MiB a call may send).
# The GPU machine has CUDA (cuBLAS) and a C++ runtime but none of our Debian -dev packages.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
cmake -S . -B build/device -G Ninja -DCMAKE_BUILD_TYPE=Release -DPERFMAMBA_MARCH=x86-64-v3 \
  -DPERFMAMBA_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DPERFMAMBA_BENCH=OFF >/dev/null
cmake --build build/device --target perfmamba_cli backend_tests
rm -rf .device-bin && mkdir -p .device-bin/lib .device-bin/libstdcxx
cp build/device/bin/perfmamba build/device/tests/backend_tests .device-bin/
strip .device-bin/perfmamba .device-bin/backend_tests  # host symbols: 1-2 MB less to carry
for lib in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libgomp.so.1 libpcre2-8.so.0 libutf8proc.so.2; do
  cp -L "$(ldd build/device/bin/perfmamba build/device/tests/backend_tests /usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0 \
    | awk -v l="$lib" '$1 == l {print $3; exit}')" .device-bin/lib/
done
cp -L /lib/x86_64-linux-gnu/libstdc++.so.6 .device-bin/libstdcxx/  # used only if the machine's is older
# xz -9: its 64 MiB window spans both binaries, which share most of their bytes (11.5 -> 9 MB)
tar -cf - .device-bin | xz -9 -T2 > .device-bin.tar.xz
ls -la .device-bin.tar.xz
