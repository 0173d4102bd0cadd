#pragma once
// Choosing the next tokens on the device (greedy decoding): only their ids go to the host.
#include "perfmamba/backend/ops.hpp"

namespace perfmamba::cuda {

void argmax_rows(const ArgmaxParams& p);

}  // namespace perfmamba::cuda
