#pragma once
// f32 -> bf16 copies: weights once (the bf16 GEMMs' operands), GEMM inputs that come in f32.
#include <cstdint>

namespace perfmamba::cuda {

// dst[r * cols + c] = bf16(src[r * ld + c]), round to nearest even
void to_bf16(const float* src, void* dst, int64_t rows, int64_t cols, int64_t ld);
// dst[c * rows + r] = bf16(src[r * cols + c]): the transposed copy
void to_bf16_transposed(const float* src, void* dst, int64_t rows, int64_t cols);

}  // namespace perfmamba::cuda
