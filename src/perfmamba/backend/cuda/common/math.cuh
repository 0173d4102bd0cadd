#pragma once
// Device math shared by the kernels: the same definitions as the CPU backend (softplus with
// PyTorch's threshold 20, SiLU) and warp/block reductions.
#include <cuda_runtime.h>

#include "perfmamba/core/atanh_series.hpp"

namespace perfmamba::cuda {

__device__ __forceinline__ float softplus(float v) { return v > 20.0f ? v : log1pf(expf(v)); }
__device__ __forceinline__ float silu(float v) { return v / (1.0f + expf(-v)); }

constexpr float kLog2e = 1.4426950408889634f;

// 2^v in one instruction (rel. error ~2^-22; results below 2^-126 flush to zero, which a
// decaying state may). The scans' cost is mostly one of these per state and token.
__device__ __forceinline__ float exp2_fast(float v) {
  float r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(v));
  return r;
}
// softplus with PyTorch's threshold 20, without branches: max(v, 0) + log1p(e), e = e^-|v| in
// (0, 1], log1p from core/atanh_series.hpp. Within 1.4e-6 of log1p(exp(v)) in double for
// v >= -16 (the error of e's exponent). Lanes of a warp whose Δ fall on both sides of a branch
// would take both: the log1pf branch this replaced cost 30-45 instructions a row and token.
__device__ __forceinline__ float softplus_fast(float v) {
  const float e = exp2_fast(-fabsf(v) * kLog2e);
  const float l = two_atanh_series(__fdividef(e, 2.0f + e));
  return v > 20.0f ? v : fmaxf(v, 0.0f) + l;
}
__device__ __forceinline__ float silu_fast(float v) {
  return __fdividef(v, 1.0f + exp2_fast(-v * kLog2e));
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum over a block of up to 1024 threads; every thread gets the result.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // partial may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) >> 5;
  v = lane < warps ? partial[lane] : 0.0f;
  return warp_sum(v);
}

}  // namespace perfmamba::cuda
