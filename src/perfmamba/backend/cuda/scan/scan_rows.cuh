#pragma once
// The selective scan's rows (Mamba-1 channels, Mamba-2 head rows) and one token's inputs for a
// block of them: what scanner.cuh scans. Included by scan.cu alone (scan.cu says how it works).
#include <cuda_bf16.h>

#include <cstdint>

#include "perfmamba/backend/cuda/common/async_copy.cuh"
#include "perfmamba/backend/cuda/common/math.cuh"
#include "perfmamba/backend/ops.hpp"

namespace perfmamba::cuda::scan_detail {
constexpr int kThreads = 128;  // per block
// Tokens per chunk at least aimed at (the last chunk may be shorter): shorter chunks cost more in
// state passing than they gain. H100, one layer's scan at the 130m shape, L = 512: 32 chunks of
// 16 tokens took 0.031 ms, 16 of 32 0.036 ms; the 2.8b shape and longer sequences are unchanged
// (docs/benchmarks-history.md).
constexpr int kMinChunk = 16;
// Asks L1 for the line holding q; the scan issues it kAhead tokens before the load, so that
// streams read once (x, Δ, z) arrive from DRAM while earlier tokens are computed.
__device__ __forceinline__ void prefetch_l1(const float* q) {
  asm volatile("prefetch.global.L1 [%0];" ::"l"(q));
}
constexpr int kAhead = 8;

// Mamba-1's parameters, and y as the kernels write it: f32 (y32, row stride ldy) or bf16 (y16,
// packed [batch * len, d_inner]), whichever p.y is.
struct ScanArgs : SelectiveScanParams {
  float* y32 = nullptr;
  __nv_bfloat16* y16 = nullptr;
};

// Mamba-1: a block is one row (b, e); A per (e, n); gate z.
struct Mamba1 {
  static constexpr int R = 1;
  static constexpr bool kScalarA = false;
  const ScanArgs& p;
  int b, e;
  float bias, skip;  // dt_bias and D of the channel, read once
  __device__ Mamba1(const ScanArgs& q, size_t block)
      : p(q),
        b(int(block / q.d_inner)),
        e(int(block % q.d_inner)),
        bias(__ldg(q.dt_bias + e)),
        skip(__ldg(q.D + e)) {}
  __host__ __device__ static size_t blocks(const SelectiveScanParams& q) {
    return size_t(q.batch) * q.d_inner;
  }
  __host__ __device__ static size_t rows(const SelectiveScanParams& q) { return blocks(q); }
  // Whether the kThreads rows of every block of one thread per row share one chunk and sequence
  // (so one B and C row per token).
  static constexpr bool can_tile() { return true; }
  static bool block_shares_tokens(const SelectiveScanParams& q) {
    return q.d_inner % kThreads == 0;
  }
  __device__ bool has(int) const { return true; }
  __device__ size_t row(int) const { return size_t(b) * p.d_inner + e; }
  __device__ int len() const { return p.len; }
  __device__ int states() const { return p.d_state; }
  __device__ float A(int, int n) const { return __ldg(p.A + size_t(e) * p.d_state + n); }
  __device__ size_t tok(int t) const { return size_t(b) * p.len + t; }
  __device__ float delta(int, int t) const {
    return softplus_fast(__ldg(p.dt + tok(t) * p.lddt + e) + bias);
  }
  __device__ float x(int, int t) const { return __ldg(p.x + tok(t) * p.ldx + e); }
  __device__ float gate(int, int t) const {
    return p.z ? silu_fast(__ldg(p.z + tok(t) * p.ldz + e)) : 1.0f;
  }
  __device__ const float* B(int t) const { return p.B + tok(t) * p.ldbc; }
  __device__ const float* C(int t) const { return p.C + tok(t) * p.ldbc; }
  // the row's inputs of token t, for kTiled's asynchronous copies; delta and gate of the raw values
  __device__ const float* x_at(int t) const { return p.x + tok(t) * p.ldx + e; }
  __device__ const float* dt_at(int t) const { return p.dt + tok(t) * p.lddt + e; }
  __device__ const float* z_at(int t) const { return p.z + tok(t) * p.ldz + e; }
  __device__ float delta_of(float dt) const { return softplus_fast(dt + bias); }
  // where kTiled writes y of token t (f32 and bf16; null where not wanted), and y from the sum
  // over the states, x and the raw gate
  __device__ float* y_at(int t) const { return p.y32 ? p.y32 + tok(t) * p.ldy + e : nullptr; }
  __device__ __nv_bfloat16* y16_at(int t) const {
    return p.y16 ? p.y16 + tok(t) * p.d_inner + e : nullptr;
  }
  __device__ float gated(float sc, float x, float z, bool gate) const {
    return (sc + skip * x) * (gate ? silu_fast(z) : 1.0f);
  }
  __device__ void prefetch(int t, int, bool emit) const {
    prefetch_l1(p.dt + tok(t) * p.lddt + e);
    prefetch_l1(p.x + tok(t) * p.ldx + e);
    if (emit && p.z) prefetch_l1(p.z + tok(t) * p.ldz + e);
    prefetch_l1(B(t));
  }
  __device__ void out(int, int t, float sc, float x, float g) const {
    const float y = (sc + skip * x) * g;
    if (p.y32) p.y32[tok(t) * p.ldy + e] = y;
    if (p.y16) p.y16[tok(t) * p.d_inner + e] = __float2bfloat16_rn(y);
  }
};

// Mamba-2: a block is R consecutive rows i0.. of one head (b, h); one A per head; the B, C of
// the head's group.
template <int kRows>
struct Mamba2 {
  static constexpr int R = kRows;
  static constexpr bool kScalarA = true;
  const SsdParams& p;
  int b, h, i0, g;
  float bias, skip;  // dt_bias and D of the head, read once
  __device__ Mamba2(const SsdParams& q, size_t block) : p(q) {
    const int per_head = (q.head_dim + R - 1) / R;
    i0 = int(block % per_head) * R;
    h = int((block / per_head) % q.n_heads);
    b = int(block / (size_t(per_head) * q.n_heads));
    g = h / (q.n_heads / q.n_groups);
    bias = __ldg(q.dt_bias + h), skip = __ldg(q.D + h);
  }
  __host__ __device__ static size_t blocks(const SsdParams& q) {
    return size_t(q.batch) * q.n_heads * ((q.head_dim + R - 1) / R);
  }
  __host__ __device__ static size_t rows(const SsdParams& q) {
    return size_t(q.batch) * q.n_heads * q.head_dim;
  }
  static constexpr bool can_tile() { return false; }  // a block's rows may be of several groups
  __device__ bool has(int r) const { return i0 + r < p.head_dim; }
  __device__ size_t row(int r) const { return (size_t(b) * p.n_heads + h) * p.head_dim + i0 + r; }
  __device__ int len() const { return p.len; }
  __device__ int states() const { return p.d_state; }
  __device__ float A(int, int) const { return __ldg(p.A + h); }
  __device__ size_t tok(int t) const { return size_t(b) * p.len + t; }
  __device__ float delta(int, int t) const {
    float d = softplus_fast(__ldg(p.dt + tok(t) * p.lddt + h) + bias);
    return p.dt_max > 0.0f ? fminf(fmaxf(d, p.dt_min), p.dt_max) : d;
  }
  __device__ float x(int r, int t) const {
    return has(r) ? __ldg(p.x + tok(t) * p.ldx + size_t(h) * p.head_dim + i0 + r) : 0.0f;
  }
  __device__ float gate(int, int) const { return 1.0f; }
  __device__ const float* B(int t) const { return p.B + tok(t) * p.ldbc + size_t(g) * p.d_state; }
  __device__ const float* C(int t) const { return p.C + tok(t) * p.ldbc + size_t(g) * p.d_state; }
  // B and C of a head are read by all its rows and mostly hit L1 already
  __device__ void prefetch(int t, int lane, bool) const {
    if (lane == 0) prefetch_l1(p.x + tok(t) * p.ldx + size_t(h) * p.head_dim + i0);
  }
  __device__ void out(int r, int t, float sc, float x, float) const {
    p.y[tok(t) * p.ldy + size_t(h) * p.head_dim + i0 + r] = sc + skip * x;
  }
};

// Sum over the kLanes lanes of an aligned lane group (every lane of the warp takes part).
template <int kLanes>
__device__ __forceinline__ float group_sum(float v) {
#pragma unroll
  for (int o = kLanes / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Where chunk states live: for one thread per row, consecutive rows are adjacent (coalesced);
// for a warp per row, consecutive states are.
template <int kLanes>
__device__ __forceinline__ size_t state_at(int c, size_t row, int n, size_t rows, int N) {
  return kLanes == 1 ? (size_t(c) * N + n) * rows + row : (size_t(c) * rows + row) * N + n;
}

// The work item of this lane group, chunk-major so that neighbouring groups scan neighbouring
// rows of the same chunk. Groups past the end redo the last item without writing, so that
// every lane of the warp stays in the shuffles.
template <int kLanes>
struct Slot {
  size_t block;
  int chunk, sub;
  bool valid;
  __device__ Slot(size_t blocks, int chunks) {
    const size_t items = blocks * chunks;
    const size_t i = (size_t(blockIdx.x) * kThreads + threadIdx.x) / kLanes;
    sub = threadIdx.x % kLanes;
    valid = i < items;
    const size_t item = valid ? i : items - 1;
    chunk = int(item / blocks);
    block = item % blocks;
  }
};

// How a thread holding all states of a row loads B and C: kScalar one state at a time; kVec four
// at a time (rows 16-byte aligned, N a multiple of 4); kExact four at a time with N = K, so no
// state needs a bounds check; kTiled (Mamba-1 blocks whose rows share one chunk and sequence, N a
// multiple of 4 up to K, the states past N zero):
// the block copies the B and C rows and its rows' x, Δ and z of kTileTokens tokens into shared
// memory with cp.async, a tile ahead of their use. Waiting on those global loads was the largest
// stall of the scan (Nsight Compute, emit pass at the 2.8b shape), and the registers that held
// a token ahead are free.
enum LoadMode { kScalar, kVec, kExact, kTiled };
constexpr int kTileTokens = 8;
// Shared memory of a kTiled block: two tiles of B and C rows and of x, Δ and z per row.
template <int K>
constexpr int tiled_floats() {
  return 2 * kTileTokens * (2 * K + 3 * kThreads);
}

// The inputs of one token for the R rows of a block and this lane's K states, loaded a token
// ahead of their use: waiting for them each token would leave the scan latency-bound.
template <class Rows, int kLanes, int K>
struct Token {
  float d[Rows::R], x[Rows::R], g[Rows::R], b[K], c[K];
  template <int kLoad>
  __device__ void load(const Rows& r, int sub, int t, bool active, bool emit) {
#pragma unroll
    for (int j = 0; j < Rows::R; ++j) {
      d[j] = !active ? 0.0f : j == 0 || !Rows::kScalarA ? r.delta(j, t) : d[0];
      x[j] = active ? r.x(j, t) : 0.0f;
      g[j] = active && emit ? r.gate(j, t) : 1.0f;
    }
    const int N = r.states();
    if (!active || kLoad == kTiled) return;
    const float* Bt = r.B(t);
    const float* Ct = r.C(t);
    if constexpr (kLanes == 1 && K % 4 == 0 && kLoad != kScalar) {
#pragma unroll
      for (int k = 0; k < K; k += 4) {
        const bool in = kLoad == kExact || k < N;
        const float4 bv =
            in ? __ldg(reinterpret_cast<const float4*>(Bt + k)) : make_float4(0, 0, 0, 0);
        const float4 cv =
            emit && in ? __ldg(reinterpret_cast<const float4*>(Ct + k)) : make_float4(0, 0, 0, 0);
        b[k] = bv.x, b[k + 1] = bv.y, b[k + 2] = bv.z, b[k + 3] = bv.w;
        c[k] = cv.x, c[k + 1] = cv.y, c[k + 2] = cv.z, c[k + 3] = cv.w;
      }
    } else {
#pragma unroll
      for (int k = 0; k < K; ++k) {
        const int n = sub + kLanes * k;
        b[k] = n < N ? __ldg(Bt + n) : 0.0f;
        c[k] = emit && n < N ? __ldg(Ct + n) : 0.0f;
      }
    }
  }
};

}  // namespace perfmamba::cuda::scan_detail
