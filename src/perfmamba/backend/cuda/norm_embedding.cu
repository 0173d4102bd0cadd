// Row-wise ops: residual add + RMSNorm, Mamba-2's gated group RMSNorm, embedding gather and the
// bias fill before a GEMM. One block per row (or row group).
#include "perfmamba/backend/cuda/cuda_check.hpp"
#include "perfmamba/backend/cuda/kernels.cuh"
#include "perfmamba/backend/cuda/math.cuh"

namespace perfmamba::cuda {
namespace {
constexpr int kThreads = 256;

__global__ void add_rmsnorm_kernel(AddRmsNormParams p) {
  float* h = p.residual + size_t(blockIdx.x) * p.cols;
  const float* d = p.delta ? p.delta + size_t(blockIdx.x) * p.cols : nullptr;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < p.cols; i += blockDim.x) {
    float v = h[i];
    if (d) h[i] = v = v + d[i];
    ss += v * v;
  }
  const float scale = rsqrtf(block_sum(ss) / float(p.cols) + p.eps);
  float* o = p.out + size_t(blockIdx.x) * p.cols;
  for (int i = threadIdx.x; i < p.cols; i += blockDim.x) o[i] = p.weight[i] * (h[i] * scale);
}

__global__ void gated_rmsnorm_kernel(GatedRmsNormParams p) {
  const size_t r = blockIdx.x, c0 = size_t(blockIdx.y) * p.group_size;
  const float* y = p.y + r * p.ldy + c0;
  const float* z = p.z + r * p.ldz + c0;
  float* o = p.out + r * p.ldo + c0;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < p.group_size; i += blockDim.x) {
    const float v = y[i] * silu(z[i]);
    o[i] = v;
    ss += v * v;
  }
  const float scale = rsqrtf(block_sum(ss) / float(p.group_size) + p.eps);
  for (int i = threadIdx.x; i < p.group_size; i += blockDim.x) o[i] = p.weight[c0 + i] * (o[i] * scale);
}

__global__ void embedding_kernel(EmbeddingParams p) {
  const float* src = p.table + size_t(p.ids[blockIdx.x]) * p.dim;
  float* dst = p.out + size_t(blockIdx.x) * p.dim;
  for (int i = threadIdx.x; i < p.dim; i += blockDim.x) dst[i] = src[i];
}

__global__ void fill_rows_kernel(float* c, int m, int n, int ldc, const float* bias, bool accumulate) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(m) * n) return;
  const size_t row = i / n, col = i % n;
  float& v = c[row * ldc + col];
  v = (accumulate ? v : 0.0f) + bias[col];
}
}  // namespace

void add_rmsnorm(const AddRmsNormParams& p) {
  if (p.rows == 0) return;
  add_rmsnorm_kernel<<<p.rows, kThreads>>>(p);
  check_launch("add_rmsnorm");
}

void gated_rmsnorm(const GatedRmsNormParams& p) {
  if (p.rows == 0) return;
  gated_rmsnorm_kernel<<<dim3(p.rows, p.cols / p.group_size), kThreads>>>(p);
  check_launch("gated_rmsnorm");
}

void embedding(const EmbeddingParams& p) {
  if (p.tokens == 0) return;
  embedding_kernel<<<p.tokens, kThreads>>>(p);
  check_launch("embedding");
}

void fill_rows(float* c, int m, int n, int ldc, const float* bias, bool accumulate) {
  const size_t total = size_t(m) * n;
  if (!total) return;
  fill_rows_kernel<<<unsigned((total + kThreads - 1) / kThreads), kThreads>>>(c, m, n, ldc, bias, accumulate);
  check_launch("fill_rows");
}

}  // namespace perfmamba::cuda
