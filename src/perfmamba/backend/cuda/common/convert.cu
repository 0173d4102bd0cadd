// f32 -> bf16 for the bf16 GEMM path (weights once, GEMM inputs per call).
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>

#include "perfmamba/backend/cuda/common/bf16.cuh"
#include "perfmamba/backend/cuda/common/check.hpp"
#include "perfmamba/backend/cuda/common/convert.hpp"

namespace perfmamba::cuda {
namespace {
constexpr int kThreads = 256;

// Rows in y (a grid-stride loop: there may be more than a grid's 65535), V columns a thread in x;
// V = 4 when the rows are 16-byte aligned, so each thread loads a float4 and stores 8 bytes.
template <int V>
__global__ void to_bf16_kernel(const float* __restrict__ src, __nv_bfloat16* __restrict__ dst,
                               int64_t rows, int64_t cols, int64_t ld) {
  const int64_t groups = cols / V;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y)
    for (int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; g < groups;
         g += int64_t(gridDim.x) * blockDim.x) {
      const float* in = src + r * ld + g * V;
      __nv_bfloat16* out = dst + r * cols + g * V;
      if constexpr (V == 4) {
        const float4 v = *reinterpret_cast<const float4*>(in);
        store_bf16x4(out, v.x, v.y, v.z, v.w);
      } else {
        *out = __float2bfloat16_rn(*in);
      }
    }
}
// 32 x 32 tiles through shared memory, so that both the reads and the writes are whole rows.
__global__ void to_bf16_transposed_kernel(const float* src, __nv_bfloat16* dst, int64_t rows,
                                          int64_t cols) {
  __shared__ float tile[32][33];
  const int64_t r0 = int64_t(blockIdx.y) * 32, c0 = int64_t(blockIdx.x) * 32;
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int64_t r = r0 + i, c = c0 + threadIdx.x;
    if (r < rows && c < cols) tile[i][threadIdx.x] = src[r * cols + c];
  }
  __syncthreads();
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int64_t c = c0 + i, r = r0 + threadIdx.x;
    if (r < rows && c < cols) dst[c * rows + r] = __float2bfloat16_rn(tile[threadIdx.x][i]);
  }
}
}  // namespace

void to_bf16_transposed(const float* src, void* dst, int64_t rows, int64_t cols) {
  if (!rows || !cols) return;
  const dim3 grid(unsigned((cols + 31) / 32), unsigned((rows + 31) / 32));
  to_bf16_transposed_kernel<<<grid, dim3(32, 8)>>>(src, static_cast<__nv_bfloat16*>(dst), rows,
                                                   cols);
  check_launch("to_bf16_transposed");
}

void to_bf16(const float* src, void* dst, int64_t rows, int64_t cols, int64_t ld) {
  if (!rows || !cols) return;
  const auto aligned = [](const void* q, int bytes) {
    return reinterpret_cast<uintptr_t>(q) % bytes == 0;
  };
  const bool vec = cols % 4 == 0 && ld % 4 == 0 && aligned(src, 16) && aligned(dst, 8);
  const int64_t groups = vec ? cols / 4 : cols;
  const dim3 grid(unsigned(std::min<int64_t>((groups + kThreads - 1) / kThreads, 65535)),
                  unsigned(std::min<int64_t>(rows, 65535)));
  auto* out = static_cast<__nv_bfloat16*>(dst);
  if (vec)
    to_bf16_kernel<4><<<grid, kThreads>>>(src, out, rows, cols, ld);
  else
    to_bf16_kernel<1><<<grid, kThreads>>>(src, out, rows, cols, ld);
  check_launch("to_bf16");
}

}  // namespace perfmamba::cuda
