#pragma once
// Programmatic dependent launch (Hopper): a kernel started with launch_chained may begin while
// the kernel before it on the stream is still running. A decode step is a chain of small
// kernels, each waiting on the last; chaining lets a GEMV stream its weights (which depend on
// nothing) during the kernel before it, instead of every launch paying the full latency.
// The rule for a chained kernel: call wait_for_previous() before reading anything an earlier
// kernel wrote and before writing anything at all; call let_next_start() once the next kernel
// may take its place (it still waits for this one to finish before touching data).
// PERFMAMBA_CUDA_CHAIN=0 launches plainly (for comparisons and the profiler's per-op events).
#include <cuda_runtime.h>

#include <utility>

#include "perfmamba/backend/cuda/common/check.hpp"
#include "perfmamba/backend/cuda/common/options.hpp"

namespace perfmamba::cuda {

__device__ __forceinline__ void wait_for_previous() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void let_next_start() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

inline bool chaining_enabled() { return kernel_options().chain; }

template <class... KernelArgs, class... Args>
void launch_chained(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t smem,
                    const char* what, Args&&... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = cudaStreamPerThread;
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = &attr;
  // Chained only where griddepcontrol.wait was compiled in (sm_90 code running): a kernel built
  // for an older architecture and run on Hopper would start early without waiting.
  static const bool built_to_wait = [kernel] {
    cudaFuncAttributes a{};
    return cudaFuncGetAttributes(&a, kernel) == cudaSuccess && a.binaryVersion >= 90;
  }();
  cfg.numAttrs = chaining_enabled() && built_to_wait ? 1 : 0;
  check(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...), what);
}

}  // namespace perfmamba::cuda
