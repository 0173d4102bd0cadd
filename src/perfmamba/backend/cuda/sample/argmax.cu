// One block a row: each thread keeps the best of its strided share of the row (16-byte loads
// where the row allows), then the block reduces (value, column) pairs, the lower column winning a
// tie. A decode step's logits are at most a few MB, so one pass at the rows' read bandwidth is all
// it costs.
#include <cstdint>

#include "perfmamba/backend/cuda/common/chained_launch.cuh"
#include "perfmamba/backend/cuda/common/check.hpp"
#include "perfmamba/backend/cuda/sample/argmax.hpp"

namespace perfmamba::cuda {
namespace {
constexpr int kThreads = 1024;

struct Best {
  float v;
  int c;
};
// b beats a: larger, or equal at a lower column; a NaN never beats a number.
__device__ __forceinline__ bool beats(const Best& b, const Best& a) {
  if (b.c < 0) return false;
  if (a.c < 0) return true;
  if (a.v != a.v) return b.v == b.v || b.c < a.c;
  return b.v > a.v || (b.v == a.v && b.c < a.c);
}
__device__ __forceinline__ void take(Best& a, float v, int c) {
  const Best b{v, c};
  if (beats(b, a)) a = b;
}

__global__ void __launch_bounds__(kThreads) argmax_kernel(ArgmaxParams p, bool vec) {
  wait_for_previous();
  let_next_start();
  const float* x = p.x + size_t(blockIdx.x) * p.ldx;
  Best best{0.0f, -1};
  int c0 = 0;
  if (vec) {
    const int quads = p.cols / 4;
    const auto* x4 = reinterpret_cast<const float4*>(x);
    for (int q = threadIdx.x; q < quads; q += kThreads) {
      const float4 f = __ldg(x4 + q);
      take(best, f.x, 4 * q), take(best, f.y, 4 * q + 1), take(best, f.z, 4 * q + 2),
          take(best, f.w, 4 * q + 3);
    }
    c0 = quads * 4;
  }
  for (int c = c0 + threadIdx.x; c < p.cols; c += kThreads) take(best, __ldg(x + c), c);
  for (int off = 16; off > 0; off /= 2) {
    const Best o{__shfl_down_sync(0xffffffffu, best.v, off), __shfl_down_sync(0xffffffffu, best.c, off)};
    if (beats(o, best)) best = o;
  }
  __shared__ Best warps[kThreads / 32];
  if (threadIdx.x % 32 == 0) warps[threadIdx.x / 32] = best;
  __syncthreads();
  if (threadIdx.x >= 32) return;
  best = threadIdx.x < kThreads / 32 ? warps[threadIdx.x] : Best{0.0f, -1};
  for (int off = 16; off > 0; off /= 2) {
    const Best o{__shfl_down_sync(0xffffffffu, best.v, off), __shfl_down_sync(0xffffffffu, best.c, off)};
    if (beats(o, best)) best = o;
  }
  if (threadIdx.x == 0) p.out[blockIdx.x] = best.c < 0 ? 0 : best.c;
}
}  // namespace

void argmax_rows(const ArgmaxParams& p) {
  if (p.rows <= 0 || p.cols <= 0) return;
  const bool vec = p.ldx % 4 == 0 && reinterpret_cast<uintptr_t>(p.x) % 16 == 0;
  launch_chained(argmax_kernel, dim3(unsigned(p.rows)), dim3(kThreads), 0, "argmax", p, vec);
}

}  // namespace perfmamba::cuda
