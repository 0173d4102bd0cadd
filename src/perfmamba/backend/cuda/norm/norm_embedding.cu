// Row-wise ops: residual add + RMSNorm, Mamba-2's gated group RMSNorm and the embedding gather.
// One block per row (or row group).
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "perfmamba/backend/cuda/common/bf16.cuh"
#include "perfmamba/backend/cuda/common/chained_launch.cuh"
#include "perfmamba/backend/cuda/common/check.hpp"
#include "perfmamba/backend/cuda/norm/norm.hpp"
#include "perfmamba/backend/cuda/common/math.cuh"

namespace perfmamba::cuda {
namespace {
constexpr int kThreads = 256;

// The norms keep their row in registers (kPer values a thread, all loads issued at once): a
// decode step has one row per sequence, and a loop of dependent passes over it cost 5-9 us.
// The output goes to out32 (f32) or out16 (bf16, packed [rows, cols]): p.out's type.
template <int kPer>
__global__ void __launch_bounds__(1024)
    add_rmsnorm_kernel(AddRmsNormParams p, float* out32, __nv_bfloat16* out16) {
  wait_for_previous();
  let_next_start();
  float* __restrict__ h = p.residual + size_t(blockIdx.x) * p.cols;
  const float* __restrict__ d = p.delta ? p.delta + size_t(blockIdx.x) * p.cols : nullptr;
  float v[kPer];
  float ss = 0.0f;
#pragma unroll
  for (int j = 0; j < kPer; ++j) {
    const int i = threadIdx.x + j * blockDim.x;
    v[j] = i < p.cols ? h[i] + (d ? d[i] : 0.0f) : 0.0f;
    ss += v[j] * v[j];
  }
  if (d)
#pragma unroll
    for (int j = 0; j < kPer; ++j) {
      const int i = threadIdx.x + j * blockDim.x;
      if (i < p.cols) h[i] = v[j];
    }
  const float scale = rsqrtf(block_sum(ss) / float(p.cols) + p.eps);
  float* __restrict__ o = out32 ? out32 + size_t(blockIdx.x) * p.cols : nullptr;
  __nv_bfloat16* __restrict__ o16 = out16 ? out16 + size_t(blockIdx.x) * p.cols : nullptr;
#pragma unroll
  for (int j = 0; j < kPer; ++j) {
    const int i = threadIdx.x + j * blockDim.x;
    if (i >= p.cols) continue;
    const float out = p.weight[i] * (v[j] * scale);
    if (o) o[i] = out;
    if (o16) o16[i] = __float2bfloat16_rn(out);
  }
}

// V = 4: rows, group offsets and leading dimensions are 16-byte aligned, and each thread loads
// its kPer values as float4s (the scalar loads of V = 1 kept the DRAM at 41 % for Mamba-2 2.7b
// prefill rows).
template <int kPer, int V>
__global__ void __launch_bounds__(1024)
    gated_rmsnorm_kernel(GatedRmsNormParams p, float* out32, __nv_bfloat16* out16) {
  static_assert(kPer % V == 0);
  wait_for_previous();
  let_next_start();
  const size_t r = blockIdx.x, c0 = size_t(blockIdx.y) * p.group_size;
  const float* __restrict__ y = p.y + r * p.ldy + c0;
  const float* __restrict__ z = p.z + r * p.ldz + c0;
  float v[kPer];
  float ss = 0.0f;
#pragma unroll
  for (int j = 0; j < kPer / V; ++j) {
    const int i = (threadIdx.x + j * blockDim.x) * V;
    float yv[V] = {}, zv[V] = {};
    if (i < p.group_size) {
      if constexpr (V == 4) {
        const float4 a = *reinterpret_cast<const float4*>(y + i),
                     g = *reinterpret_cast<const float4*>(z + i);
        yv[0] = a.x, yv[1] = a.y, yv[2] = a.z, yv[3] = a.w, zv[0] = g.x, zv[1] = g.y, zv[2] = g.z,
        zv[3] = g.w;
      } else {
        yv[0] = y[i], zv[0] = z[i];
      }
    }
#pragma unroll
    for (int k = 0; k < V; ++k) {
      v[j * V + k] = i < p.group_size ? yv[k] * silu(zv[k]) : 0.0f;
      ss += v[j * V + k] * v[j * V + k];
    }
  }
  const float scale = rsqrtf(block_sum(ss) / float(p.group_size) + p.eps);
  float* __restrict__ o = out32 ? out32 + r * p.ldo + c0 : nullptr;
  __nv_bfloat16* __restrict__ o16 = out16 ? out16 + r * p.cols + c0 : nullptr;
  const float* __restrict__ w = p.weight + c0;
#pragma unroll
  for (int j = 0; j < kPer / V; ++j) {
    const int i = (threadIdx.x + j * blockDim.x) * V;
    if (i >= p.group_size) continue;
    if constexpr (V == 4) {
      const float4 g = *reinterpret_cast<const float4*>(w + i);
      const float4 out = make_float4(g.x * (v[j * V] * scale), g.y * (v[j * V + 1] * scale),
                                     g.z * (v[j * V + 2] * scale), g.w * (v[j * V + 3] * scale));
      if (o) *reinterpret_cast<float4*>(o + i) = out;
      if (o16) store_bf16x4(o16 + i, out.x, out.y, out.z, out.w);
    } else {
      const float out = w[i] * (v[j] * scale);
      if (o) o[i] = out;
      if (o16) o16[i] = __float2bfloat16_rn(out);
    }
  }
}

// Threads for a row of `cols` held kPer a thread: whole warps, at most 1024.
template <int kPer>
unsigned row_threads(int cols) {
  return unsigned(std::min(1024, ((cols + kPer - 1) / kPer + 31) / 32 * 32));
}

// Launches kernel<8> or, for rows over 8192, kernel<32>; beyond 32768 values a row is refused.
template <class... Args>
void launch_row_kernel(void (*narrow)(Args...), void (*wide)(Args...), dim3 grid, int cols,
                       const char* what, const Args&... args) {
  if (cols <= 1024 * 8) return launch_chained(narrow, grid, row_threads<8>(cols), 0, what, args...);
  if (cols <= 1024 * 32) return launch_chained(wide, grid, row_threads<32>(cols), 0, what, args...);
  throw Error(
      "cuda", what,
      "rows of " + std::to_string(cols) + " values are above the 32768 the CUDA norms support");
}

__global__ void embedding_kernel(EmbeddingParams p) {
  wait_for_previous();
  let_next_start();
  const float* src = p.table + size_t(p.ids[blockIdx.x]) * p.dim;
  float* dst = p.out + size_t(blockIdx.x) * p.dim;
  for (int i = threadIdx.x; i < p.dim; i += blockDim.x) dst[i] = src[i];
}

}  // namespace

void add_rmsnorm(const AddRmsNormParams& p) {
  if (p.rows == 0) return;
  float* out32 = p.out.is_bf16() ? nullptr : p.out.f32();
  auto* out16 = p.out.is_bf16() ? static_cast<__nv_bfloat16*>(p.out.data) : nullptr;
  launch_row_kernel(add_rmsnorm_kernel<8>, add_rmsnorm_kernel<32>, dim3(p.rows), p.cols,
                    "add_rmsnorm", p, out32, out16);
}

void gated_rmsnorm(const GatedRmsNormParams& p) {
  if (p.rows == 0) return;
  if (p.out.is_bf16())
    require(p.ldo == p.cols, "cuda", "gated_rmsnorm", "a bf16 output is packed (ldo = cols)");
  float* out32 = p.out.is_bf16() ? nullptr : p.out.f32();
  auto* out16 = p.out.is_bf16() ? static_cast<__nv_bfloat16*>(p.out.data) : nullptr;
  const auto aligned = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
  const bool vec = p.group_size % 4 == 0 && p.ldy % 4 == 0 && p.ldz % 4 == 0 && p.ldo % 4 == 0 &&
                   aligned(p.y) && aligned(p.z) && aligned(out32) && aligned(p.weight) &&
                   aligned(out16);
  const dim3 grid(p.rows, p.cols / p.group_size);
  if (vec)
    launch_row_kernel(gated_rmsnorm_kernel<8, 4>, gated_rmsnorm_kernel<32, 4>, grid, p.group_size,
                      "gated_rmsnorm", p, out32, out16);
  else
    launch_row_kernel(gated_rmsnorm_kernel<8, 1>, gated_rmsnorm_kernel<32, 1>, grid, p.group_size,
                      "gated_rmsnorm", p, out32, out16);
}

void embedding(const EmbeddingParams& p) {
  if (p.tokens == 0) return;
  launch_chained(embedding_kernel, p.tokens, kThreads, 0, "embedding", p);
}

}  // namespace perfmamba::cuda
