#pragma once
// A point in the stream (Backend::make_marker): a CUDA event.
#include <cuda_runtime.h>

#include "perfmamba/backend/backend.hpp"
#include "perfmamba/backend/cuda/common/check.hpp"

namespace perfmamba::cuda {

class Marker final : public DeviceMarker {
 public:
  Marker() { PM_CUDA(cudaEventCreate(&event_)); }
  ~Marker() override { cudaEventDestroy(event_); }
  Marker(const Marker&) = delete;
  Marker& operator=(const Marker&) = delete;
  void record() override { PM_CUDA(cudaEventRecord(event_, cudaStreamPerThread)); }
  double seconds_since(DeviceMarker& earlier) override {
    PM_CUDA(cudaEventSynchronize(event_));
    float ms = 0;
    PM_CUDA(cudaEventElapsedTime(&ms, static_cast<Marker&>(earlier).event_, event_));
    return 1e-3 * ms;
  }

 private:
  cudaEvent_t event_ = nullptr;
};

}  // namespace perfmamba::cuda
