#pragma once
// Properties of the current device that launch configurations depend on, read once.
#include "perfmamba/backend/cuda/common/check.hpp"

namespace perfmamba::cuda {

inline int sm_count() {
  static const int count = [] {
    int device = 0, n = 0;
    PM_CUDA(cudaGetDevice(&device));
    PM_CUDA(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    return n;
  }();
  return count;
}

}  // namespace perfmamba::cuda
