#pragma once
// A block's GEMV over some rows of a bf16 weight matrix, the weights streamed from memory with
// the next step's loads in flight: the building block of the one-kernel decode step.
#include <cuda_runtime.h>

#include <cstddef>

#include "perfmamba/backend/cuda/common/bf16.cuh"
#include "perfmamba/backend/cuda/common/math.cuh"

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
  // acc[e] += w[e] y
  __device__ __forceinline__ static void axpy(const T& w, float y, float (&acc)[8]) {
    acc[0] = fmaf(bf16_lo(w.x), y, acc[0]);
    acc[1] = fmaf(bf16_hi(w.x), y, acc[1]);
    acc[2] = fmaf(bf16_lo(w.y), y, acc[2]);
    acc[3] = fmaf(bf16_hi(w.y), y, acc[3]);
    acc[4] = fmaf(bf16_lo(w.z), y, acc[4]);
    acc[5] = fmaf(bf16_hi(w.z), y, acc[5]);
    acc[6] = fmaf(bf16_lo(w.w), y, acc[6]);
    acc[7] = fmaf(bf16_hi(w.w), y, acc[7]);
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
  __device__ __forceinline__ static void axpy(const T& w, float y, float (&acc)[1]) {
    acc[0] = fmaf(bf16_lo(w), y, acc[0]);
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
  // v: registers for the loads, at least kUnroll (a kernel's GEMVs may share a larger array).
  template <int kN>
  __device__ __forceinline__ void fetch(int q, T (&v)[kN]) const {
    static_assert(kN >= kUnroll);
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
  template <int kN>
  __device__ __forceinline__ void prefetch(T (&v)[kN], int split = 0) const {
    const int w = threadIdx.x >> 5, q = w < split ? w : split + w;
    if (q < steps()) fetch(q, v);
  }
  // The warp's steps in [from, to), from being 0 or split; cur holds the first one's loads
  // (from prefetch() or the run before) and is left holding the next one's.
  template <int kN>
  __device__ __forceinline__ void run(const float* x, float* part, T (&cur)[kN], int split = 0,
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

// A block's own columns of a weight matrix times their inputs: part[g][r] = sum over the g-th
// group of kGroup columns c of W[r][c0 + c] y[c], for every row r. W is read as its transposed
// copy, whose rows (one per column of W) are contiguous. An item is one piece of the output (16
// bytes of a row of W^T, or one bf16) for one group: its kGroup loads go out together, the next
// item's while the current one is summed. Summing the groups and adding the result into the
// grid's output is left to the caller.
template <bool kVec, int kGroup, int kThreads>
struct ColumnGemv {
  using P = Pieces<kVec>;
  using T = typename P::T;
  const T* wt;  // row c0 of the transposed matrix
  int pieces;   // pieces of a row of W^T (its length / P::kElems)
  int cols;     // this block's columns
  __device__ __forceinline__ int groups() const { return (cols + kGroup - 1) / kGroup; }
  __device__ __forceinline__ int items() const { return pieces * groups(); }
  template <int kN>
  __device__ __forceinline__ void fetch(int k, T (&v)[kN]) const {
    static_assert(kN >= kGroup);
    const int piece = k % pieces, g0 = (k / pieces) * kGroup;
#pragma unroll
    for (int u = 0; u < kGroup; ++u)
      v[u] = g0 + u < cols ? __ldcs(wt + size_t(g0 + u) * pieces + piece) : P::zero();
  }
  template <int kN>
  __device__ __forceinline__ void prefetch(T (&v)[kN]) const {
    if (int(threadIdx.x) < items()) fetch(threadIdx.x, v);
  }
  // y: this block's inputs (shared memory, rounded to bf16); part: groups() x (pieces * kElems).
  template <int kN>
  __device__ __forceinline__ void run(const float* y, float* part, T (&cur)[kN]) const {
    const int n = items();
    for (int k = threadIdx.x; k < n; k += kThreads) {
      T next[kGroup];
      if (k + kThreads < n) fetch(k + kThreads, next);
      const int piece = k % pieces, group = k / pieces, g0 = group * kGroup;
      float acc[P::kElems] = {};
#pragma unroll
      for (int u = 0; u < kGroup; ++u)
        if (g0 + u < cols) P::axpy(cur[u], y[g0 + u], acc);
      float* out = part + (size_t(group) * pieces + piece) * P::kElems;
      if constexpr (P::kElems ==
                    8) {  // two 16-byte stores: a quarter of eight floats' bank conflicts
        reinterpret_cast<float4*>(out)[0] = make_float4(acc[0], acc[1], acc[2], acc[3]);
        reinterpret_cast<float4*>(out)[1] = make_float4(acc[4], acc[5], acc[6], acc[7]);
      } else {
#pragma unroll
        for (int e = 0; e < P::kElems; ++e) out[e] = acc[e];
      }
#pragma unroll
      for (int u = 0; u < kGroup; ++u) cur[u] = next[u];
    }
  }
  // Outputs r..r+3 (r a multiple of 4, ld too) summed over `groups` rows of part, ld apart, onto
  // v: in a fixed order, with 16-byte reads (neighbouring threads, neighbouring banks).
  __device__ __forceinline__ static float4 sum4(const float* part, int groups, int ld, int r,
                                                float4 v) {
    for (int g = 0; g < groups; ++g) {
      const float4 c = *reinterpret_cast<const float4*>(part + size_t(g) * ld + r);
      v.x += c.x, v.y += c.y, v.z += c.z, v.w += c.w;
    }
    return v;
  }
};

}  // namespace perfmamba::cuda
