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
// flight). Step q's sum lands in part[q] (row q / chunks, chunk q % chunks). Local row r is
// matrix row base0 + r below seg1, base1 + r - seg1 below seg2, base2 + r - seg2 from there (a
// block's rows of in_proj come from up to three places).
//
// The steps may form two ranges, [0, split) and [split, steps()): warp w takes steps w,
// w + kWarps, ... of the first, then split + w, split + w + kWarps, ... of the second, always
// with its next step's loads in flight while it sums the current one, across the two ranges
// too. A block can so finish the first range's rows and use them while the second range
// streams. Without a split (0) there is one range.
template <bool kVec, int kUnroll, int kWarps>
struct BlockGemv {
  using P = Pieces<kVec>;
  using T = typename P::T;
  const T* w;
  int pieces, rows, seg1, base0, base1, seg2 = rows, base2 = 0;
  __device__ __forceinline__ int chunks() const {
    return (pieces + 32 * kUnroll - 1) / (32 * kUnroll);
  }
  __device__ __forceinline__ int steps() const { return rows * chunks(); }
  __device__ __forceinline__ int row(int r) const {
    return r < seg1 ? base0 + r : r < seg2 ? base1 + r - seg1 : base2 + r - seg2;
  }
  __device__ __forceinline__ void fetch(int q, T (&v)[kUnroll]) const {
    const int first = (q % chunks()) * 32 * kUnroll + (threadIdx.x & 31);
    const T* src = w + size_t(row(q / chunks())) * pieces;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int at = first + u * 32;
      v[u] = at < pieces ? __ldcs(src + at) : P::zero();  // streamed: not kept in L1
    }
  }
  __device__ __forceinline__ int next_step(int q, int split) const {
    return q < split && q + kWarps >= split ? split + int(threadIdx.x >> 5) : q + kWarps;
  }
  // The warp's first step, issued early (before a wait or barrier): run() starts from it.
  __device__ __forceinline__ void prefetch(T (&v)[kUnroll], int split = 0) const {
    const int w = threadIdx.x >> 5, q = w < split ? w : split + w;
    if (q < steps()) fetch(q, v);
  }
  // The warp's steps in [from, to), from being 0 or split; cur holds the first one's loads
  // (from prefetch() or the run before) and is left holding the next one's.
  __device__ __forceinline__ void run(const float* x, float* part, T (&cur)[kUnroll], int split = 0,
                                      int from = 0, int to = -1) const {
    const int lane = threadIdx.x & 31, n = steps(), nch = chunks(), end = to < 0 ? n : to;
    for (int q = from + int(threadIdx.x >> 5); q < end;) {
      const int nq = next_step(q, split);
      T next[kUnroll];
      if (nq < n) fetch(nq, next);
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
      q = nq;
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
