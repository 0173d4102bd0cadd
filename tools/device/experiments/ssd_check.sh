#!/usr/bin/env bash
# On the GPU machine: the SSD and model tests, the bf16 SSD kernel alone at the Mamba-2 130m and 2.7b
# shapes (perfmamba bench --kernels), and Nsight Compute on its kernels (tools/device/ncu_ssd.sh).
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh; export PERFMAMBA_FIXTURES=$PWD/tests/fixtures
nvidia-smi --query-gpu=name --format=csv,noheader
$bin/backend_tests --gtest_filter='Cuda.Ssd*:Cuda.Golden*:CudaBf16.GemmAndModels*' 2>&1 | grep -E "OK|FAIL|rel|Expected|Which" | head -20
for m in mamba2-130m mamba2-2.7b; do $bin/perfmamba bench --kernels -m $m --device cuda --precision bf16 --seqlen 512,2048,8192,16384 --repeats 10 2>&1 | grep ssd; done
SEQLEN=8192 bash tools/device/ncu_ssd.sh mamba2-2.7b 2>&1 | grep -E "^  [a-z]|Duration|Issue|DRAM Th|Achieved" | cut -c1-100
