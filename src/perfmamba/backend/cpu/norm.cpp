#include <cmath>

#include "perfmamba/backend/cpu/kernels.hpp"
#include "perfmamba/backend/cpu/math.hpp"

namespace perfmamba::cpu {

void add_rmsnorm(const AddRmsNormParams& p) {
#pragma omp parallel for if (p.rows > 1)
  for (int r = 0; r < p.rows; ++r) {
    float* h = p.residual + size_t(r) * p.cols;
    if (p.delta) {
      const float* d = p.delta + size_t(r) * p.cols;
#pragma omp simd
      for (int i = 0; i < p.cols; ++i) h[i] += d[i];
    }
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int i = 0; i < p.cols; ++i) ss += h[i] * h[i];
    const float scale = 1.0f / std::sqrt(ss / float(p.cols) + p.eps);
    float* o = p.out.f32() + size_t(r) * p.cols;
#pragma omp simd
    for (int i = 0; i < p.cols; ++i) o[i] = p.weight[i] * (h[i] * scale);
  }
}

void gated_rmsnorm(const GatedRmsNormParams& p) {
  const int groups = p.cols / p.group_size;
#pragma omp parallel for collapse(2) if (p.rows > 1)
  for (int r = 0; r < p.rows; ++r) {
    for (int g = 0; g < groups; ++g) {
      const size_t c0 = size_t(g) * p.group_size;
      const float* y = p.y + size_t(r) * p.ldy + c0;
      const float* z = p.z + size_t(r) * p.ldz + c0;
      float* o = p.out.f32() + size_t(r) * p.ldo + c0;
      float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
      for (int i = 0; i < p.group_size; ++i) {
        const float v = y[i] * silu(z[i]);
        o[i] = v;
        ss += v * v;
      }
      const float scale = 1.0f / std::sqrt(ss / float(p.group_size) + p.eps);
      const float* w = p.weight + c0;
#pragma omp simd
      for (int i = 0; i < p.group_size; ++i) o[i] = w[i] * (o[i] * scale);
    }
  }
}

}  // namespace perfmamba::cpu
