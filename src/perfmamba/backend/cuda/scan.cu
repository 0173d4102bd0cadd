// Selective scan (Mamba-1) and the recurrent SSD (Mamba-2): one warp per (batch, channel) or
// (batch, head, head-dim row); lanes own d_state / 32 states each in registers, so any d_state
// up to 256 runs unpadded. Per token the warp reduces s . C with shuffles.
// This is the first, correctness-first version: sequential over tokens within a warp.
#include "perfmamba/backend/cuda/cuda_check.hpp"
#include "perfmamba/backend/cuda/kernels.cuh"
#include "perfmamba/backend/cuda/math.cuh"

namespace perfmamba::cuda {
namespace {
constexpr int kWarps = 4;  // warps per block

template <int kPerLane>
__global__ void selective_scan_kernel(SelectiveScanParams p) {
  const int lane = threadIdx.x & 31;
  const size_t w = size_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (w >= size_t(p.batch) * p.d_inner) return;
  const int e = int(w % p.d_inner), b = int(w / p.d_inner), N = p.d_state;
  float s[kPerLane], a[kPerLane];
  float* state = p.ssm_state + (size_t(b) * p.d_inner + e) * N;
#pragma unroll
  for (int k = 0; k < kPerLane; ++k) {
    const int n = lane + 32 * k;
    s[k] = n < N ? state[n] : 0.0f;
    a[k] = n < N ? p.A[size_t(e) * N + n] : 0.0f;
  }
  const float bias = p.dt_bias[e], D = p.D[e];
  for (int t = 0; t < p.len; ++t) {
    const size_t row = size_t(b) * p.len + t;
    const float x = p.x[row * p.ldx + e];
    const float delta = softplus(p.dt[row * p.lddt + e] + bias);
    const float* Bt = p.B + row * p.ldbc;
    const float* Ct = p.C + row * p.ldbc;
    float acc = 0.0f;
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      const int n = lane + 32 * k;
      if (n < N) {
        s[k] = expf(delta * a[k]) * s[k] + delta * x * Bt[n];
        acc += s[k] * Ct[n];
      }
    }
    acc = warp_sum(acc);
    if (lane == 0) {
      float y = acc + D * x;
      if (p.z) y *= silu(p.z[row * p.ldz + e]);
      p.y[row * p.ldy + e] = y;
    }
  }
#pragma unroll
  for (int k = 0; k < kPerLane; ++k)
    if (lane + 32 * k < N) state[lane + 32 * k] = s[k];
}

template <int kPerLane>
__global__ void ssd_recurrent_kernel(SsdParams p) {
  const int lane = threadIdx.x & 31;
  const size_t w = size_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  const int P = p.head_dim, N = p.d_state;
  if (w >= size_t(p.batch) * p.n_heads * P) return;
  const int i = int(w % P), h = int((w / P) % p.n_heads), b = int(w / (size_t(P) * p.n_heads));
  const int g = h / (p.n_heads / p.n_groups);
  float s[kPerLane];
  float* state = p.ssm_state + ((size_t(b) * p.n_heads + h) * P + i) * N;
#pragma unroll
  for (int k = 0; k < kPerLane; ++k) s[k] = lane + 32 * k < N ? state[lane + 32 * k] : 0.0f;
  const float A = p.A[h], D = p.D[h], bias = p.dt_bias[h];
  for (int t = 0; t < p.len; ++t) {
    const size_t row = size_t(b) * p.len + t;
    float delta = softplus(p.dt[row * p.lddt + h] + bias);
    if (p.dt_max > 0.0f) delta = fminf(fmaxf(delta, p.dt_min), p.dt_max);
    const float dA = expf(delta * A);
    const float x = p.x[row * p.ldx + size_t(h) * P + i];
    const float* Bt = p.B + row * p.ldbc + size_t(g) * N;
    const float* Ct = p.C + row * p.ldbc + size_t(g) * N;
    float acc = 0.0f;
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      const int n = lane + 32 * k;
      if (n < N) {
        s[k] = dA * s[k] + delta * x * Bt[n];
        acc += s[k] * Ct[n];
      }
    }
    acc = warp_sum(acc);
    if (lane == 0) p.y[row * p.ldy + size_t(h) * P + i] = acc + D * x;
  }
#pragma unroll
  for (int k = 0; k < kPerLane; ++k)
    if (lane + 32 * k < N) state[lane + 32 * k] = s[k];
}

// Dispatch on states per lane: the smallest register array that holds d_state.
template <template <int> class Launch, class P>
void by_states_per_lane(int d_state, const P& p, size_t warps) {
  const unsigned blocks = unsigned((warps + kWarps - 1) / kWarps);
  if (d_state <= 32) Launch<1>::run(blocks, p);
  else if (d_state <= 64) Launch<2>::run(blocks, p);
  else if (d_state <= 128) Launch<4>::run(blocks, p);
  else if (d_state <= 256) Launch<8>::run(blocks, p);
  else throw Error("cuda", "d_state", std::to_string(d_state) + " is above the 256 the CUDA scans support");
}
template <int K>
struct LaunchScan {
  static void run(unsigned blocks, const SelectiveScanParams& p) { selective_scan_kernel<K><<<blocks, 32 * kWarps>>>(p); }
};
template <int K>
struct LaunchSsd {
  static void run(unsigned blocks, const SsdParams& p) { ssd_recurrent_kernel<K><<<blocks, 32 * kWarps>>>(p); }
};
}  // namespace

void selective_scan(const SelectiveScanParams& p) {
  const size_t warps = size_t(p.batch) * p.d_inner;
  if (!warps) return;
  by_states_per_lane<LaunchScan>(p.d_state, p, warps);
  check_launch("selective_scan");
}

void ssd_recurrent(const SsdParams& p) {
  const size_t warps = size_t(p.batch) * p.n_heads * p.head_dim;
  if (!warps) return;
  by_states_per_lane<LaunchSsd>(p.d_state, p, warps);
  check_launch("ssd_recurrent");
}

}  // namespace perfmamba::cuda
