#pragma once
// Time stamps of the fused decode steps' phases, in a measuring build (CMake option
// PERFMAMBA_STEP_TRACE; otherwise no code and no cost). Thread 0 of every block records the
// global timer as it ends each phase of each layer; after a launch the host prints, per phase,
// when it ended after the layer's start: median over layers of the median block and of the last
// block. The gaps where the grid waits, and which phases leave the memory idle, show there.
// Replayed graphs skip the host's print: measure with PERFMAMBA_CUDA_GRAPHS=0.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "perfmamba/backend/cuda/common/check.hpp"
#include "perfmamba/backend/cuda/step/grid_barrier.cuh"

namespace perfmamba::cuda::layer_step {

constexpr int kTracePhases = 9;

__device__ __forceinline__ void stamp([[maybe_unused]] unsigned long long* stamps,
                                      [[maybe_unused]] int layer, [[maybe_unused]] int phase) {
#ifdef PERFMAMBA_STEP_TRACE
  if (threadIdx.x == 0)
    stamps[(size_t(layer) * kTracePhases + phase) * gridDim.x + blockIdx.x] = GridBarrier::now_ns();
#endif
}

// The stamps of a launch of up to `layers` layers (null in a normal build).
inline unsigned long long* trace_stamps([[maybe_unused]] int layers, [[maybe_unused]] int blocks) {
#ifdef PERFMAMBA_STEP_TRACE
  static unsigned long long* buf = nullptr;
  static size_t have = 0;
  const size_t need = size_t(layers) * kTracePhases * blocks;
  if (need > have) {
    if (buf) cudaFree(buf);
    PM_CUDA(cudaMalloc(&buf, need * 8));
    have = need;
  }
  return buf;
#else
  return nullptr;
#endif
}

// Every 16th launch: waits for it and prints its phases to stderr.
inline void print_trace([[maybe_unused]] const char* what,
                        [[maybe_unused]] const char* const (&phases)[kTracePhases],
                        [[maybe_unused]] int layers, [[maybe_unused]] int blocks) {
#ifdef PERFMAMBA_STEP_TRACE
  static int launches = 0;
  if (launches++ % 16 != 0) return;
  std::vector<unsigned long long> s(size_t(layers) * kTracePhases * blocks);
  PM_CUDA(cudaDeviceSynchronize());
  PM_CUDA(cudaMemcpy(s.data(), trace_stamps(layers, blocks), s.size() * 8, cudaMemcpyDeviceToHost));
  const auto at = [&](int l, int p, int b) {
    return s[(size_t(l) * kTracePhases + p) * blocks + b];
  };
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  std::fprintf(stderr, "trace %s, launch %d (%d layers, %d blocks), us after the layer's start:\n",
               what, launches - 1, layers, blocks);
  std::vector<double> period;
  for (int l = 0; l + 1 < layers; ++l) {
    unsigned long long t0 = ~0ull, t1 = ~0ull;
    for (int b = 0; b < blocks; ++b)
      t0 = std::min(t0, at(l, 0, b)), t1 = std::min(t1, at(l + 1, 0, b));
    period.push_back((t1 - t0) * 1e-3);
  }
  for (int p = 0; p < kTracePhases; ++p) {
    std::vector<double> mid, last;
    for (int l = 0; l < layers; ++l) {
      unsigned long long t0 = ~0ull;
      for (int b = 0; b < blocks; ++b) t0 = std::min(t0, at(l, 0, b));
      std::vector<double> v;
      for (int b = 0; b < blocks; ++b) v.push_back((at(l, p, b) - t0) * 1e-3);
      mid.push_back(median(v));
      last.push_back(*std::max_element(v.begin(), v.end()));
    }
    std::fprintf(stderr, "  %-24s median block %6.2f  last block %6.2f\n", phases[p], median(mid),
                 median(last));
  }
  std::fprintf(stderr, "  layer period (median)    %6.2f\n", median(period));
#endif
}

}  // namespace perfmamba::cuda::layer_step
