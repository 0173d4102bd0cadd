#pragma once
// What the two chunked SSD paths (ssd_chunked.cu: cuBLAS in f32; ssd_tensor_cores.cu: bf16 tensor
// cores) share: the chunk geometry, Δ with the running sums of ΔA inside each chunk, and the
// passing of states from chunk to chunk.
#include <cublas_v2.h>
#include <cuda_bf16.h>

#include <cstdint>
#include <cub/block/block_scan.cuh>

#include "perfmamba/backend/cuda/common/check.hpp"
#include "perfmamba/backend/cuda/common/math.cuh"
#include "perfmamba/backend/ops.hpp"

namespace perfmamba::cuda::ssd {

// The longest chunk: one thread per token of a chunk computes its running sum.
constexpr int kMaxChunk = 256;

// Sizes of one call: Q tokens a chunk, nc chunks, Lp = nc Q positions (the last chunk padded with
// zero Δ, which leaves states and outputs unchanged), E = H P channels, GN = G N of B (and C).
struct Dims {
  int batch, len, H, P, N, G, Q, nc, Lp, E, GN;
  __host__ __device__ int group(int h) const { return h / (H / G); }
};
inline Dims dims_of(const SsdParams& p, int Q) {
  Dims d{p.batch, p.len, p.n_heads, p.head_dim, p.d_state, p.n_groups, Q, 0, 0, 0, 0};
  d.nc = (p.len + Q - 1) / Q, d.Lp = d.nc * Q, d.E = d.H * d.P, d.GN = d.G * d.N;
  return d;
}

// Δ (zero past the end) and the running sum of ΔA inside each chunk, both [batch, H, Lp]; a block
// per (b, h, chunk), a thread per token. The sum is kept in double: its differences give the
// decays, and in f32 a sum near -200 keeps only 2^-16 of them.
template <int kThreads>
__global__ void __launch_bounds__(kThreads)
    chunk_sums_kernel(SsdParams p, Dims d, float* delta, double* cum) {
  using Scan = cub::BlockScan<double, kThreads>;
  __shared__ typename Scan::TempStorage scratch;
  const int c = int(blockIdx.x % d.nc), h = int((blockIdx.x / d.nc) % d.H),
            b = int(blockIdx.x / (size_t(d.nc) * d.H));
  const int q = threadIdx.x, t = c * d.Q + q;
  float dl = 0.0f;
  if (q < d.Q && t < d.len) {
    dl = softplus(p.dt[(size_t(b) * d.len + t) * p.lddt + h] + p.dt_bias[h]);
    if (p.dt_max > 0.0f) dl = fminf(fmaxf(dl, p.dt_min), p.dt_max);
  }
  double sum;
  Scan(scratch).InclusiveSum(double(dl) * p.A[h], sum);
  if (q >= d.Q) return;
  const size_t at = (size_t(b) * d.H + h) * d.Lp + t;
  delta[at] = dl;
  cum[at] = sum;
}
inline void chunk_sums(const SsdParams& p, const Dims& d, float* delta, double* cum) {
  chunk_sums_kernel<kMaxChunk>
      <<<unsigned(size_t(d.batch) * d.H * d.nc), kMaxChunk>>>(p, d, delta, cum);
  check_launch("ssd: chunk sums");
}

// kV consecutive states of one row, rounded to Out (bf16 pairs go out as one store).
template <int kV>
__device__ __forceinline__ void store_states(float* at, const float (&v)[kV]) {
#pragma unroll
  for (int j = 0; j < kV; ++j) at[j] = v[j];
}
template <int kV>
__device__ __forceinline__ void store_states(__nv_bfloat16* at, const float (&v)[kV]) {
  if constexpr (kV % 2 == 0) {
#pragma unroll
    for (int j = 0; j < kV; j += 2)
      *reinterpret_cast<__nv_bfloat162*>(at + j) = __floats2bfloat162_rn(v[j], v[j + 1]);
  } else {
#pragma unroll
    for (int j = 0; j < kV; ++j) at[j] = __float2bfloat16_rn(v[j]);
  }
}

// States entering each chunk, [batch, nc, H, P, ld] (columns N..ld-1 zero), from the inference
// state and the chunks' own final states (s_local, [batch, nc, H, P, N]); the state after the
// last chunk goes back to the inference state. One thread per (b, h, p) and kV columns (4 when
// N and ld are multiples of 4: 16-byte loads, and 3x fewer threads than one a column, whose
// walk over the chunks kept the DRAM at 16 %); the entering states may be stored rounded (bf16).
template <class Out, int kV>
__global__ void pass_states_kernel(Dims d, int ld, float* __restrict__ state,
                                   const float* __restrict__ s_local,
                                   const double* __restrict__ cum, Out* __restrict__ h_in) {
  const size_t i = (size_t(blockIdx.x) * blockDim.x + threadIdx.x) * kV;
  const size_t P_ld = size_t(d.P) * ld, PN = size_t(d.P) * d.N;
  if (i >= size_t(d.batch) * d.H * P_ld) return;
  const int n = int(i % ld), p = int((i / ld) % d.P), h = int((i / P_ld) % d.H),
            b = int(i / (P_ld * d.H));
  const size_t head = size_t(b) * d.H + h, own = head * PN + size_t(p) * d.N + n;
  const double* row = cum + head * d.Lp;
  const bool in = n < d.N;  // all kV columns are in, or all are padding
  float s[kV];
#pragma unroll
  for (int j = 0; j < kV; ++j) s[j] = in ? state[own + j] : 0.0f;
#pragma unroll 4
  for (int c = 0; c < d.nc; ++c) {
    const size_t chunk = (size_t(b) * d.nc + c) * d.H + h;
    store_states(h_in + chunk * P_ld + size_t(p) * ld + n, s);
    if (!in) continue;
    const float decay = expf(float(row[size_t(c) * d.Q + d.Q - 1]));
    const float* local = s_local + chunk * PN + size_t(p) * d.N + n;
    if constexpr (kV == 4) {
      const float4 v = *reinterpret_cast<const float4*>(local);
      s[0] = decay * s[0] + v.x, s[1] = decay * s[1] + v.y, s[2] = decay * s[2] + v.z,
      s[3] = decay * s[3] + v.w;
    } else {
#pragma unroll
      for (int j = 0; j < kV; ++j) s[j] = decay * s[j] + local[j];
    }
  }
  if (in)
#pragma unroll
    for (int j = 0; j < kV; ++j) state[own + j] = s[j];
}
template <class Out>
void pass_states(const Dims& d, int ld, float* state, const float* s_local, const double* cum,
                 Out* h_in) {
  constexpr int kThreads = 256;
  const size_t n = size_t(d.batch) * d.H * d.P * ld;
  const auto aligned = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
  if (d.N % 4 == 0 && ld % 4 == 0 && aligned(state) && aligned(s_local) && aligned(h_in))
    pass_states_kernel<Out, 4><<<unsigned((n / 4 + kThreads - 1) / kThreads), kThreads>>>(
        d, ld, state, s_local, cum, h_in);
  else
    pass_states_kernel<Out, 1>
        <<<unsigned((n + kThreads - 1) / kThreads), kThreads>>>(d, ld, state, s_local, cum, h_in);
  check_launch("ssd: state passing");
}

// The chunked SSD of one call (sizes as ssd_chunked leaves them) with Q a multiple of 64 up to
// kMaxChunk, on bf16 tensor cores (ssd_tensor_cores.cu); `blas` computes C Bᵀ.
void chunked_on_tensor_cores(const SsdParams& p, cublasHandle_t blas, int Q);

}  // namespace perfmamba::cuda::ssd
