#pragma once
// bf16 on the device as the GEMVs use it: weights read as raw 16-bit words (two to a 32-bit
// word, eight to a 16-byte load) and widened by a shift, activations rounded to bf16 in
// registers so that every product is the one the cuBLAS bf16 path computes.
#include <cuda_bf16.h>

#include <cstdint>

namespace perfmamba::cuda {

__device__ __forceinline__ float bf16_lo(uint32_t v) {
  return __uint_as_float(v << 16);
}
__device__ __forceinline__ float bf16_hi(uint32_t v) {
  return __uint_as_float(v & 0xffff0000u);
}
__device__ __forceinline__ float round_bf16(float v) {
  return __bfloat162float(__float2bfloat16_rn(v));
}

// acc + w . x for eight bf16 weights and eight floats.
__device__ __forceinline__ float dot8(const uint4& w, const float (&x)[8], float acc) {
  acc = fmaf(bf16_lo(w.x), x[0], acc);
  acc = fmaf(bf16_hi(w.x), x[1], acc);
  acc = fmaf(bf16_lo(w.y), x[2], acc);
  acc = fmaf(bf16_hi(w.y), x[3], acc);
  acc = fmaf(bf16_lo(w.z), x[4], acc);
  acc = fmaf(bf16_hi(w.z), x[5], acc);
  acc = fmaf(bf16_lo(w.w), x[6], acc);
  return fmaf(bf16_hi(w.w), x[7], acc);
}

}  // namespace perfmamba::cuda
