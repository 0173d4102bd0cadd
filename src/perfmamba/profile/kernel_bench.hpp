#pragma once
// Standalone timings of one layer's sequence kernels (causal conv1d and the selective scan or
// SSD) at a model's shapes, on random inputs: the kernels alone, without the GEMMs around them.
#include <string>
#include <vector>

#include "perfmamba/backend/backend.hpp"
#include "perfmamba/io/config.hpp"

namespace perfmamba {

struct KernelTiming {
  std::string op;  // "conv1d", "selective_scan", "ssd"
  int batch = 0, len = 0;
  double seconds = 0;  // median of the timed calls
  OpCost cost;         // fewest bytes and the FLOPs of the op
};

// Times each op `repeats` times after a warm-up (device markers on a GPU, the wall clock on the
// CPU) at layer 0's sizes.
std::vector<KernelTiming> bench_layer_kernels(Backend& be, const MambaConfig& c, int batch, int len, int repeats);

}  // namespace perfmamba
