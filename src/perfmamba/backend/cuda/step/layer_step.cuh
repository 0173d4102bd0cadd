#pragma once
// What the one-kernel decode steps of Mamba-1 (mamba1_step.cu) and Mamba-2 (mamba2_step.cu)
// share: one 512-thread block per SM, the residual add and norm every block computes, the conv
// step of a block's own channels, the kernel's walk over its layers with the grid meeting between
// them, and the sizing of the launch (shared memory, whole grid resident).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "perfmamba/backend/cuda/common/async_copy.cuh"
#include "perfmamba/backend/cuda/step/block_gemv.cuh"
#include "perfmamba/backend/cuda/common/chained_launch.cuh"
#include "perfmamba/backend/cuda/common/check.hpp"
#include "perfmamba/backend/cuda/common/device_info.hpp"
#include "perfmamba/backend/cuda/common/options.hpp"
#include "perfmamba/backend/cuda/step/grid_barrier.cuh"
#include "perfmamba/backend/cuda/common/math.cuh"
#include "perfmamba/backend/cuda/step/step_trace.cuh"

namespace perfmamba::cuda::layer_step {

constexpr int kThreads = 512, kWarps = kThreads / 32;
// The GEMVs of a kernel: kUnroll weight loads a lane issues per step of a row GEMV (two steps in
// flight), and kGroup columns in a column GEMV's item (a thread's loads). Each kernel sets its own
// (StepArgs::kUnroll, StepArgs::kColumnGroup); both load into one array of registers.
template <bool kVec, int kUnroll>
using Gemv = BlockGemv<kVec, kUnroll, kWarps>;
template <bool kVec, int kGroup>
using Columns = ColumnGemv<kVec, kGroup, kThreads>;

// out[0..3] += v with one vector reduction where the device has it (sm_90), else four.
__device__ __forceinline__ void add4(float* out, float4 v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float4*>(out), v);
#else
  atomicAdd(out, v.x), atomicAdd(out + 1, v.y), atomicAdd(out + 2, v.z), atomicAdd(out + 3, v.w);
#endif
}

// Part `part` of `parts` near-equal pieces of [0, total): its start.
__host__ __device__ __forceinline__ int share(int total, int part, int parts) {
  return int(int64_t(total) * part / parts);
}

// Copies of a sum the grid adds into at most (blocks spread over them: fewer atomics meet at
// one address); its reader adds them up.
constexpr int kMaxOutCopies = 2;
// Copies of out_proj's sums the Mamba-1 step uses: two. 132 blocks adding into one [d_model]
// vector meet at its addresses (the Mamba-2 step keeps one: a second spilled registers there).
// H100, Mamba-1 batch-1 decode, copies 1 / 2 / 4: mamba-1.4b 676 / 689 / 695 tokens/s, mamba-2.8b
// 367 / 368 / 364 (docs/benchmarks-history.md). PERFMAMBA_STEP_OUT_COPIES=1 takes one.
inline int step_out_copies() {
  static_assert(kMaxOutCopies == 2, "KernelOptions::step_out_copies is clamped to 1-2");
  return kernel_options().step_out_copies;
}

// Reads n floats (and adds n more from `add` where given, `copies` of them copy_stride apart) a
// thread at a time with all of a batch's loads in flight (a plain loop issues one load, waits,
// then the next), handing each value to f(i, v). The norm reads the residual and the last
// layer's output in one round trip.
template <int kBatch = 8, class F>
__device__ __forceinline__ void batched_sum(const float* src, const float* add, int n, F f,
                                            int copies = 1, size_t copy_stride = 0) {
  for (int base = 0; base < n; base += kBatch * kThreads) {
    float v[kBatch], w[kBatch][kMaxOutCopies];
#pragma unroll
    for (int k = 0; k < kBatch; ++k) {
      const int i = base + threadIdx.x + k * kThreads;
      v[k] = i < n ? __ldcg(src + i) : 0.0f;  // may be another SM's write in this kernel: not L1
#pragma unroll
      for (int c = 0; c < kMaxOutCopies; ++c)
        w[k][c] = i < n && add && c < copies ? __ldcg(add + c * copy_stride + i) : 0.0f;
    }
#pragma unroll
    for (int k = 0; k < kBatch; ++k) {
      const int i = base + threadIdx.x + k * kThreads;
      float sum = w[k][0];
#pragma unroll
      for (int c = 1; c < kMaxOutCopies; ++c) sum += w[k][c];  // copies in a fixed order
      if (i < n) f(i, v[k] + sum);
    }
  }
}
template <int kBatch = 8, class F>
__device__ __forceinline__ void batched_read(const float* src, int n, F f) {
  batched_sum<kBatch>(src, nullptr, n, f);
}

// RMSNorm of a row already in hn (shared memory): u (holding the norm weight, being copied in
// by the block's cp.async group kPending + 1 from the latest) becomes the normalised row rounded
// to bf16 for in_proj.
template <int kPending>
__device__ __forceinline__ void rms_scale(int D, float eps, float* u, const float* hn) {
  float ss = 0.0f;
  for (int i = threadIdx.x; i < D; i += kThreads) ss += hn[i] * hn[i];
  const float scale = rsqrtf(block_sum(ss) / float(D) + eps);
  copies_done<kPending>();  // the norm weight (later groups may still be pending)
  for (int i = threadIdx.x; i < D; i += kThreads) u[i] = round_bf16(u[i] * (hn[i] * scale));
  __syncthreads();
}
// Residual add and RMSNorm of the layer's input, which every block needs whole: hn = residual
// (+ delta, summed over its `copies`, D apart), then rms_scale.
template <int kPending>
__device__ __forceinline__ void residual_norm(const float* residual, const float* delta, int D,
                                              float eps, float* u, float* hn, int copies = 1) {
  batched_sum(
      residual, delta, D, [&](int i, float v) { hn[i] = v; }, copies, size_t(D));
  rms_scale<kPending>(D, eps, u, hn);
}

// The causal conv of one channel for one new input x, with SiLU, in the conv kernel's sum order;
// shifts the channel's history. w: its d_conv taps; hist: its d_conv - 1 past inputs, oldest
// first, `stride` apart (shared memory); state: the same history in global memory, written back
// shifted (`ld` apart).
__device__ __forceinline__ float conv_step(float x, const float* w, float bias, const float* hist,
                                           int stride, int d_conv, float* state, size_t ld) {
  const int h = d_conv - 1;
  float acc = bias + w[h] * x;
  for (int j = 0; j < h; ++j) acc += w[j] * hist[j * stride];
  for (int j = 0; j + 1 < h; ++j) state[j * ld] = hist[(j + 1) * stride];
  if (h > 0) state[(h - 1) * ld] = x;
  return silu(acc);
}

// The kernel's walk over its layers. Step: stage_weights(l) (requests the weights a layer reads
// first; they depend on nothing before them, so they may load while the previous kernel
// finishes), stage_states(l) (written by this layer's previous step: for the first layer, read
// only after waiting on the kernel before), run(l) and finish(last) after the last layer. What the
// next layer reads first is requested before the grid meets between layers: like the layers' own
// barriers, the boundary does not stop the stream of weights.
template <class Step>
__device__ __forceinline__ void run_layers(const Step& step, int layers, bool early,
                                           GridBarrier& barrier) {
  if (early) step.stage_weights(0);
  wait_for_previous();
  barrier.start();
  if (!early) step.stage_weights(0);
  step.stage_states(0);
  for (int l = 0; l < layers; ++l) {
    step.run(l);
    if (l == 0) let_next_start();  // the next kernel may launch; it waits for this one to end
    if (l + 1 < layers) {
      barrier.arrive();  // out is complete after it
      step.stage_weights(l + 1);
      step.stage_states(l + 1);
      barrier.wait();
    }
  }
  step.finish(layers - 1);
}

// Layers a launch runs (their arguments fill 13-15 of the 32 KiB a kernel may take).
constexpr int kMaxLayers = 64;

// What either kernel's launch arguments hold, beside the buffers of its sums: the layers, the
// grid's barrier counter, the phase stamps, whether the weights may be read before waiting, and
// the shared-memory layout.
template <class LayerArgs, class Layout>
struct LaunchArgs {
  LayerArgs layer[kMaxLayers];
  int layers;
  unsigned long long* barrier;
  unsigned long long* trace;  // phase stamps (a measuring build; see step_trace.cuh)
  bool early;  // the bf16 weights were made before the previous kernel: read them before waiting
  Layout s;    // sized for the largest layer
};

// What a block's layer step holds in either kernel: the launch's arguments, the shared memory
// layout and memory, the registers of the weight loads in flight, the grid's barrier, and where
// the block is. Args has layer[l].p.d_inner, barrier, layers, early, s (the Layout) and trace.
template <bool kVec, class Args, class Layout>
struct BlockStep {
  using T = typename Pieces<kVec>::T;
  static constexpr int kElems = Pieces<kVec>::kElems, kUnroll = Args::kUnroll,
                       kGroup = Args::kColumnGroup, kCur = kUnroll > kGroup ? kUnroll : kGroup;
  using RowGemv = Gemv<kVec, kUnroll>;
  using ColGemv = Columns<kVec, kGroup>;
  const Args& a;
  const Layout& L;
  float* smem;
  T (&cur)[kCur];
  GridBarrier& bar;
  const int t = threadIdx.x, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, grid = gridDim.x,
            b = blockIdx.x;

  // This block's channels [c0, c0 + nc) of layer l.
  __device__ __forceinline__ int c0(int l) const { return share(a.layer[l].p.d_inner, b, grid); }
  __device__ __forceinline__ int nc(int l) const {
    return share(a.layer[l].p.d_inner, b + 1, grid) - c0(l);
  }
};

// The one-kernel step: a block per SM, Step (a BlockStep) running the launch's layers in turn.
template <class Step, class Args>
__global__ void __launch_bounds__(kThreads, 1) layer_steps_kernel(const __grid_constant__ Args a) {
  extern __shared__ float4 smem4[];
  typename Step::T cur[Step::kCur];
  GridBarrier bar{a.barrier};
  const Step step{{a, a.s, reinterpret_cast<float*>(smem4), cur, bar}};
  run_layers(step, a.layers, a.early, bar);
}

// Shared memory regions of a block, in floats, each starting 16-byte aligned.
struct Regions {
  int at = 0;
  int take(int floats) {
    const int start = at;
    at += (floats + 3) / 4 * 4;
    return start;
  }
};

// Bytes of dynamic shared memory a block may have (opt-in), less the kernels' static 128 and
// the block_sum scratch: 227 KiB on an H100.
inline int smem_limit() {
  static const int limit = [] {
    int device = 0, bytes = 0;
    PM_CUDA(cudaGetDevice(&device));
    PM_CUDA(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    return bytes - 1024;
  }();
  return limit;
}

// Blocks of kKernel an SM holds with `smem` bytes of shared memory (0 where it cannot run). The
// grid barriers need every block resident at once.
template <auto kKernel>
int blocks_per_sm(size_t smem) {
  static const bool attr_set =
      cudaFuncSetAttribute(kKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem_limit()) ==
      cudaSuccess;
  int n = 0;
  if (smem > size_t(smem_limit()) || !attr_set ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kKernel, kThreads, smem) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

// Whether the kernel of Step<vec> runs with `smem` bytes of shared memory, a block on every SM.
template <template <bool> class Step, class Args>
bool grid_fits(bool vec, size_t smem) {
  return (vec ? blocks_per_sm<layer_steps_kernel<Step<true>, Args>>(smem)
              : blocks_per_sm<layer_steps_kernel<Step<false>, Args>>(smem)) >= 1;
}

// Runs n layers in launches of up to max_layers: fill(args, first, count, blocks) sets a
// launch's layers and sizes (args.s) and says whether all its rows take 16-byte loads. w: the
// layers' bf16 weights (just_made: their conversions are the kernels just queued).
template <template <bool> class Step, class Args, class Weights, class Fill>
void launch_layer_steps(int n, int max_layers, const char* what,
                        const char* const (&phases)[kTracePhases], const Weights* w, Fill fill) {
  const int blocks = sm_count();
  for (int first = 0; first < n; first += max_layers) {
    const int count = std::min(max_layers, n - first);
    auto a = std::make_unique<Args>();  // over 10 KiB: not on the stack
    a->layers = count;
    // Conversions are done once the launch before has passed its wait.
    a->early = first > 0 || std::none_of(w + first, w + first + count,
                                         [](const Weights& x) { return x.just_made; });
    const bool vec = fill(*a, first, count, blocks);
    a->trace = trace_stamps(count, blocks);
    const size_t smem = size_t(a->s.total) * 4;
    if (vec)
      launch_chained(layer_steps_kernel<Step<true>, Args>, blocks, kThreads, smem, what, *a);
    else
      launch_chained(layer_steps_kernel<Step<false>, Args>, blocks, kThreads, smem, what, *a);
    print_trace(what, phases, count, blocks);
  }
}

}  // namespace perfmamba::cuda::layer_step
