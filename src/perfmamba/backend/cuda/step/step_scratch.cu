#include "perfmamba/backend/cuda/step/step_scratch.hpp"

#include <cuda_runtime.h>

#include "perfmamba/backend/cuda/common/check.hpp"

namespace perfmamba::cuda {

StepScratchStore::~StepScratchStore() {
  if (all_.empty()) return;
  cudaDeviceSynchronize();  // a queued step may still use them
  for (void* p : all_) cudaFree(p);
}

void StepScratchStore::grow(size_t sums, size_t y) {
  sums_ = (std::max(sums, sums_) + 3) / 4 * 4;  // y starts 16-byte aligned (vector reductions)
  y_ = std::max(y, y_);
  constexpr size_t kCounterBytes = 256;
  const size_t bytes = kCounterBytes + (sums_ + y_) * 4;
  void* base = nullptr;
  PM_CUDA(cudaMalloc(&base, bytes));
  all_.push_back(base);
  PM_CUDA(cudaMemset(base, 0, bytes));
  auto* at = static_cast<char*>(base);
  auto* floats = reinterpret_cast<float*>(at + kCounterBytes);
  view_ = {reinterpret_cast<unsigned long long*>(at), floats, floats + sums_};
}

}  // namespace perfmamba::cuda
