#pragma once
// A barrier across a whole grid whose blocks are all resident at once (one per SM): the
// one-kernel decode steps' meeting points.
#include <cuda_runtime.h>

namespace perfmamba::cuda {

// Every block of the grid (all resident: one per SM) meets at a barrier. The counter only grows,
// by one per block and meeting, so meeting k of a launch is complete when it reaches base +
// k * grid. Each block counts its meetings itself (thread 0 keeps the target), so arriving is a
// reduction that does not wait for an answer: with an atomic that returns the count, the last
// block to arrive waited for that round trip to L2 before its first poll, on every meeting's
// critical path. Arriving and waiting are apart so that a block can issue its next loads in
// between: issued before the arrival, they would queue in front of it.
struct GridBarrier {
  unsigned long long* count;
  unsigned long long target = 0;  // thread 0's: the count that completes the last meeting

  // After the kernel before has finished (its meetings are complete, so the count is a multiple
  // of the grid size plus the arrivals of this launch's first meeting, fewer than the grid size).
  __device__ __forceinline__ void start() {
    if (threadIdx.x == 0) {
      unsigned long long seen = 0;
      asm volatile("ld.relaxed.gpu.global.u64 %0, [%1];" : "=l"(seen) : "l"(count) : "memory");
      target = seen / gridDim.x * gridDim.x;
    }
  }
  __device__ __forceinline__ void arrive() {
    __syncthreads();  // with the release below: every thread's writes before it are seen after it
    if (threadIdx.x == 0) {
      target += gridDim.x;
      asm volatile("red.release.gpu.global.add.u64 [%0], 1;" ::"l"(count) : "memory");
    }
  }
  // A grid that is not all resident (another process or stream holding SMs) would wait forever:
  // after 10 s the kernel traps, and the host sees a launch failure instead of a hang.
  __device__ __forceinline__ void wait() const {
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
  static __device__ __forceinline__ unsigned long long now_ns() {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
  }
};

}  // namespace perfmamba::cuda
