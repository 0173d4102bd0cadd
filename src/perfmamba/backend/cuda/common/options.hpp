#pragma once
// Switches inside the CUDA kernels' launch code, for comparisons: read once per process from the
// environment. (The backend's own switches, which pick a path per op, are CudaOptions in
// backend.hpp; a backend can be made with its own.)
#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace perfmamba::cuda {

struct KernelOptions {
  bool chain = true;        // PERFMAMBA_CUDA_CHAIN=0: kernels launch plainly (no programmatic
                            // dependent launch): exact per-op times in profiles
  bool gemm_tune = true;    // PERFMAMBA_GEMM_TUNE=0: cuBLASLt keeps its heuristic's first algorithm
  int gemm_tune_rows = 16;  // PERFMAMBA_GEMM_TUNE_ROWS: fewest rows of a product worth timing
  int skinny_unroll = 2;    // PERFMAMBA_SKINNY_UNROLL=1: the skinny GEMM loads one chunk of k a stage
  bool scan_token = true;   // PERFMAMBA_SCAN_TOKEN=0: Mamba-1 decode at batch > 1 takes the chunked scan
  int step_out_copies = 2;  // PERFMAMBA_STEP_OUT_COPIES=1: Mamba-1's step sums out_proj into one copy
};

namespace detail {
inline int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}
inline bool env_on(const char* name) {
  const char* v = std::getenv(name);
  return !(v && std::strcmp(v, "0") == 0);
}
}  // namespace detail

inline const KernelOptions& kernel_options() {
  static const KernelOptions o = [] {
    KernelOptions k;
    k.chain = detail::env_on("PERFMAMBA_CUDA_CHAIN");
    k.gemm_tune = detail::env_on("PERFMAMBA_GEMM_TUNE");
    k.gemm_tune_rows = std::max(1, detail::env_int("PERFMAMBA_GEMM_TUNE_ROWS", 16));
    k.scan_token = detail::env_on("PERFMAMBA_SCAN_TOKEN");
    k.skinny_unroll = detail::env_int("PERFMAMBA_SKINNY_UNROLL", 2) == 1 ? 1 : 2;
    k.step_out_copies = std::clamp(detail::env_int("PERFMAMBA_STEP_OUT_COPIES", 2), 1, 2);
    return k;
  }();
  return o;
}

}  // namespace perfmamba::cuda
