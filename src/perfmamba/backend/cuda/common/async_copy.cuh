#pragma once
// Asynchronous copies of 4 bytes from global into shared memory (cp.async, sm_80 and later; a
// plain copy before), in groups that a block can wait for one by one.
#include <cuda_runtime.h>

namespace perfmamba::cuda {

// Copies of 4 bytes into shared memory that run while the block works (cp.async): the small
// per-channel tensors a block needs later are all requested at its start, so no phase waits on
// its own loads from memory.
__device__ __forceinline__ void copy_async(void* dst, const void* src) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(unsigned(__cvta_generic_to_shared(dst))),
      "l"(src)
      : "memory");
#else
  *static_cast<float*>(dst) = *static_cast<const float*>(src);
#endif
}
// The same for 8 or 16 bytes (both addresses aligned to that many).
template <int kBytes>
__device__ __forceinline__ void copy_async_bytes(void* dst, const void* src) {
  static_assert(kBytes == 4 || kBytes == 8 || kBytes == 16);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "cp.async.ca.shared.global [%0], [%1], %2;" ::"r"(unsigned(__cvta_generic_to_shared(dst))),
      "l"(src), "n"(kBytes)
      : "memory");
#else
  for (int i = 0; i < kBytes / 4; ++i)
    static_cast<float*>(dst)[i] = static_cast<const float*>(src)[i];
#endif
}
// Closes a group of copies; copies_done<n>() waits until at most the n latest groups are pending.
__device__ __forceinline__ void copies_group() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;" ::: "memory");
#endif
}
template <int kPending = 0>
__device__ __forceinline__ void copies_done() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;" ::"n"(kPending) : "memory");
#endif
  __syncthreads();
}
// n floats, spread over a block of kThreads threads.
template <int kThreads>
__device__ __forceinline__ void copy_async(float* dst, const float* src, int n) {
  for (int i = threadIdx.x; i < n; i += kThreads) copy_async(dst + i, src + i);
}

}  // namespace perfmamba::cuda
