#pragma once
// CUDA implementations of the backend ops (f32). Launch on the current stream.
#include <cublas_v2.h>

#include "perfmamba/backend/ops.hpp"

namespace perfmamba::cuda {

void add_rmsnorm(const AddRmsNormParams& p);
void gated_rmsnorm(const GatedRmsNormParams& p);
void conv1d(const Conv1dParams& p);
void selective_scan(const SelectiveScanParams& p);
void ssd_recurrent(const SsdParams& p);
// Chunked SSD for prefill (batched GEMMs on `blas`, TF32 tensor cores when tf32); one chunk or
// less runs ssd_recurrent.
void ssd_chunked(const SsdParams& p, cublasHandle_t blas, bool tf32);
void embedding(const EmbeddingParams& p);
// c = a w^T (+ bias, + c when accumulating) for one row of a, w in bf16 ([n, k], made by
// to_bf16), a rounded to bf16 on the fly: the cuBLAS bf16 path's products, summed in another
// order. w_just_made: the copy was made by the kernel just before (read only after waiting on it).
bool gemv_bf16_fits(const GemmParams& p);
void gemv_bf16(const GemmParams& p, const void* w_bf16, bool w_just_made);
void fill_rows(float* c, int m, int n, int ldc, const float* bias, bool accumulate);
// dst[r * cols + c] = bf16(src[r * ld + c]), round to nearest even
void to_bf16(const float* src, void* dst, int64_t rows, int64_t cols, int64_t ld);

}  // namespace perfmamba::cuda
