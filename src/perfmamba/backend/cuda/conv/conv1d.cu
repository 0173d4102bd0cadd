// Causal depthwise conv1d (+ SiLU) over a token-major input with conv_state history, and the
// state update that lets prefill pieces and decode steps chain.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>

#include "perfmamba/backend/cuda/common/bf16.cuh"
#include "perfmamba/backend/cuda/common/chained_launch.cuh"
#include "perfmamba/backend/cuda/common/check.hpp"
#include "perfmamba/backend/cuda/common/device_info.hpp"
#include "perfmamba/backend/cuda/conv/conv1d.hpp"
#include "perfmamba/backend/cuda/common/math.cuh"

namespace perfmamba::cuda {
namespace {
// Timeline of a sequence: positions 0..w-2 are the state, w-1.. the new inputs.
__device__ __forceinline__ float timeline(const Conv1dParams& p, int b, int pos, int c) {
  const int hist = p.width - 1;
  if (pos < hist)
    return p.conv_state ? p.conv_state[(size_t(b) * hist + pos) * p.channels + c] : 0.0f;
  return p.x[(size_t(b) * p.len + (pos - hist)) * p.ldx + c];
}

// Any width: one thread per (batch, token, channel); channels are the fastest index, so loads
// coalesce.
__global__ void conv1d_kernel(Conv1dParams p, __nv_bfloat16* out16) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(p.batch) * p.len * p.channels) return;
  const int c = int(i % p.channels);
  const size_t bt = i / p.channels;
  const int t = int(bt % p.len), b = int(bt / p.len);
  float acc = p.bias ? p.bias[c] : 0.0f;
  for (int k = 0; k < p.width; ++k)
    acc += p.weight[size_t(c) * p.width + k] * timeline(p, b, t + k, c);
  const float y = p.silu ? silu(acc) : acc;
  p.out[bt * p.ldo + c] = y;
  if (out16) out16[bt * p.channels + c] = __float2bfloat16_rn(y);
}

// Widths up to 4 (the checkpoints'): a thread owns V neighbouring channels over a run of tokens,
// with its taps in registers and the last width - 1 inputs in a sliding window, so each input is
// read once (plus width - 1 tokens of halo per run) and no index is divided per output.
constexpr int kMaxTaps = 4, kRunThreads = 128, kAhead = 4;
template <int V>
struct Lanes {
  float v[V];
};
template <int V>
__device__ __forceinline__ Lanes<V> load_lanes(const float* q) {
  Lanes<V> r;
  if constexpr (V == 4) {
    const float4 f = *reinterpret_cast<const float4*>(q);
    r.v[0] = f.x, r.v[1] = f.y, r.v[2] = f.z, r.v[3] = f.w;
  } else {
#pragma unroll
    for (int j = 0; j < V; ++j) r.v[j] = q[j];
  }
  return r;
}
// Input of token t (negative: the state's history, zeros before it) at channels c..c+V-1.
template <int V>
__device__ __forceinline__ Lanes<V> input(const Conv1dParams& p, int b, int t, int c) {
  const int hist = p.width - 1;
  if (t >= 0) return load_lanes<V>(p.x + (size_t(b) * p.len + t) * p.ldx + c);
  if (t >= -hist && p.conv_state)
    return load_lanes<V>(p.conv_state + (size_t(b) * hist + hist + t) * p.channels + c);
  return Lanes<V>{};
}

// grid: x = channel groups of V; y walks the (sequence, run of `run` tokens) items, more of them
// than a grid's 65535 in a loop. W taps: the window holds the last W - 1 inputs only, so a
// narrower conv never multiplies inputs it does not reach (a zero tap times inf would be NaN).
template <int V, int W>
__global__ void __launch_bounds__(kRunThreads)
    conv1d_run_kernel(Conv1dParams p, int run, __nv_bfloat16* out16) {
  const int c = (blockIdx.x * kRunThreads + threadIdx.x) * V;
  if (c >= p.channels) return;
  float w[W][V], bias[V];  // tap k multiplies the input W - 1 - k tokens back
#pragma unroll
  for (int j = 0; j < V; ++j) {
    bias[j] = p.bias ? p.bias[c + j] : 0.0f;
#pragma unroll
    for (int k = 0; k < W; ++k) w[k][j] = p.weight[size_t(c + j) * W + k];
  }
  const int runs = (p.len + run - 1) / run;
  for (size_t item = blockIdx.y; item < size_t(runs) * p.batch; item += gridDim.y) {
    const int b = int(item / runs), t0 = int(item % runs) * run, t1 = min(p.len, t0 + run);
    Lanes<V> back[W > 1 ? W - 1 : 1];  // back[k]: the input W - 1 - k tokens before t
#pragma unroll
    for (int k = 0; k < W - 1; ++k) back[k] = input<V>(p, b, t0 - (W - 1 - k), c);
    // Inputs are loaded kAhead tokens at a time, the next group while this one is computed, and
    // before any output is stored: the compiler may not move a load above a store (out may alias
    // x as far as it knows), and one load in flight per thread kept the DRAM at 40-50 % (Nsight
    // Compute, 2.8b and 2.7b shapes).
    const auto load_group = [&](int tg, Lanes<V>(&dst)[kAhead]) {
#pragma unroll
      for (int u = 0; u < kAhead; ++u)
        dst[u] = tg + u < t1 ? load_lanes<V>(p.x + (size_t(b) * p.len + tg + u) * p.ldx + c)
                             : Lanes<V>{};
    };
    Lanes<V> ahead[kAhead];
    load_group(t0, ahead);
    for (int t8 = t0; t8 < t1; t8 += kAhead) {
      Lanes<V> next[kAhead];
      if (t8 + kAhead < t1) load_group(t8 + kAhead, next);
#pragma unroll
      for (int u = 0; u < kAhead; ++u) {
        const int t = t8 + u;
        if (t >= t1) break;
        const Lanes<V>& now = ahead[u];
        Lanes<V> y;
#pragma unroll
        for (int j = 0; j < V; ++j) {
          float acc = bias[j] + w[W - 1][j] * now.v[j];
#pragma unroll
          for (int k = 0; k < W - 1; ++k) acc += w[k][j] * back[k].v[j];
          y.v[j] = p.silu ? silu_fast(acc) : acc;  // ~6 instructions, not ~30 (expf, IEEE division)
        }
        const size_t row = size_t(b) * p.len + t;
        float* o = p.out + row * p.ldo + c;
        __nv_bfloat16* o16 = out16 ? out16 + row * p.channels + c : nullptr;
        if constexpr (V == 4) {
          *reinterpret_cast<float4*>(o) = make_float4(y.v[0], y.v[1], y.v[2], y.v[3]);
          if (o16) store_bf16x4(o16, y.v[0], y.v[1], y.v[2], y.v[3]);
        } else {
#pragma unroll
          for (int j = 0; j < V; ++j) {
            o[j] = y.v[j];
            if (o16) o16[j] = __float2bfloat16_rn(y.v[j]);
          }
        }
#pragma unroll
        for (int k = 0; k + 1 < W - 1; ++k) back[k] = back[k + 1];
        if constexpr (W > 1) back[W - 2] = now;
      }
#pragma unroll
      for (int u = 0; u < kAhead; ++u) ahead[u] = next[u];
    }
  }
}

template <int V>
void launch_runs(const Conv1dParams& p, dim3 grid, int run, __nv_bfloat16* out16) {
  switch (p.width) {
    case 1:
      return conv1d_run_kernel<V, 1><<<grid, kRunThreads>>>(p, run, out16);
    case 2:
      return conv1d_run_kernel<V, 2><<<grid, kRunThreads>>>(p, run, out16);
    case 3:
      return conv1d_run_kernel<V, 3><<<grid, kRunThreads>>>(p, run, out16);
    default:
      return conv1d_run_kernel<V, 4><<<grid, kRunThreads>>>(p, run, out16);
  }
}

// New history = last width-1 positions of the timeline. Ascending j reads position len + j >= j
// before anything at or after it is overwritten, so the update can be in place.
__global__ void conv_state_kernel(Conv1dParams p) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(p.batch) * p.channels) return;
  const int c = int(i % p.channels), b = int(i / p.channels), hist = p.width - 1;
  for (int j = 0; j < hist; ++j) {
    const float v = timeline(p, b, p.len + j, c);
    p.conv_state[(size_t(b) * hist + j) * p.channels + c] = v;
  }
}
// A decode step (one token): output and state update in one pass, one thread per channel (the
// two kernels above cost two launches per layer and step).
__global__ void conv1d_step_kernel(Conv1dParams p) {
  wait_for_previous();
  let_next_start();
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(p.batch) * p.channels) return;
  const int c = int(i % p.channels), b = int(i / p.channels), hist = p.width - 1;
  float* state = p.conv_state + size_t(b) * hist * p.channels + c;
  const float* w = p.weight + size_t(c) * p.width;
  const float x = p.x[size_t(b) * p.ldx + c];
  float acc = (p.bias ? p.bias[c] : 0.0f) + w[hist] * x;
  for (int j = 0; j < hist; ++j) {
    const float v = state[size_t(j) * p.channels];
    acc += w[j] * v;
    if (j > 0) state[size_t(j - 1) * p.channels] = v;
  }
  if (hist > 0) state[size_t(hist - 1) * p.channels] = x;
  const float y = p.silu ? silu(acc) : acc;
  p.out[size_t(b) * p.ldo + c] = y;
  if (p.out_bf16) static_cast<__nv_bfloat16*>(p.out_bf16)[i] = __float2bfloat16_rn(y);
}
}  // namespace

void conv1d(const Conv1dParams& p) {
  const size_t n = size_t(p.batch) * p.len * p.channels;
  if (p.len == 1 && p.conv_state && n) {
    launch_chained(conv1d_step_kernel, unsigned((n + 255) / 256), 256, 0, "conv1d step", p);
    return;
  }
  auto* out16 = static_cast<__nv_bfloat16*>(p.out_bf16);
  if (n && p.width <= kMaxTaps) {
    const auto aligned = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
    const bool vec = p.channels % 4 == 0 && p.ldx % 4 == 0 && p.ldo % 4 == 0 && aligned(p.x) &&
                     aligned(p.out) && (!p.conv_state || aligned(p.conv_state));
    const int V = vec ? 4 : 1, groups = (p.channels + V - 1) / V;
    // Runs as long as keep about 2048 threads per SM busy, 8 to 64 tokens (shorter ones re-read
    // more halo).
    const size_t want = size_t(sm_count()) * 2048, have = size_t(groups) * p.batch;
    const int runs = int(std::min<size_t>((want + have - 1) / have, size_t(p.len)));
    // (a multiple of the kAhead tokens loaded at once)
    const int run = std::clamp(((p.len + runs - 1) / runs + kAhead - 1) / kAhead * kAhead, 8, 64);
    const size_t items = size_t((p.len + run - 1) / run) * p.batch;
    const dim3 grid(unsigned((groups + kRunThreads - 1) / kRunThreads),
                    unsigned(std::min<size_t>(items, 65535)));
    vec ? launch_runs<4>(p, grid, run, out16) : launch_runs<1>(p, grid, run, out16);
    check_launch("conv1d");
  } else if (n) {
    conv1d_kernel<<<unsigned((n + 255) / 256), 256>>>(p, out16);
    check_launch("conv1d");
  }
  if (p.conv_state && p.width > 1 && p.batch * p.channels > 0) {
    conv_state_kernel<<<unsigned((size_t(p.batch) * p.channels + 255) / 256), 256>>>(p);
    check_launch("conv1d state update");
  }
}

}  // namespace perfmamba::cuda
