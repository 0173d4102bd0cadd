// The bf16 GEMMs of a batch-1 decode step (one row of activations against a weight matrix) as
// a weight-streaming GEMV. cuBLAS took 28 us for mamba-1.4b's in_proj (1.2 TB/s) on an H100,
// and its path needs two extra kernels per GEMM (activations rounded to bf16, bias fill); here
// the activations are rounded in registers, the bias is added in the epilogue, and the weights
// are read once, 16 bytes a lane, with the next loads in flight while a piece is summed.
#include <algorithm>
#include <cstdint>

#include "perfmamba/backend/cuda/common/bf16.cuh"
#include "perfmamba/backend/cuda/common/chained_launch.cuh"
#include "perfmamba/backend/cuda/common/check.hpp"
#include "perfmamba/backend/cuda/common/device_info.hpp"
#include "perfmamba/backend/cuda/common/options.hpp"
#include "perfmamba/backend/cuda/gemm/gemm.hpp"

namespace perfmamba::cuda {
namespace {
constexpr int kWarps = 8, kThreads = kWarps * 32;

struct GemvArgs {
  int m, n, k, lda, ldc;
  const void* a;  // f32, or bf16 where a_bf16
  const uint4* w;  // [n, k/8]: eight bf16 each
  const float* bias;
  float* c;
  bool accumulate;
  bool a_bf16;
  bool vec_a;  // rows of a 16-byte aligned: read 16 bytes at a time
  int ksplit;  // warps sharing one row's k range (summed through shared memory)
  bool early;  // the weights may be read before the previous kernel is waited for
};

__device__ __forceinline__ void load8(const GemvArgs& p, int m, int v, float (&x)[8]) {
  if (p.a_bf16) {  // already rounded by its producer
    const uint16_t* src = static_cast<const uint16_t*>(p.a) + size_t(m) * p.lda + size_t(v) * 8;
    if (p.vec_a) {
      const uint4 w = __ldg(reinterpret_cast<const uint4*>(src));
      x[0] = bf16_lo(w.x), x[1] = bf16_hi(w.x), x[2] = bf16_lo(w.y), x[3] = bf16_hi(w.y);
      x[4] = bf16_lo(w.z), x[5] = bf16_hi(w.z), x[6] = bf16_lo(w.w), x[7] = bf16_hi(w.w);
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) x[i] = __uint_as_float(uint32_t(__ldg(src + i)) << 16);
    }
    return;
  }
  const float* src = static_cast<const float*>(p.a) + size_t(m) * p.lda + size_t(v) * 8;
  if (p.vec_a) {
    const float4 x0 = __ldg(reinterpret_cast<const float4*>(src)),
                 x1 = __ldg(reinterpret_cast<const float4*>(src) + 1);
    x[0] = x0.x, x[1] = x0.y, x[2] = x0.z, x[3] = x0.w, x[4] = x1.x, x[5] = x1.y, x[6] = x1.z,
    x[7] = x1.w;
  } else {
#pragma unroll
    for (int i = 0; i < 8; ++i) x[i] = __ldg(src + i);
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) x[i] = round_bf16(x[i]);
}

// A team of L lanes owns one output row (32/L rows per warp); p.ksplit warps split its k range.
// M is the largest batch the instance serves; rows of a past p.m are skipped. Each lane walks
// its (row group, piece) steps with the next step's weights already loading: a block's row
// groups follow each other without a gap in the stream.
template <int M, int L, int kUnroll>  // kUnroll: 16-byte weight loads in flight per lane
__global__ void __launch_bounds__(kThreads) gemv_kernel(GemvArgs p) {
  __shared__ float partial[kWarps][32 / L][M];
  constexpr int kRowsPerWarp = 32 / L;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, team = lane / L, tl = lane % L;
  const int kpart = warp % p.ksplit, rgroup = warp / p.ksplit;
  const int rows_per_block = (kWarps / p.ksplit) * kRowsPerWarp,
            stride = gridDim.x * rows_per_block;
  const int k8 = p.k / 8, span = (k8 + p.ksplit - 1) / p.ksplit;
  const int v0 = kpart * span, v1 = min(k8, v0 + span);
  const int first = blockIdx.x * rows_per_block;
  const int pieces =
      max(1, (span + L * kUnroll - 1) / (L * kUnroll));  // per row, the same for all warps
  const int groups = first < p.n ? (p.n - first + stride - 1) / stride : 0;
  const int steps = groups * pieces;
  auto fetch = [&](int s, uint4(&w)[kUnroll]) {
    const int row = first + (s / pieces) * stride + rgroup * kRowsPerWarp + team;
    const int v = v0 + tl + (s % pieces) * L * kUnroll;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (row < p.n && v + u * L < v1)
        w[u] = __ldcs(p.w + size_t(row) * k8 + v + u * L);  // not kept in L1
  };
  uint4 cur[kUnroll], next[kUnroll];
  // Weights made before the previous kernel depend on nothing it does: the first ones load while
  // it finishes (an L2 prefetch of the block's first rows as well measured no faster). A copy
  // the previous kernel has just made is visible only after the wait.
  if (p.early && steps > 0) fetch(0, cur);
  wait_for_previous();
  if (!p.early && steps > 0) fetch(0, cur);
  let_next_start();
  float acc[M] = {};
  for (int s = 0; s < steps; ++s) {
    if (s + 1 < steps) fetch(s + 1, next);
    const int row = first + (s / pieces) * stride + rgroup * kRowsPerWarp + team;
    const int v = v0 + tl + (s % pieces) * L * kUnroll;
    if (row < p.n)
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (v + u * L >= v1) break;
#pragma unroll
        for (int m = 0; m < M; ++m) {
          if (m >= p.m) break;
          float x[8];
          load8(p, m, v + u * L, x);
          acc[m] = dot8(cur[u], x, acc[m]);
        }
      }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) cur[u] = next[u];
    if (s % pieces != pieces - 1) continue;
      // The row is complete: sum the lanes, then the warps that split it.
#pragma unroll
    for (int m = 0; m < M; ++m)
#pragma unroll
      for (int o = L / 2; o > 0; o >>= 1) acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], o);
    if (p.ksplit > 1) {
      if (tl == 0)
#pragma unroll
        for (int m = 0; m < M; ++m) partial[warp][team][m] = acc[m];
      __syncthreads();
      if (kpart == 0 && tl == 0)
        for (int q = 1; q < p.ksplit; ++q)
#pragma unroll
          for (int m = 0; m < M; ++m) acc[m] += partial[warp + q][team][m];
      __syncthreads();  // partial is written again for the next row group
    }
    if (kpart == 0 && tl == 0 && row < p.n)
#pragma unroll
      for (int m = 0; m < M; ++m) {
        if (m >= p.m) break;
        float& out = p.c[size_t(m) * p.ldc + row];
        out = (p.accumulate ? out : 0.0f) + (p.bias ? p.bias[row] : 0.0f) + acc[m];
      }
#pragma unroll
    for (int m = 0; m < M; ++m) acc[m] = 0.0f;
  }
}

template <int M, int L, int U = 4>  // 8 loads a lane measured no faster
void launch(const GemvArgs& p) {
  static const int blocks_per_sm = [] {
    int b = 0;
    PM_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, gemv_kernel<M, L, U>, kThreads, 0));
    return std::max(b, 1);
  }();
  const int sms = sm_count();
  const int rows_per_block = (kWarps / p.ksplit) * (32 / L);
  const int row_blocks = (p.n + rows_per_block - 1) / rows_per_block;
  launch_chained(gemv_kernel<M, L, U>, std::min(row_blocks, sms * blocks_per_sm), kThreads, 0,
                 "gemv_bf16", p);
}

template <int M>
void launch_m(const GemvArgs& p, int lanes) {
  if (lanes == 8) return launch<M, 8>(p);
  if (lanes == 16) return launch<M, 16>(p);
  launch<M, 32>(p);
}

}  // namespace

// One row of a (batch-1 decode). A version for 2-8 rows, reading and rounding a again for
// every weight row, was issue-bound and no faster than cuBLAS (H100, in_proj of mamba-1.4b:
// 28.3 us at 2 rows, 41.7 at 4, cuBLAS about 26), and was dropped.
bool gemv_bf16_fits(const GemmParams& p) {
  return p.m == 1 && p.k % 8 == 0 && p.k > 0;
}

void gemv_bf16(const GemmParams& p, const void* w_bf16, bool w_just_made) {
  GemvArgs g{};
  g.m = p.m, g.n = p.n, g.k = p.k, g.lda = p.lda, g.ldc = p.ldc;
  g.a = p.a.data, g.a_bf16 = p.a.is_bf16(), g.w = static_cast<const uint4*>(w_bf16),
  g.bias = p.bias, g.c = p.c, g.accumulate = p.accumulate;
  g.vec_a = p.lda % (g.a_bf16 ? 8 : 4) == 0 && reinterpret_cast<uintptr_t>(p.a.data) % 16 == 0;
  g.ksplit = 1;
  g.early = !w_just_made;
  const int k8 = p.k / 8;
  // Lanes per row: as many as the row has 16-byte pieces, up to a warp.
  const int lanes = k8 >= 32 ? 32 : k8 >= 16 ? 16 : 8;
  // Split k across warps while the grid would otherwise be too small to keep enough loads in
  // flight (about 32 warps per SM), as long as each lane keeps at least two loads.
  const int warps_wanted = 32 * sm_count();
  while (g.ksplit < kWarps && (p.n / (32 / lanes)) * g.ksplit < warps_wanted &&
         k8 / (lanes * g.ksplit * 2) >= 2)
    g.ksplit *= 2;
  launch_m<1>(g, lanes);
}

}  // namespace perfmamba::cuda
