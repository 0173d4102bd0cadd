#pragma once
// The ceilings every profile number is set against, measured by perfmamba on the machine it runs
// on: device copy bandwidth (bytes read + written per second) and GEMM throughput at the
// backend's precision (f32, or bf16 operands with f32 accumulation).
#include <string>

#include "perfmamba/backend/backend.hpp"

namespace perfmamba {

struct MachinePeaks {
  std::string device;
  double copy_bytes_per_s = 0;
  double gemm_flops_per_s = 0;
  double ridge_intensity() const { return gemm_flops_per_s / copy_bytes_per_s; }  // FLOP per byte
};

MachinePeaks measure_peaks(Backend& backend);

}  // namespace perfmamba
