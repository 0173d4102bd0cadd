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
}  // namespace

void to_bf16(const float* src, void* dst, int64_t rows, int64_t cols, int64_t ld) {
  const int64_t total = rows * cols;
  if (!total) return;
  const int64_t blocks = (total + kThreads - 1) / kThreads;
  to_bf16_kernel<<<unsigned(blocks < 65536 ? blocks : 65536), kThreads>>>(src, static_cast<__nv_bfloat16*>(dst), rows,
                                                                           cols, ld);
  check_launch("to_bf16");
}

}  // namespace perfmamba::cuda
