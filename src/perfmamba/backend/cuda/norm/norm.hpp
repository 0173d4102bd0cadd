#pragma once
// Row-wise ops: residual add + RMSNorm, Mamba-2's gated group RMSNorm, the embedding gather.
// Outputs in f32 or bf16 (the type of p.out; bf16 rows packed).
#include "perfmamba/backend/ops.hpp"

namespace perfmamba::cuda {

void add_rmsnorm(const AddRmsNormParams& p);
void gated_rmsnorm(const GatedRmsNormParams& p);
void embedding(const EmbeddingParams& p);

}  // namespace perfmamba::cuda
