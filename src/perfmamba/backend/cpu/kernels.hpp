#pragma once
// CPU implementations of the backend ops (OpenMP threads, BLAS GEMMs, SIMD inner loops).
#include "perfmamba/backend/ops.hpp"

namespace perfmamba::cpu {

void gemm(const GemmParams& p);
void add_rmsnorm(const AddRmsNormParams& p);
void gated_rmsnorm(const GatedRmsNormParams& p);
void conv1d(const Conv1dParams& p);
void selective_scan(const SelectiveScanParams& p);
void ssd_chunked(const SsdParams& p);
void ssd_recurrent(const SsdParams& p);
void embedding(const EmbeddingParams& p);
void argmax_rows(const ArgmaxParams& p);

}  // namespace perfmamba::cpu
