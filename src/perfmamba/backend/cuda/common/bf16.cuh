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

// Four floats rounded to bf16 (nearest even), stored as 8 bytes at dst (8-byte aligned).
__device__ __forceinline__ void store_bf16x4(void* dst, float a, float b, float c, float d) {
  const __nv_bfloat162 lo = __floats2bfloat162_rn(a, b), hi = __floats2bfloat162_rn(c, d);
  uint2 packed;
  packed.x = *reinterpret_cast<const uint32_t*>(&lo);
  packed.y = *reinterpret_cast<const uint32_t*>(&hi);
  *reinterpret_cast<uint2*>(dst) = packed;
}

}  // namespace perfmamba::cuda
