#pragma once
// Causal depthwise conv1d (+ SiLU) with its state, prefill and decode step.
#include "perfmamba/backend/ops.hpp"

namespace perfmamba::cuda {

void conv1d(const Conv1dParams& p);

}  // namespace perfmamba::cuda
