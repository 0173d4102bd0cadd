# Sourced by the GPU-machine scripts: unpacks .device-bin.tar.xz (tools/device/pack_binaries.sh)
# and sets the library path so the binaries built here find OpenBLAS, PCRE2, utf8proc and cuBLAS.
tar -xJf .device-bin.tar.xz
bin=$PWD/.device-bin
cublas=$(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__) + "/lib")' 2>/dev/null)
export LD_LIBRARY_PATH=$bin/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:${cublas}:${LD_LIBRARY_PATH:-}
# The machine's C++ runtime is used unless it is older than the one the binaries need.
"$bin/perfmamba" --version >/dev/null 2>&1 || export LD_LIBRARY_PATH=$bin/libstdcxx:$LD_LIBRARY_PATH
