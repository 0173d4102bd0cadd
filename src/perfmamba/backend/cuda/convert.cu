// f32 -> bf16 for the bf16 GEMM path (weights once, GEMM inputs per call).
#include <cuda_bf16.h>

#include <cstdint>

#include "perfmamba/backend/cuda/cuda_check.hpp"
#include "perfmamba/backend/cuda/kernels.cuh"

namespace perfmamba::cuda {
namespace {
constexpr int kThreads = 256;

__global__ void to_bf16_kernel(const float* src, __nv_bfloat16* dst, int64_t rows, int64_t cols, int64_t ld) {
  const int64_t total = rows * cols;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / cols, c = i - r * cols;
    dst[i] = __float2bfloat16_rn(src[r * ld + c]);
  }
}
// 32 x 32 tiles through shared memory, so that both the reads and the writes are whole rows.
__global__ void to_bf16_transposed_kernel(const float* src, __nv_bfloat16* dst, int64_t rows, int64_t cols) {
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
  to_bf16_transposed_kernel<<<grid, dim3(32, 8)>>>(src, static_cast<__nv_bfloat16*>(dst), rows, cols);
  check_launch("to_bf16_transposed");
}

void to_bf16(const float* src, void* dst, int64_t rows, int64_t cols, int64_t ld) {
  const int64_t total = rows * cols;
  if (!total) return;
  const int64_t blocks = (total + kThreads - 1) / kThreads;
  to_bf16_kernel<<<unsigned(blocks < 65536 ? blocks : 65536), kThreads>>>(src, static_cast<__nv_bfloat16*>(dst), rows,
                                                                           cols, ld);
  check_launch("to_bf16");
}

}  // namespace perfmamba::cuda
