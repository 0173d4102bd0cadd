// Selective scan (Mamba-1) and SSD in recurrent form (Mamba-2: decode and one-chunk prompts) as
// one chunked recurrence.
//
// A "row" is one scanned channel: (batch, channel) for Mamba-1, (batch, head, head-dim row) for
// Mamba-2. A lane group of kLanes lanes scans a block of R rows that share B and C; each lane
// holds K states of every row in registers, so any d_state up to 256 runs without padding in
// memory (registers round up to K per lane):
//   - d_state <= 32: one thread per row with all states (kLanes = 1). Neighbouring threads are
//     neighbouring channels, so x, Δ, z and y move in whole cache lines, B and C are one
//     broadcast per warp, and no shuffles are needed.
//   - larger d_state: a warp per block of rows, lanes owning every 32nd state, four Mamba-2
//     rows per warp sharing each load of B and C, y a shuffle reduction.
// Mamba-2's A is one scalar per head, so its decay exp(ΔA) is computed once per token, not per
// state. Inputs of the next token are loaded while the current one is computed, and the
// streams read once are prefetched into L1 kAhead tokens early: measured with Nsight Compute,
// waits on global loads were the largest stall.
//
// Too few rows to fill the GPU (batch 1) are made up for by cutting the sequence into chunks
// scanned in parallel, in three passes:
//   1. each (rows, chunk) scans from a zero state and keeps its final state and ΣΔ;
//   2. each row walks its chunks: state entering chunk c = exp(A ΣΔ_{c-1}) state_{c-1} +
//   local_{c-1};
//   3. each (rows, chunk) scans again from its true entering state and writes y.
// That doubles the arithmetic, so the chunk count is only as large as filling the GPU needs;
// when the rows alone fill it (large batch, decode), pass 3 alone runs from the inference state.
#include <cuda_bf16.h>

#include <cstdint>

#include "perfmamba/backend/cuda/async_copy.cuh"
#include "perfmamba/backend/cuda/chained_launch.cuh"
#include "perfmamba/backend/cuda/cuda_check.hpp"
#include "perfmamba/backend/cuda/device_info.hpp"
#include "perfmamba/backend/cuda/kernels.cuh"
#include "perfmamba/backend/cuda/math.cuh"
#include "perfmamba/core/tensor.hpp"

namespace perfmamba::cuda {
namespace {
constexpr int kThreads = 128;  // per block
// Tokens per chunk at least aimed at (the last chunk may be shorter): shorter chunks cost more in
// state passing than they gain. H100, one layer's scan at the 130m shape, L = 512: 32 chunks of
// 16 tokens took 0.031 ms, 16 of 32 0.036 ms; the 2.8b shape and longer sequences are unchanged
// (benchmarks.md, session 12).
constexpr int kMinChunk = 16;
// Asks L1 for the line holding q; the scan issues it kAhead tokens before the load, so that
// streams read once (x, Δ, z) arrive from DRAM while earlier tokens are computed.
__device__ __forceinline__ void prefetch_l1(const float* q) {
  asm volatile("prefetch.global.L1 [%0];" ::"l"(q));
}
constexpr int kAhead = 8;

// Mamba-1's parameters, and where y also goes rounded to bf16 ([batch * len, d_inner], optional;
// then y may be null: that copy is the only output).
struct ScanArgs : SelectiveScanParams {
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
  __device__ float* y_at(int t) const { return p.y ? p.y + tok(t) * p.ldy + e : nullptr; }
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
    if (p.y) p.y[tok(t) * p.ldy + e] = y;
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

template <class Rows, int kLanes, int K>
struct Scanner {
  static constexpr int R = Rows::R, kA = Rows::kScalarA ? 1 : R;
  const Rows& r;
  int sub;
  float a[kA][K];
  float s[R][K];

  // with_a: A log2(e) of the lane's states loaded here (emit_kernel may stage them instead)
  __device__ Scanner(const Rows& rows, int lane, bool with_a = true) : r(rows), sub(lane) {
    if (!with_a) return;
#pragma unroll
    for (int j = 0; j < kA; ++j)
#pragma unroll
      for (int k = 0; k < K; ++k) a[j][k] = n(k) < r.states() ? r.A(j, n(k)) * kLog2e : 0.0f;
  }
  // Lanes of a group own every kLanes-th state: a group's loads and stores of B, C and the
  // state are then whole sectors (owning K consecutive states instead made the decode step's
  // state stores 3x slower).
  __device__ int n(int k) const {
    return sub + kLanes * k;
  }

  // Scans `steps` positions from t0 (those at or past t1 are idle) from the state in s; writes
  // y when `emit` (and `write`). Adds ΣΔ of each row over the active tokens to dsum.
  template <int kLoad>
  __device__ void span(int t0, int t1, int steps, bool emit, bool write, float (&dsum)[R]) {
    // Two token buffers in turn rather than a copy of the next into the current one, which
    // costs a move per register every token.
    Token<Rows, kLanes, K> one, two;
    if (kLoad != kTiled) one.template load<kLoad>(r, sub, t0, t0 < t1, emit);
    if constexpr (kLoad == kTiled) {
      static_assert(R == 1 && kLanes == 1 && !Rows::kScalarA, "kTiled is Mamba-1's");
      // Every thread of the block scans the same tokens, so all reach the barriers together.
      extern __shared__ __align__(16) float tiles[];
      float* const bcs = tiles;                            // [2][kTileTokens][2K]
      float* const xs = bcs + 2 * kTileTokens * 2 * K;     // [2][kTileTokens][kThreads]
      float* const dts = xs + 2 * kTileTokens * kThreads;  // the same
      float* const zs = dts + 2 * kTileTokens * kThreads;  // the same
      const bool gate = emit && r.p.z;
      // The row's pointers to the next token to fetch and to write, moved a token at a time: a
      // 64-bit product per token and stream cost as many instructions as two states' recurrence
      // (Nsight Compute, 2.8b shape: 250 instructions per warp and token in the output pass, 80
      // of them the recurrence's).
      const float* x_next = r.x_at(t0);
      const float* dt_next = r.dt_at(t0);
      const float* z_next = gate ? r.z_at(t0) : nullptr;
      const size_t ldx = r.p.ldx, lddt = r.p.lddt, ldz = r.p.ldz, ldy = r.p.ldy,
                   ldy16 = r.p.d_inner;
      float* y_out = emit && write ? r.y_at(t0) : nullptr;
      __nv_bfloat16* y16_out = emit && write ? r.y16_at(t0) : nullptr;
      // B and C columns N..K-1 (a pruned layer's) stay zero: written once, never copied over
      const int N = r.states();
      if (N < K)
        for (int q = threadIdx.x; q < 2 * kTileTokens * 2 * (K - N); q += kThreads)
          bcs[q / (K - N) * K + N + q % (K - N)] = 0.0f;
      const auto fetch = [&](int tt, int buf) {
        constexpr int kQuads = 2 * K / 4;  // float4s of B and C per token
        for (int q = threadIdx.x; q < kTileTokens * kQuads; q += kThreads) {
          const int tok = q / kQuads, part = q % kQuads, which = part / (K / 4),
                    k = part % (K / 4) * 4;
          const int t = tt + tok;
          if (t < t1 && k < N && (which == 0 || emit))
            copy_async_bytes<16>(bcs + ((buf * kTileTokens + tok) * 2 + which) * K + k,
                                 (which ? r.C(t) : r.B(t)) + k);
        }
        for (int k = 0; k < kTileTokens && tt + k < t1; ++k) {
          const int at = (buf * kTileTokens + k) * kThreads + threadIdx.x;
          copy_async_bytes<4>(xs + at, x_next);
          copy_async_bytes<4>(dts + at, dt_next);
          x_next += ldx, dt_next += lddt;
          if (gate) copy_async_bytes<4>(zs + at, z_next), z_next += ldz;
        }
        copies_group();
      };
      fetch(t0, 0);
      for (int i = 0, buf = 0; i < steps && t0 + i < t1; i += kTileTokens, buf ^= 1) {
        const bool more = i + kTileTokens < steps && t0 + i + kTileTokens < t1;
        if (more) fetch(t0 + i + kTileTokens, buf ^ 1);  // the buffer the tile before used
        if (more)
          copies_done<1>();
        else
          copies_done<0>();
        const int m = min(kTileTokens, min(steps - i, t1 - t0 - i));
        const int at = buf * kTileTokens * kThreads + threadIdx.x;
        const float* bc = bcs + buf * kTileTokens * 2 * K;
        const auto token = [&](int k) {
          const float y =
              tiled_step(emit, dsum[0], bc + k * 2 * K, dts[at + k * kThreads],
                         xs[at + k * kThreads], gate ? zs[at + k * kThreads] : 0.0f, gate);
          if (y_out) *y_out = y, y_out += ldy;
          if (y16_out) *y16_out = __float2bfloat16_rn(y), y16_out += ldy16;
        };
        if (m == kTileTokens) {  // unrolled: the tile's addresses become constants
#pragma unroll
          for (int k = 0; k < kTileTokens; ++k) token(k);
        } else {
          for (int k = 0; k < m; ++k) token(k);
        }
        __syncthreads();  // the tile is used up before the next iteration refills its buffer
      }
    } else {
      for (int i = 0; i < steps; i += 2) {
        if (!step<kLoad>(t0 + i, t1, i + 1 < steps, emit, write, dsum, one, two)) break;
        if (i + 1 >= steps ||
            !step<kLoad>(t0 + i + 1, t1, i + 2 < steps, emit, write, dsum, two, one))
          break;
      }
    }
  }

  // Token t from `now` while `ahead` loads t + 1; false once a lone thread is past the end.
  template <int kLoad>
  __device__ bool step(int t, int t1, bool more, bool emit, bool write, float (&dsum)[R],
                       const Token<Rows, kLanes, K>& now, Token<Rows, kLanes, K>& ahead) {
    if (kLanes == 1 && t >= t1) return false;  // no shuffles to keep in step with
    const bool active = t < t1;
    if (t + kAhead < t1) r.prefetch(t + kAhead, sub, emit);
    ahead.template load<kLoad>(r, sub, t + 1, more && t + 1 < t1, emit);
    float acc[R] = {};
    if (active) {
      float decay = 0.0f;
      if (Rows::kScalarA) decay = exp2_fast(now.d[0] * a[0][0]);
#pragma unroll
      for (int j = 0; j < R; ++j) {
        dsum[j] += now.d[j];
        const float dx = now.d[j] * now.x[j];
#pragma unroll
        for (int k = 0; k < K; ++k) {
          const float e = Rows::kScalarA ? decay : exp2_fast(now.d[j] * a[kA == 1 ? 0 : j][k]);
          s[j][k] = e * s[j][k] + dx * now.b[k];
          acc[j] += s[j][k] * now.c[k];
        }
      }
    }
    if (emit) {
#pragma unroll
      for (int j = 0; j < R; ++j) {
        const float y = group_sum<kLanes>(acc[j]);
        if (active && write && sub == j % kLanes && r.has(j)) r.out(j, t, y, now.x[j], now.g[j]);
      }
    }
    return true;
  }

  // kTiled's token: B and C at bc[0..K) and bc[K..2K), the row's raw Δ, x and z; y when emitting.
  __device__ float tiled_step(bool emit, float& dsum, const float* bc, float dt, float x, float z,
                              bool gate) {
    const float d = r.delta_of(dt);
    dsum += d;
    const float dx = d * x;
    float acc = 0.0f;
#pragma unroll
    for (int k = 0; k < K; ++k) {
      s[0][k] = exp2_fast(d * a[0][k]) * s[0][k] + dx * bc[k];
      if (emit) acc += s[0][k] * bc[K + k];
    }
    return emit ? r.gated(acc, x, z, gate) : 0.0f;
  }

  __device__ void load_state(const float* src, int c, size_t rows) {
#pragma unroll
    for (int j = 0; j < R; ++j)
#pragma unroll
      for (int k = 0; k < K; ++k)
        s[j][k] = n(k) < r.states() && r.has(j)
                      ? src[state_at<kLanes>(c, r.row(j), n(k), rows, r.states())]
                      : 0.0f;
  }
  __device__ void store_state(float* dst, int c, size_t rows) const {
#pragma unroll
    for (int j = 0; j < R; ++j)
#pragma unroll
      for (int k = 0; k < K; ++k)
        if (n(k) < r.states() && r.has(j))
          dst[state_at<kLanes>(c, r.row(j), n(k), rows, r.states())] = s[j][k];
  }
};

// The inference state is [rows, N]: with one chunk the state_at layout of kLanes = 32 is it;
// for kLanes = 1 a single chunk reads it as [N, rows], so the state of one-chunk scans is
// addressed directly.
template <class Rows, int kLanes, int K>
__device__ void load_rows_state(Scanner<Rows, kLanes, K>& sc, const float* state) {
#pragma unroll
  for (int j = 0; j < Rows::R; ++j)
#pragma unroll
    for (int k = 0; k < K; ++k)
      sc.s[j][k] = sc.n(k) < sc.r.states() && sc.r.has(j)
                       ? state[sc.r.row(j) * sc.r.states() + sc.n(k)]
                       : 0.0f;
}

// Rows of n floats, consecutive in global memory (`rows` of them from src), to and from shared
// memory rows of `stride` floats, a float a thread in turn: whole lines per warp. A thread that
// owns a row and loads its n values itself makes each load of a warp 32 lines (decode at batch
// 64, mamba-1.4b: the scan step's state and A took 65 µs a layer, 515 GB/s, bound by L1
// wavefronts).
template <bool kToShared, class G>
__device__ void copy_rows(float* sh, int stride, G* global, int rows, int n) {
  int r = threadIdx.x / n, k = threadIdx.x % n;
  const int dr = kThreads / n, dk = kThreads % n;
  for (int i = threadIdx.x; i < rows * n; i += kThreads) {
    if constexpr (kToShared)
      sh[r * stride + k] = global[i];
    else
      global[i] = sh[r * stride + k];
    r += dr, k += dk;
    if (k >= n) k -= n, ++r;
  }
}
// Row stride in shared memory for K floats a row: odd, so that the 32 rows a warp reads at once
// are on 32 banks.
template <int K>
constexpr int staged_stride() {
  return K + 1;
}

// Pass 3, and the whole scan when there is one chunk (kOne: decode steps, short prompts): from
// the entering states (or the inference state), emit y; with one chunk, write the final state
// back. Two instances, so that pass 3 keeps the registers it had without the staging.
template <class Rows, int kLanes, int K, int kLoad, bool kOne, class P>
__global__ void __launch_bounds__(kThreads)
    emit_kernel(P p, const float* entering, float* state, int chunks, int chunk_len) {
  wait_for_previous();  // a no-op unless launched chained (decode steps)
  let_next_start();
  const size_t blocks = Rows::blocks(p), rows = Rows::rows(p);
  const Slot<kLanes> slot(blocks, chunks);
  const Rows r(p, slot.block);
  // Mamba-1 blocks whose rows are consecutive channels of one sequence (kTiled) stage A and the
  // state through the tiles' shared memory, free before and after the scan.
  constexpr bool kStaged = kOne && kLoad == kTiled;
  Scanner<Rows, kLanes, K> sc(r, slot.sub, !kStaged);
  constexpr int S = staged_stride<K>();
  extern __shared__ __align__(16) float staging[];
  const size_t row0 = size_t(blockIdx.x) * kThreads;  // with one chunk, the block's first row
  const int block_rows = int(min(size_t(kThreads), blocks - min(blocks, row0)));
  if constexpr (kStaged) {
    static_assert(kLanes == 1 && Rows::R == 1 && kThreads * S <= tiled_floats<K>(), "Mamba-1's");
    const int N = r.states();
    // row `threadIdx.x` of the staged rows, k < N (zero past it), times `scale`
    const auto staged = [&](int k, float scale) {
      return k < N ? staging[threadIdx.x * S + k] * scale : 0.0f;
    };
    copy_rows<true>(staging, S, p.A + size_t(row0 % p.d_inner) * N, block_rows, N);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < K; ++k) sc.a[0][k] = staged(k, kLog2e);
    __syncthreads();
    copy_rows<true>(staging, S, state + row0 * N, block_rows, N);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < K; ++k) sc.s[0][k] = staged(k, 1.0f);
    __syncthreads();  // the tiles are filled next
  } else {
    if constexpr (kOne)
      load_rows_state(sc, state);
    else
      sc.load_state(entering, slot.chunk, rows);
  }
  float dsum[Rows::R] = {};
  const int t0 = kOne ? 0 : slot.chunk * chunk_len,
            t1 = kOne ? r.len() : min(r.len(), t0 + chunk_len);
  sc.template span<kLoad>(t0, t1, kOne ? r.len() : chunk_len, true, slot.valid, dsum);
  if constexpr (kStaged) {  // the span ended on a barrier: the tiles are free
#pragma unroll
    for (int k = 0; k < K; ++k) staging[threadIdx.x * S + k] = sc.s[0][k];
    __syncthreads();
    copy_rows<false>(staging, S, state + row0 * r.states(), block_rows, r.states());
  } else if (kOne && slot.valid) {
#pragma unroll
    for (int j = 0; j < Rows::R; ++j)
#pragma unroll
      for (int k = 0; k < K; ++k)
        if (sc.n(k) < r.states() && r.has(j)) state[r.row(j) * r.states() + sc.n(k)] = sc.s[j][k];
  }
}

// Pass 1: local final states from zero, and ΣΔ per (row, chunk).
template <class Rows, int kLanes, int K, int kLoad, class P>
__global__ void __launch_bounds__(kThreads)
    local_kernel(P p, float* local, float* dsum, int chunks, int chunk_len) {
  wait_for_previous();  // the three passes are chained: each launches while the one before ends
  let_next_start();
  const size_t blocks = Rows::blocks(p), rows = Rows::rows(p);
  const Slot<kLanes> slot(blocks, chunks);
  const Rows r(p, slot.block);
  Scanner<Rows, kLanes, K> sc(r, slot.sub);
#pragma unroll
  for (int j = 0; j < Rows::R; ++j)
#pragma unroll
    for (int k = 0; k < K; ++k) sc.s[j][k] = 0.0f;
  float ds[Rows::R] = {};
  const int t0 = slot.chunk * chunk_len;
  sc.template span<kLoad>(t0, min(r.len(), t0 + chunk_len), chunk_len, false, false, ds);
  if (!slot.valid) return;
  sc.store_state(local, slot.chunk, rows);
  if (slot.sub == 0)
#pragma unroll
    for (int j = 0; j < Rows::R; ++j)
      if (r.has(j)) dsum[size_t(slot.chunk) * rows + r.row(j)] = ds[j];
}

// Pass 2: states entering each chunk, from the inference state; the final one goes back to it.
// One thread per (row, state): the walk over chunks is short and needs no neighbours. The
// buffers are distinct (__restrict__), so the loads of later chunks need not wait for the store
// of each entering state: without it, a walk over 17 chunks was 17 round trips to memory.
template <class Rows, int kLanes, int K, class P>
__global__ void propagate_kernel(P p, float* __restrict__ state, const float* __restrict__ local,
                                 const float* __restrict__ dsum, float* __restrict__ entering,
                                 int chunks) {
  wait_for_previous();
  let_next_start();
  const size_t rows = Rows::rows(p);
  const int N = p.d_state;
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * N) return;
  const size_t row = kLanes == 1 ? i % rows : i / N;
  const int n = kLanes == 1 ? int(i / rows) : int(i % N);
  // the row's A: Mamba-1 has one per (channel, state), Mamba-2 one per head
  float a;
  if constexpr (Rows::kScalarA)
    a = p.A[(row / p.head_dim) % p.n_heads];
  else
    a = p.A[(row % p.d_inner) * N + n];
  float s = state[row * N + n];
#pragma unroll 4
  for (int c = 0; c < chunks; ++c) {
    const size_t at = state_at<kLanes>(c, row, n, rows, N);
    entering[at] = s;
    s = __expf(dsum[size_t(c) * rows + row] * a) * s + local[at];
  }
  state[row * N + n] = s;
}

unsigned grid_for(size_t threads) {
  return unsigned((threads + kThreads - 1) / kThreads);
}

template <class Rows, int kLanes, int K, int kLoad, class P>
void run_scan_as(const P& p, float* state) {
  const size_t blocks = Rows::blocks(p), rows = Rows::rows(p);
  const int len = p.len, N = p.d_state;
  constexpr size_t smem = kLoad == kTiled ? tiled_floats<K>() * sizeof(float) : 0;
  // Chunks scanned in parallel: as many as make one pass's blocks one full wave (the blocks
  // resident at once, from the kernel's occupancy). For the 2.8b shape at L = 2048, 16 chunks
  // (0.97 waves) took 0.27 ms and 17 (1.03 waves) 0.33 ms; more chunks only add state passing.
  static const int resident = [] {
    int n = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(
            &n, emit_kernel<Rows, kLanes, K, kLoad, false, P>, kThreads, smem) != cudaSuccess) {
      cudaGetLastError();  // not to be reported later under another kernel's name
      n = 1;
    }
    return std::max(n, 1);
  }();
  const size_t wave = size_t(resident) * sm_count(), per_chunk = grid_for(blocks * kLanes);
  int chunks = int(std::min<size_t>(wave / per_chunk, size_t((len + kMinChunk - 1) / kMinChunk)));
  chunks = std::max(chunks, 1);
  int chunk_len = len;
  if (chunks > 1) {
    chunk_len = (len + chunks - 1) / chunks;
    chunk_len = (chunk_len + 7) / 8 * 8;
    chunks = (len + chunk_len - 1) / chunk_len;
  }
  if (chunks == 1) {
    launch_chained(emit_kernel<Rows, kLanes, K, kLoad, true, P>, grid_for(blocks * kLanes),
                   kThreads, smem, "scan", p, static_cast<const float*>(nullptr), state, 1, len);
    return;
  }
  const int64_t n_states = int64_t(rows) * chunks * N;
  Tensor local = Tensor::empty({n_states}, DType::F32, Device::CUDA);
  Tensor entering = Tensor::empty({n_states}, DType::F32, Device::CUDA);
  Tensor dsum = Tensor::empty({int64_t(rows) * chunks}, DType::F32, Device::CUDA);
  const unsigned grid = grid_for(blocks * chunks * kLanes);
  launch_chained(local_kernel<Rows, kLanes, K, kLoad, P>, grid, kThreads, smem,
                 "scan: chunk states", p, local.f32(), dsum.f32(), chunks, chunk_len);
  launch_chained(propagate_kernel<Rows, kLanes, K, P>, grid_for(rows * N), kThreads, 0,
                 "scan: state passing", p, state, static_cast<const float*>(local.f32()),
                 static_cast<const float*>(dsum.f32()), entering.f32(), chunks);
  launch_chained(emit_kernel<Rows, kLanes, K, kLoad, false, P>, grid, kThreads, smem,
                 "scan: chunk outputs", p, static_cast<const float*>(entering.f32()),
                 static_cast<float*>(nullptr), chunks, chunk_len);
}

template <class Rows, int kLanes, int K, class P>
void run_scan(const P& p, float* state) {
  if constexpr (kLanes == 1 && K % 4 == 0) {
    const auto aligned = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
    const bool vec = aligned(p.B) && aligned(p.C) && p.ldbc % 4 == 0 && p.d_state % 4 == 0;
    if constexpr (Rows::can_tile())
      if (vec && Rows::block_shares_tokens(p))  // N <= K: pruned layers too
        return run_scan_as<Rows, kLanes, K, kTiled>(p, state);
    if (vec && p.d_state == K) return run_scan_as<Rows, kLanes, K, kExact>(p, state);
    if (vec) return run_scan_as<Rows, kLanes, K, kVec>(p, state);
  }
  run_scan_as<Rows, kLanes, K, kScalar>(p, state);
}

// Lanes per block of rows and states per lane: up to 32 states, one thread per row holds them
// all; beyond, a warp per block of rows, so that each load and store of the state is one whole
// 128-byte line (groups of 4-16 lanes with 16 states each measured 1.4x slower at decode).
template <class Rows1, class RowsWide, class P>
void dispatch(const P& p, float* state) {
  if (p.batch == 0 || p.len == 0 || Rows1::rows(p) == 0) return;
  const int N = p.d_state;
  if (N < 1) throw Error("cuda", "d_state", "must be at least 1");
  if (N <= 4)
    run_scan<Rows1, 1, 4>(p, state);
  else if (N <= 8)
    run_scan<Rows1, 1, 8>(p, state);
  else if (N <= 12)  // 12 and 24: state-pruned layers of 16 and 32 states cost what they keep
    run_scan<Rows1, 1, 12>(p, state);
  else if (N <= 16)
    run_scan<Rows1, 1, 16>(p, state);
  else if (N <= 24)
    run_scan<Rows1, 1, 24>(p, state);
  else if (N <= 32)
    run_scan<Rows1, 1, 32>(p, state);
  else if (N <= 64)
    run_scan<RowsWide, 32, 2>(p, state);
  else if (N <= 128)
    run_scan<RowsWide, 32, 4>(p, state);
  else if (N <= 256)
    run_scan<RowsWide, 32, 8>(p, state);
  else
    throw Error("cuda", "d_state", std::to_string(N) + " is above the 256 the CUDA scans support");
}
}  // namespace

void selective_scan(const SelectiveScanParams& p, void* y_bf16) {
  ScanArgs args;
  static_cast<SelectiveScanParams&>(args) = p;
  args.y16 = static_cast<__nv_bfloat16*>(y_bf16);
  dispatch<Mamba1, Mamba1>(args, args.ssm_state);
}

void ssd_recurrent(const SsdParams& p) {
  if (p.len == 1 && ssd_token_step(p)) return;
  dispatch<Mamba2<1>, Mamba2<4>>(p, p.ssm_state);
}

}  // namespace perfmamba::cuda
