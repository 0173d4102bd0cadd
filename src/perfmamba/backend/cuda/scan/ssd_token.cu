// The Mamba-2 SSD for one token per sequence: the decode step at batch > 1 (batch 1 runs inside
// the one-kernel layer step). Nearly all of its bytes are the f32 state, [head_dim, d_state] per
// (sequence, head), read and written once; at batch 64 of mamba2-1.3b that is 268 MB a layer.
// The recurrent scan (scan.cu) gave each lane every 32nd state of four rows as scalar loads and
// moved the state at 54 % of the copy bandwidth there (8.4 of an 11.5 ms step). Here a block is
// one (sequence, head) whose state is one contiguous run of 16-byte quads: neighbouring lanes take
// neighbouring quads of a row (whole lines a warp), each thread has several rows' quads in flight
// before it computes any, and a row's sum with C is a shuffle sum over its lanes.
#include <cstdint>

#include "perfmamba/backend/cuda/common/chained_launch.cuh"
#include "perfmamba/backend/cuda/scan/scan.hpp"
#include "perfmamba/backend/cuda/common/math.cuh"

namespace perfmamba::cuda {
namespace {
constexpr int kThreads = 256;
constexpr int kRowsAhead = 4;  // rows of a thread whose state loads go out together

// Sum over the `lanes` lanes (a power of two up to 32) of an aligned group; every lane of the
// warp takes part.
__device__ __forceinline__ float segment_sum(float v, int lanes) {
  for (int o = lanes / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float4 decay_add(float4 s, float decay, float dx, float4 b) {
  return make_float4(fmaf(decay, s.x, dx * b.x), fmaf(decay, s.y, dx * b.y),
                     fmaf(decay, s.z, dx * b.z), fmaf(decay, s.w, dx * b.w));
}
__device__ __forceinline__ float dot4(float4 a, float4 b, float acc) {
  return fmaf(a.w, b.w, fmaf(a.z, b.z, fmaf(a.y, b.y, fmaf(a.x, b.x, acc))));
}

// A block per (sequence, head). A row's Q = d_state / 4 quads go to `lanes` neighbouring lanes
// (Q rounded up to a power of two, at most 32), each lane taking kQuads of them (two where Q is
// 33-64, d_state up to 256); a block pass covers kThreads / lanes rows. Inputs as ssd_recurrent
// takes them with len = 1, so token = sequence.
template <int kQuads>
__global__ void __launch_bounds__(kThreads) ssd_token_kernel(const SsdParams p, int lanes) {
  wait_for_previous();  // a no-op unless launched chained (decode steps)
  let_next_start();
  const int H = p.n_heads, P = p.head_dim, N = p.d_state, Q = N / 4;
  const int b = int(blockIdx.x / unsigned(H)), h = int(blockIdx.x % unsigned(H));
  const int g = h / (H / p.n_groups);
  const int lane_q = int(threadIdx.x) % lanes, slot = int(threadIdx.x) / lanes,
            per_pass = kThreads / lanes;

  float d = softplus_fast(__ldg(p.dt + size_t(b) * p.lddt + h) + __ldg(p.dt_bias + h));
  if (p.dt_max > 0.0f) d = fminf(fmaxf(d, p.dt_min), p.dt_max);
  const float decay = exp2_fast(d * __ldg(p.A + h) * kLog2e), skip = __ldg(p.D + h);

  // This lane's quads of B and C: the same for every row it takes.
  const float4* Bq = reinterpret_cast<const float4*>(p.B + size_t(b) * p.ldbc + size_t(g) * N);
  const float4* Cq = reinterpret_cast<const float4*>(p.C + size_t(b) * p.ldbc + size_t(g) * N);
  const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  float4 bq[kQuads], cq[kQuads];
  bool mine[kQuads];
#pragma unroll
  for (int v = 0; v < kQuads; ++v) {
    const int k = lane_q + v * lanes;
    mine[v] = k < Q;
    bq[v] = mine[v] ? __ldg(Bq + k) : zero;
    cq[v] = mine[v] ? __ldg(Cq + k) : zero;
  }

  float4* state = reinterpret_cast<float4*>(p.ssm_state) + (size_t(b) * H + h) * P * Q;
  const float* x = p.x + size_t(b) * p.ldx + size_t(h) * P;
  float* y = p.y + size_t(b) * p.ldy + size_t(h) * P;
  // Passes in step across the block, so that a warp's lanes meet every shuffle together.
  for (int base = 0; base < P; base += kRowsAhead * per_pass) {
    float4 s[kRowsAhead][kQuads];
    float xv[kRowsAhead];
#pragma unroll
    for (int j = 0; j < kRowsAhead; ++j) {
      const int row = base + slot + j * per_pass;
#pragma unroll
      for (int v = 0; v < kQuads; ++v)  // read once a step: first to leave the caches
        s[j][v] = row < P && mine[v] ? __ldcs(state + size_t(row) * Q + lane_q + v * lanes) : zero;
      xv[j] = row < P ? __ldg(x + row) : 0.0f;
    }
#pragma unroll
    for (int j = 0; j < kRowsAhead; ++j) {
      const int row = base + slot + j * per_pass;
      const float dx = d * xv[j];
      float acc = 0.0f;
#pragma unroll
      for (int v = 0; v < kQuads; ++v) {
        s[j][v] = decay_add(s[j][v], decay, dx, bq[v]);
        acc = dot4(s[j][v], cq[v], acc);
        if (row < P && mine[v]) __stcs(state + size_t(row) * Q + lane_q + v * lanes, s[j][v]);
      }
      acc = segment_sum(acc, lanes);
      if (lane_q == 0 && row < P) y[row] = acc + skip * xv[j];
    }
  }
}

bool aligned16(const void* q) {
  return reinterpret_cast<uintptr_t>(q) % 16 == 0;
}
}  // namespace

bool ssd_token_step(const SsdParams& p) {
  const int N = p.d_state, Q = N / 4;
  if (p.len != 1 || N % 4 != 0 || Q < 1 || Q > 64 || p.n_groups < 1 ||
      p.n_heads % p.n_groups != 0 || p.ldbc % 4 != 0 || !aligned16(p.B) || !aligned16(p.C) ||
      !aligned16(p.ssm_state))
    return false;
  if (p.batch == 0 || p.n_heads == 0 || p.head_dim == 0) return true;
  int lanes = 1;
  while (lanes < Q && lanes < 32) lanes *= 2;
  const unsigned grid = unsigned(p.batch) * unsigned(p.n_heads);
  if (Q <= 32)
    launch_chained(ssd_token_kernel<1>, grid, kThreads, 0, "ssd token step", p, lanes);
  else
    launch_chained(ssd_token_kernel<2>, grid, kThreads, 0, "ssd token step", p, lanes);
  return true;
}

}  // namespace perfmamba::cuda
