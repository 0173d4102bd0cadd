#pragma once
// CUDA implementations of the backend ops (f32). Launch on the current stream.
#include <cublas_v2.h>

#include "perfmamba/backend/ops.hpp"

namespace perfmamba::cuda {

// out_bf16 (optional): the output also rounded to bf16, packed [rows, cols], as to_bf16 would
// make it for a bf16 GEMM that reads it next.
void add_rmsnorm(const AddRmsNormParams& p, void* out_bf16 = nullptr);
void gated_rmsnorm(const GatedRmsNormParams& p, void* out_bf16 = nullptr);
// out_bf16 / y_bf16 (optional): the output also rounded to bf16, packed [batch * len, channels],
// as the norms above. conv1d returns whether it wrote it (a decode step does not).
bool conv1d(const Conv1dParams& p, void* out_bf16 = nullptr);
void selective_scan(const SelectiveScanParams& p, void* y_bf16 = nullptr);
void ssd_recurrent(const SsdParams& p);
// One token a sequence (len 1) where d_state is a multiple of 4 up to 256 and B, C and the state
// are 16-byte aligned; false (nothing launched) otherwise. ssd_recurrent tries it first.
bool ssd_token_step(const SsdParams& p);
// Chunked SSD for prefill: products on bf16 tensor cores when bf16, else f32 batched GEMMs on
// `blas`; one chunk or less runs ssd_recurrent.
void ssd_chunked(const SsdParams& p, cublasHandle_t blas, bool bf16);
void embedding(const EmbeddingParams& p);
// c = a w^T (+ bias, + c when accumulating) for one row of a, w in bf16 ([n, k], made by
// to_bf16), a rounded to bf16 on the fly: the cuBLAS bf16 path's products, summed in another
// order. w_just_made: the copy was made by the kernel just before (read only after waiting on it).
bool gemv_bf16_fits(const GemmParams& p);
void gemv_bf16(const GemmParams& p, const void* w_bf16, bool w_just_made);
// c = a w^T (+ bias, + c when accumulating) for 2 to kSkinnyMaxRows rows of a (decode at small
// batch) on the tensor cores: a and w in bf16 (a packed [m, k], k a multiple of 8).
constexpr int kSkinnyMaxRows = 8;
bool skinny_gemm_bf16_fits(const GemmParams& p);
void skinny_gemm_bf16(const GemmParams& p, const void* a_bf16, const void* w_bf16,
                      bool w_just_made);
// Mamba-1 (Mamba-2) layers' batch-1 decode steps in one kernel (bf16 weights; see
// mamba1_step.cu, mamba2_step.cu). fits: false where the sizes need more shared memory than a
// block has or the device cannot hold the whole grid at once; the ops then run one by one.
struct Mamba1StepWeights {
  const void *in_proj, *x_proj, *dt_proj;  // bf16 copies, as made by to_bf16
  const void* out_proj_t;                  // bf16 copy of out_proj transposed: [d_inner, d_model]
  bool just_made;  // made by the kernels just before (not to be read before waiting on them)
};
struct Mamba2StepWeights {
  const void* in_proj;     // bf16 copy, as made by to_bf16
  const void* out_proj_t;  // bf16 copy of out_proj transposed: [d_inner, d_model]
  bool just_made;
};
// x_proj's sum over the blocks goes into this many copies (fewer blocks adding to one address).
constexpr int kSumCopies = 8;
struct StepScratch {
  unsigned long long* barrier;  // zeroed once; the steps keep it consistent
  float* sums;  // zeroed once; Mamba-1's steps leave it zero. Floats: step_sums_floats()
  float* y;     // zeroed once; Mamba-1's steps leave it zero. Floats: step_y_floats()
};
size_t step_sums_floats(const Mamba1StepParams& p);
size_t step_sums_floats(const Mamba2StepParams& p);
size_t step_y_floats(const Mamba1StepParams& p);
size_t step_y_floats(const Mamba2StepParams& p);
bool mamba1_steps_fit(const Mamba1StepParams* layers, int n);
void mamba1_steps(const Mamba1StepParams* layers, const Mamba1StepWeights* w, int n,
                  const StepScratch& scratch);
bool mamba2_steps_fit(const Mamba2StepParams* layers, int n);
void mamba2_steps(const Mamba2StepParams* layers, const Mamba2StepWeights* w, int n,
                  const StepScratch& scratch);
// dst[r * cols + c] = bf16(src[r * ld + c]), round to nearest even
void to_bf16(const float* src, void* dst, int64_t rows, int64_t cols, int64_t ld);
// dst[c * rows + r] = bf16(src[r * cols + c]): the transposed copy
void to_bf16_transposed(const float* src, void* dst, int64_t rows, int64_t cols);

}  // namespace perfmamba::cuda
