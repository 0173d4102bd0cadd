#pragma once
// Standalone timings of one layer's kernels (causal conv1d, the projections, the selective scan
// or SSD; the lm head at decode sizes) at a model's shapes, on random inputs.
#include <string>
#include <vector>

#include "perfmamba/backend/backend.hpp"
#include "perfmamba/io/config.hpp"

namespace perfmamba {

struct KernelTiming {
  std::string op;  // "conv1d", "in_proj", "x_proj", "dt_proj", "out_proj", "lm_head", "selective_scan", "ssd"
  int batch = 0, len = 0;
  double seconds = 0;  // median of the timed calls
  OpCost cost;         // fewest bytes and the FLOPs of the op
};

// Times each op `repeats` times after a warm-up (device markers on a GPU, the wall clock on the
// CPU) at layer 0's sizes.
std::vector<KernelTiming> bench_layer_kernels(Backend& be, const MambaConfig& c, int batch, int len, int repeats);

}  // namespace perfmamba
