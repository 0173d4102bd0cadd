#pragma once
// A barrier across a whole grid whose blocks are all resident at once (one per SM): the
// one-kernel decode step's meeting points.
#include <cuda_runtime.h>

namespace perfmamba::cuda {

// Every block of the grid (all resident: one per SM) meets at a barrier. The counter only grows;
// a block waits for the next multiple of the grid size after its own arrival. Arriving and
// waiting are apart so that a block can issue its next loads in between: issued before the
// arrival, they would queue in front of it.
__device__ __forceinline__ unsigned long long grid_arrive(unsigned long long* count) {
  __syncthreads();  // with the release below: every thread's writes before it are seen after it
  unsigned long long arrived = 0;
  if (threadIdx.x == 0)
    asm volatile("atom.add.release.gpu.global.u64 %0, [%1], 1;"
                 : "=l"(arrived)
                 : "l"(count)
                 : "memory");
  return (arrived / gridDim.x + 1) * gridDim.x;  // meaningful in thread 0 only
}
// A grid that is not all resident (another process or stream holding SMs) would wait forever:
// after 10 s the kernel traps, and the host sees a launch failure instead of a hang.
__device__ __forceinline__ unsigned long long now_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
__device__ __forceinline__ void grid_wait(unsigned long long* count, unsigned long long target) {
  if (threadIdx.x == 0) {
    unsigned long long seen = 0;
    const unsigned long long start = now_ns();
    for (int polls = 1;; ++polls) {
      asm volatile("ld.acquire.gpu.global.u64 %0, [%1];" : "=l"(seen) : "l"(count) : "memory");
      if (seen >= target) break;
      if (polls % 1024 == 0 && now_ns() - start > 10'000'000'000ull) __trap();
    }
  }
  __syncthreads();
}

}  // namespace perfmamba::cuda
