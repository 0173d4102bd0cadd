#pragma once
// A lane group scanning its block of rows over a span of tokens, states in registers (scan.cu
// says how it works).
#include "perfmamba/backend/cuda/scan/scan_rows.cuh"

namespace perfmamba::cuda::scan_detail {

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

}  // namespace perfmamba::cuda::scan_detail
