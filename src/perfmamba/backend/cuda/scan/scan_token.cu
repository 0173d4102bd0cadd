// Mamba-1's selective scan for one token per sequence: the decode step at batch > 1 (batch 1
// runs inside the one-kernel layer step). Nearly all of its bytes are the f32 state, [d_inner,
// d_state] per sequence, read and written once: 21 MB a layer at batch 64 of mamba-2.8b. The
// chunked scan (scan.cu) gives a thread a whole row and staged the state through shared memory;
// it moved the state at about half the copy bandwidth there (Nsight Compute: 30 µs a layer, 848
// GB/s). Here neighbouring lanes take neighbouring 16-byte quads of a row, so a warp's loads are
// whole lines, each thread has several rows in flight before it computes any, and a row's sum with
// C is a shuffle sum over its lanes (as ssd_token.cu does for Mamba-2).
#include <cuda_bf16.h>

#include <cstdint>

#include "perfmamba/backend/cuda/common/chained_launch.cuh"
#include "perfmamba/backend/cuda/common/math.cuh"
#include "perfmamba/backend/cuda/scan/scan.hpp"

namespace perfmamba::cuda {
namespace {
constexpr int kThreads = 256;
constexpr int kRowsAhead = 4;  // rows of a thread whose state loads go out together

__device__ __forceinline__ float segment_sum(float v, int lanes) {
  for (int o = lanes / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// One state quad a token on: s = exp(Δ A) s + Δ x B; returns the quad's part of y (s · C).
__device__ __forceinline__ float step_quad(float4& s, float4 a, float dl, float dx, float4 b,
                                           float4 c) {
  const float k = dl * kLog2e;
  s.x = fmaf(exp2_fast(k * a.x), s.x, dx * b.x);
  s.y = fmaf(exp2_fast(k * a.y), s.y, dx * b.y);
  s.z = fmaf(exp2_fast(k * a.z), s.z, dx * b.z);
  s.w = fmaf(exp2_fast(k * a.w), s.w, dx * b.w);
  return fmaf(s.w, c.w, fmaf(s.z, c.z, fmaf(s.y, c.y, s.x * c.x)));
}

// Block (run of rows, sequence): the grid's x covers d_inner in runs of kRowsAhead * kThreads /
// lanes channels, y the sequences. A row's Q = d_state / 4 quads go to `lanes` neighbouring
// lanes (Q rounded up to a power of two, at most 32).
__global__ void __launch_bounds__(kThreads) scan_token_kernel(const SelectiveScanParams p,
                                                              float* y32, __nv_bfloat16* y16,
                                                              int lanes) {
  wait_for_previous();
  let_next_start();
  const int E = p.d_inner, Q = p.d_state / 4, b = int(blockIdx.y);
  const int lane_q = int(threadIdx.x) % lanes, slot = int(threadIdx.x) / lanes,
            per_pass = kThreads / lanes;
  const bool mine = lane_q < Q;
  const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  const auto* Bq = reinterpret_cast<const float4*>(p.B + size_t(b) * p.ldbc);
  const auto* Cq = reinterpret_cast<const float4*>(p.C + size_t(b) * p.ldbc);
  const float4 bq = mine ? __ldg(Bq + lane_q) : zero, cq = mine ? __ldg(Cq + lane_q) : zero;
  auto* state = reinterpret_cast<float4*>(p.ssm_state) + size_t(b) * E * Q;
  const auto* A = reinterpret_cast<const float4*>(p.A);
  const int first = int(blockIdx.x) * kRowsAhead * per_pass;

  float4 s[kRowsAhead], a[kRowsAhead];
  float xv[kRowsAhead], dv[kRowsAhead];
#pragma unroll
  for (int j = 0; j < kRowsAhead; ++j) {
    const int e = first + slot + j * per_pass;
    const bool live = e < E && mine;
    s[j] = live ? __ldcs(state + size_t(e) * Q + lane_q) : zero;  // read once a step
    a[j] = live ? __ldg(A + size_t(e) * Q + lane_q) : zero;
    xv[j] = e < E ? __ldg(p.x + size_t(b) * p.ldx + e) : 0.0f;
    dv[j] = e < E ? softplus_fast(__ldg(p.dt + size_t(b) * p.lddt + e) + __ldg(p.dt_bias + e))
                  : 0.0f;
  }
#pragma unroll
  for (int j = 0; j < kRowsAhead; ++j) {
    const int e = first + slot + j * per_pass;
    float acc = step_quad(s[j], a[j], dv[j], dv[j] * xv[j], bq, cq);
    if (e < E && mine) __stcs(state + size_t(e) * Q + lane_q, s[j]);
    acc = segment_sum(acc, lanes);
    if (lane_q != 0 || e >= E) continue;
    float yv = acc + __ldg(p.D + e) * xv[j];
    if (p.z) yv *= silu_fast(__ldg(p.z + size_t(b) * p.ldz + e));
    if (y32) y32[size_t(b) * p.ldy + e] = yv;
    if (y16) y16[size_t(b) * E + e] = __float2bfloat16_rn(yv);
  }
}

bool aligned16(const void* q) {
  return reinterpret_cast<uintptr_t>(q) % 16 == 0;
}
}  // namespace

bool scan_token_step(const SelectiveScanParams& p) {
  const int N = p.d_state, Q = N / 4;
  if (p.len != 1 || N % 4 != 0 || Q < 1 || Q > 32 || p.ldbc % 4 != 0 || !aligned16(p.B) ||
      !aligned16(p.C) || !aligned16(p.A) || !aligned16(p.ssm_state))
    return false;
  if (p.batch == 0 || p.d_inner == 0) return true;
  int lanes = 1;
  while (lanes < Q) lanes *= 2;
  const int rows_per_block = kRowsAhead * (kThreads / lanes);
  const dim3 grid(unsigned((p.d_inner + rows_per_block - 1) / rows_per_block), unsigned(p.batch));
  float* y32 = p.y.is_bf16() ? nullptr : p.y.f32();
  auto* y16 = p.y.is_bf16() ? static_cast<__nv_bfloat16*>(p.y.data) : nullptr;
  launch_chained(scan_token_kernel, grid, dim3(kThreads), 0, "scan token step", p, y32, y16, lanes);
  return true;
}

}  // namespace perfmamba::cuda
