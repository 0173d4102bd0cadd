#include <cblas.h>

#include "perfmamba/backend/cpu/kernels.hpp"

namespace perfmamba::cpu {

void gemm(const GemmParams& p) {
  if (p.m == 0 || p.n == 0) return;
  float beta = p.accumulate ? 1.0f : 0.0f;
  if (p.bias) {
    for (int i = 0; i < p.m; ++i) {
      float* row = p.c + size_t(i) * p.ldc;
      for (int j = 0; j < p.n; ++j) row[j] = (p.accumulate ? row[j] : 0.0f) + p.bias[j];
    }
    beta = 1.0f;
  }
  if (p.m == 1) {  // decode: a matrix-vector product, bound by reading the weight once
    cblas_sgemv(CblasRowMajor, CblasNoTrans, p.n, p.k, 1.0f, p.w, p.k, p.a.f32(), 1, beta, p.c, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, p.m, p.n, p.k, 1.0f, p.a.f32(), p.lda, p.w, p.k,
              beta, p.c, p.ldc);
}

}  // namespace perfmamba::cpu
