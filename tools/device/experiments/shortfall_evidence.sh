#!/usr/bin/env bash
# On the GPU machine: the measurements behind the issue-5 limits on the current code. Where a
# bf16 prefill's time goes at L = 2048, batch 1 (`perfmamba profile`, with its Nsight Compute
# pass); the fused batch-1 decode-step kernel's throughput and stalls (ncu_step.sh); the prefill
# kernels furthest from their bound (the Mamba-1 scan's two passes, the SSD's chunk_output); and
# how long a poll of L2 takes while the SMs stream weights (poll_latency, the grid barriers'
# cost). Needs .device-bin.tar.xz (pack_binaries.sh); carry it. Reports under $OUT.
set -uo pipefail
cd "$(dirname "$0")/../../.."
source tools/device/env.sh
nvidia-smi --query-gpu=name,clocks.max.sm --format=csv,noheader
echo "== poll of L2 under a weight stream"
"$bin/poll_latency" | tee "$OUT/poll_latency.txt"
for m in mamba-2.8b mamba2-2.7b; do
  timeout 200 "$bin/perfmamba" profile -m "$m" --device cuda --precision bf16 --seqlen 2048 --batch 1 \
    --decode-positions 16 --repeats 3 --ncu --ncu-seqlen 2048 --out "$OUT/profile-$m" > "$OUT/profile-$m.log" 2>&1
  echo "== profile $m rc=$?"; sed -n '/^prefill/,/^$/p' "$OUT/profile-$m.log"
done
timeout 200 bash tools/device/ncu_step.sh mamba-1.4b mamba-2.8b
for k in local_kernel emit_kernel; do
  echo "== mamba-2.8b $k"; KERNEL=$k SEQLEN=2048 timeout 60 bash tools/device/ncu_kernel.sh mamba-2.8b | head -40
done
echo "== mamba2-2.7b chunk_output"
KERNEL=chunk_output SEQLEN=2048 PRECISION=bf16 timeout 60 bash tools/device/ncu_kernel.sh mamba2-2.7b | head -40
