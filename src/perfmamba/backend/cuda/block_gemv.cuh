#pragma once
// A block's GEMV over some rows of a bf16 weight matrix, the weights streamed from memory with
// the next step's loads in flight: the building block of the one-kernel decode step.
#include <cuda_runtime.h>

#include <cstddef>

#include "perfmamba/backend/cuda/bf16.cuh"
#include "perfmamba/backend/cuda/math.cuh"

namespace perfmamba::cuda {

// Weight rows as the loads see them: 16 bytes (eight bf16) when every row length is a multiple
// of 8, else one bf16 at a time (any size, for small and pruned models).
template <bool kVec>
struct Pieces;
template <>
struct Pieces<true> {
  using T = uint4;
  static constexpr int kElems = 8;
  __device__ __forceinline__ static T zero() { return make_uint4(0, 0, 0, 0); }
  // x: eight floats, 16-byte aligned
  __device__ __forceinline__ static float dot(const T& w, const float* x, float acc) {
    const float4 a = reinterpret_cast<const float4*>(x)[0],
                 b = reinterpret_cast<const float4*>(x)[1];
    const float v[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
    return dot8(w, v, acc);
  }
};
template <>
struct Pieces<false> {
  using T = unsigned short;
  static constexpr int kElems = 1;
  __device__ __forceinline__ static T zero() { return 0; }
  __device__ __forceinline__ static float dot(const T& w, const float* x, float acc) {
    return fmaf(bf16_lo(w), x[0], acc);
  }
};

// Rows [0, rows) of a bf16 matrix times x (shared memory, already rounded to bf16), split into
// warp-sized steps: a row's chunk of 32 * kUnroll pieces (kUnroll loads a lane, two steps in
// flight). Warp w takes steps w, w + kWarps, ... with the next step's loads in flight while it sums
// the current one; step q's sum lands in part[q] (row q / chunks, chunk q % chunks). Local row r is
// matrix row base0 + r below split, base1 + r - split from there (in_proj's x rows, then its z
// rows).
template <bool kVec, int kUnroll, int kWarps>
struct BlockGemv {
  using P = Pieces<kVec>;
  using T = typename P::T;
  const T* w;
  int pieces, rows, split, base0, base1;
  __device__ __forceinline__ int chunks() const {
    return (pieces + 32 * kUnroll - 1) / (32 * kUnroll);
  }
  __device__ __forceinline__ int steps() const { return rows * chunks(); }
  __device__ __forceinline__ void fetch(int q, T (&v)[kUnroll]) const {
    const int r = q / chunks(), first = (q % chunks()) * 32 * kUnroll + (threadIdx.x & 31);
    const T* row = w + size_t(r < split ? base0 + r : base1 + r - split) * pieces;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int at = first + u * 32;
      v[u] = at < pieces ? __ldcs(row + at) : P::zero();  // streamed: not kept in L1
    }
  }
  // The warp's first step, issued early (before a wait or barrier): run() starts from it.
  __device__ __forceinline__ void prefetch(T (&v)[kUnroll]) const {
    if (int(threadIdx.x >> 5) < steps()) fetch(threadIdx.x >> 5, v);
  }
  __device__ __forceinline__ void run(const float* x, float* part, T (&cur)[kUnroll]) const {
    const int lane = threadIdx.x & 31, n = steps(), nch = chunks();
    for (int q = threadIdx.x >> 5; q < n; q += kWarps) {
      T next[kUnroll];
      if (q + kWarps < n) fetch(q + kWarps, next);
      const int first = (q % nch) * 32 * kUnroll + lane;
      float acc = 0.0f;
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
        if (first + u * 32 < pieces)
          acc = P::dot(cur[u], x + size_t(first + u * 32) * P::kElems, acc);
      acc = warp_sum(acc);
      if (lane == 0) part[q] = acc;
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) cur[u] = next[u];
    }
  }
  // Row r's total: its chunks' sums in a fixed order (the result does not depend on timing).
  __device__ __forceinline__ float total(const float* part, int r) const {
    float s = 0.0f;
    for (int q = 0; q < chunks(); ++q) s += part[r * chunks() + q];
    return s;
  }
};

}  // namespace perfmamba::cuda
