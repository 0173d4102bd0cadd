// Causal depthwise conv1d (+ SiLU) over a token-major input with conv_state history, and the
// state update that lets prefill pieces and decode steps chain.
#include "perfmamba/backend/cuda/chained_launch.cuh"
#include "perfmamba/backend/cuda/cuda_check.hpp"
#include "perfmamba/backend/cuda/kernels.cuh"
#include "perfmamba/backend/cuda/math.cuh"

namespace perfmamba::cuda {
namespace {
// Timeline of a sequence: positions 0..w-2 are the state, w-1.. the new inputs.
__device__ __forceinline__ float timeline(const Conv1dParams& p, int b, int pos, int c) {
  const int hist = p.width - 1;
  if (pos < hist) return p.conv_state ? p.conv_state[(size_t(b) * hist + pos) * p.channels + c] : 0.0f;
  return p.x[(size_t(b) * p.len + (pos - hist)) * p.ldx + c];
}

// One thread per (batch, token, channel); channels are the fastest index, so loads coalesce.
__global__ void conv1d_kernel(Conv1dParams p) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(p.batch) * p.len * p.channels) return;
  const int c = int(i % p.channels);
  const size_t bt = i / p.channels;
  const int t = int(bt % p.len), b = int(bt / p.len);
  float acc = p.bias ? p.bias[c] : 0.0f;
  for (int k = 0; k < p.width; ++k) acc += p.weight[size_t(c) * p.width + k] * timeline(p, b, t + k, c);
  p.out[bt * p.ldo + c] = p.silu ? silu(acc) : acc;
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
  p.out[size_t(b) * p.ldo + c] = p.silu ? silu(acc) : acc;
}
}  // namespace

void conv1d(const Conv1dParams& p) {
  const size_t n = size_t(p.batch) * p.len * p.channels;
  if (p.len == 1 && p.conv_state && n) {
    launch_chained(conv1d_step_kernel, unsigned((n + 255) / 256), 256, 0, "conv1d step", p);
    return;
  }
  if (n) {
    conv1d_kernel<<<unsigned((n + 255) / 256), 256>>>(p);
    check_launch("conv1d");
  }
  if (p.conv_state && p.width > 1 && p.batch * p.channels > 0) {
    conv_state_kernel<<<unsigned((size_t(p.batch) * p.channels + 255) / 256), 256>>>(p);
    check_launch("conv1d state update");
  }
}

}  // namespace perfmamba::cuda
