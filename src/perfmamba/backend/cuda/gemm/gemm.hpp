#pragma once
// The bf16 GEMMs of decode steps, beside cuBLASLt (lt_gemm.hpp): c = a w^T (+ bias, + c when
// accumulating), w in bf16 ([n, k], made by to_bf16), f32 accumulation and output.
#include "perfmamba/backend/ops.hpp"

namespace perfmamba::cuda {

// One row of a (batch-1 decode), f32 (rounded to bf16 in registers, so the products are the
// cuBLAS bf16 path's) or bf16. w_just_made: the copy was made by the kernel just before (read
// only after waiting on it).
bool gemv_bf16_fits(const GemmParams& p);
void gemv_bf16(const GemmParams& p, const void* w_bf16, bool w_just_made);
// 2 to kSkinnyMaxRows rows of a (decode at small batch) on the tensor cores; a in bf16 with
// lda a multiple of 8, k a multiple of 8.
constexpr int kSkinnyMaxRows = 8;
bool skinny_gemm_bf16_fits(const GemmParams& p);
void skinny_gemm_bf16(const GemmParams& p, const void* a_bf16, int lda, const void* w_bf16,
                      bool w_just_made);

}  // namespace perfmamba::cuda
