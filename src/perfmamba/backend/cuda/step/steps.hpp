#pragma once
// Batch-1 decode of all layers of a Mamba-1 (Mamba-2) model in one kernel: mamba1_step.cu,
// mamba2_step.cu, sharing layer_step.cuh. fits: false where the sizes need more shared memory than
// a block has or the device cannot hold the whole grid at once; the ops then run one by one.
#include <cstddef>

#include "perfmamba/backend/ops.hpp"

namespace perfmamba::cuda {

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

}  // namespace perfmamba::cuda
