// Selective scan (Mamba-1) and SSD in recurrent form (Mamba-2) as one chunked recurrence.
// A "row" is what one warp scans: (batch, channel) for Mamba-1, (batch, head, head-dim row) for
// Mamba-2; lanes own d_state / 32 states each in registers, so any d_state up to 256 runs
// unpadded, and per token the warp reduces s . C with shuffles.
// Long sequences are cut into chunks of kChunk tokens scanned in parallel (three passes):
//   1. each (row, chunk) scans from a zero state and keeps its final state and sum of Δ;
//   2. each row walks its chunks: state entering chunk c = exp(A ΣΔ_{c-1}) state_{c-1} + local_{c-1};
//   3. each (row, chunk) scans again from its true entering state and writes y.
// That is twice the arithmetic of one sequential pass for L/kChunk times the parallelism; a
// single chunk (decode, short prompts) runs pass 3 alone from the inference state.
#include "perfmamba/backend/cuda/cuda_check.hpp"
#include "perfmamba/backend/cuda/kernels.cuh"
#include "perfmamba/backend/cuda/math.cuh"
#include "perfmamba/core/tensor.hpp"

namespace perfmamba::cuda {
namespace {
constexpr int kWarps = 4;    // warps per block
constexpr int kChunk = 64;   // tokens per chunk

// Mamba-1: row = (b, e); A per (e, n); gate z.
struct Mamba1 {
  const SelectiveScanParams& p;
  int b, e;
  __device__ Mamba1(const SelectiveScanParams& q, size_t row) : p(q), b(int(row / q.d_inner)), e(int(row % q.d_inner)) {}
  __device__ static size_t rows(const SelectiveScanParams& q) { return size_t(q.batch) * q.d_inner; }
  __device__ int len() const { return p.len; }
  __device__ int states() const { return p.d_state; }
  __device__ float A(int n) const { return p.A[size_t(e) * p.d_state + n]; }
  __device__ size_t tok(int t) const { return size_t(b) * p.len + t; }
  __device__ float delta(int t) const { return softplus(p.dt[tok(t) * p.lddt + e] + p.dt_bias[e]); }
  __device__ float x(int t) const { return p.x[tok(t) * p.ldx + e]; }
  __device__ const float* B(int t) const { return p.B + tok(t) * p.ldbc; }
  __device__ const float* C(int t) const { return p.C + tok(t) * p.ldbc; }
  __device__ void out(int t, float sc, float x) const {
    float y = sc + p.D[e] * x;
    if (p.z) y *= silu(p.z[tok(t) * p.ldz + e]);
    p.y[tok(t) * p.ldy + e] = y;
  }
};

// Mamba-2: row = (b, h, i); one A per head; B, C of the head's group.
struct Mamba2 {
  const SsdParams& p;
  int b, h, i, g;
  __device__ Mamba2(const SsdParams& q, size_t row)
      : p(q), b(int(row / (size_t(q.head_dim) * q.n_heads))), h(int((row / q.head_dim) % q.n_heads)),
        i(int(row % q.head_dim)), g(h / (q.n_heads / q.n_groups)) {}
  __device__ static size_t rows(const SsdParams& q) { return size_t(q.batch) * q.n_heads * q.head_dim; }
  __device__ int len() const { return p.len; }
  __device__ int states() const { return p.d_state; }
  __device__ float A(int) const { return p.A[h]; }
  __device__ size_t tok(int t) const { return size_t(b) * p.len + t; }
  __device__ float delta(int t) const {
    float d = softplus(p.dt[tok(t) * p.lddt + h] + p.dt_bias[h]);
    return p.dt_max > 0.0f ? fminf(fmaxf(d, p.dt_min), p.dt_max) : d;
  }
  __device__ float x(int t) const { return p.x[tok(t) * p.ldx + size_t(h) * p.head_dim + i]; }
  __device__ const float* B(int t) const { return p.B + tok(t) * p.ldbc + size_t(g) * p.d_state; }
  __device__ const float* C(int t) const { return p.C + tok(t) * p.ldbc + size_t(g) * p.d_state; }
  __device__ void out(int t, float sc, float x) const { p.y[tok(t) * p.ldy + size_t(h) * p.head_dim + i] = sc + p.D[h] * x; }
};

// Scans tokens [t0, t1) of one row from the state in s; writes y when `emit`. Returns ΣΔ.
template <class Row, int K>
__device__ float scan_span(const Row& r, int lane, float (&s)[K], const float (&a)[K], int t0, int t1, bool emit) {
  const int N = r.states();
  float dsum = 0.0f;
  for (int t = t0; t < t1; ++t) {
    const float d = r.delta(t), x = r.x(t);
    const float* Bt = r.B(t);
    const float* Ct = r.C(t);
    dsum += d;
    float acc = 0.0f;
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int n = lane + 32 * k;
      if (n < N) {
        s[k] = expf(d * a[k]) * s[k] + d * x * Bt[n];
        if (emit) acc += s[k] * Ct[n];
      }
    }
    if (emit) {
      acc = warp_sum(acc);
      if (lane == 0) r.out(t, acc, x);
    }
  }
  return dsum;
}

template <class Row, int K, class P>
__device__ bool setup(const P& p, size_t warp, size_t nrows, int lane, float (&a)[K], size_t& row) {
  if (warp >= nrows) return false;
  row = warp;
  const Row r(p, row);
#pragma unroll
  for (int k = 0; k < K; ++k) a[k] = lane + 32 * k < r.states() ? r.A(lane + 32 * k) : 0.0f;
  return true;
}

// Pass 3 (and the whole scan when there is one chunk): from `state_in` (row-major [rows, N],
// chunk-major when chunks > 1), emit y; with one chunk, write the final state back to state_out.
template <class Row, int K, class P>
__global__ void emit_kernel(P p, const float* state_in, float* state_out, int chunks) {
  const int lane = threadIdx.x & 31;
  const size_t w = size_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  const size_t nrows = Row::rows(p);
  float a[K], s[K];
  size_t row;
  if (!setup<Row, K>(p, w / chunks, nrows, lane, a, row)) return;
  const Row r(p, row);
  const int c = int(w % chunks), N = r.states();
  const float* in = state_in + (row * chunks + c) * N;
#pragma unroll
  for (int k = 0; k < K; ++k) s[k] = lane + 32 * k < N ? in[lane + 32 * k] : 0.0f;
  const int t0 = chunks == 1 ? 0 : c * kChunk, t1 = chunks == 1 ? r.len() : min(r.len(), t0 + kChunk);
  scan_span<Row, K>(r, lane, s, a, t0, t1, true);
  if (state_out) {
#pragma unroll
    for (int k = 0; k < K; ++k)
      if (lane + 32 * k < N) state_out[row * N + lane + 32 * k] = s[k];
  }
}

// Pass 1: local final states from zero, and ΣΔ per (row, chunk).
template <class Row, int K, class P>
__global__ void local_kernel(P p, float* local, float* dsum, int chunks) {
  const int lane = threadIdx.x & 31;
  const size_t w = size_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  float a[K], s[K] = {};
  size_t row;
  if (!setup<Row, K>(p, w / chunks, Row::rows(p), lane, a, row)) return;
  const Row r(p, row);
  const int c = int(w % chunks), N = r.states();
  const float ds = scan_span<Row, K>(r, lane, s, a, c * kChunk, min(r.len(), (c + 1) * kChunk), false);
#pragma unroll
  for (int k = 0; k < K; ++k)
    if (lane + 32 * k < N) local[(row * chunks + c) * N + lane + 32 * k] = s[k];
  if (lane == 0) dsum[row * chunks + c] = ds;
}

// Pass 2: states entering each chunk, from the inference state; the final one goes back to it.
template <class Row, int K, class P>
__global__ void propagate_kernel(P p, float* state, const float* local, const float* dsum, float* entering, int chunks) {
  const int lane = threadIdx.x & 31;
  const size_t w = size_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  float a[K], s[K];
  size_t row;
  if (!setup<Row, K>(p, w, Row::rows(p), lane, a, row)) return;
  const int N = Row(p, row).states();
#pragma unroll
  for (int k = 0; k < K; ++k) s[k] = lane + 32 * k < N ? state[row * N + lane + 32 * k] : 0.0f;
  for (int c = 0; c < chunks; ++c) {
    const float ds = dsum[row * chunks + c];
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int n = lane + 32 * k;
      if (n < N) {
        entering[(row * chunks + c) * N + n] = s[k];
        s[k] = expf(ds * a[k]) * s[k] + local[(row * chunks + c) * N + n];
      }
    }
  }
#pragma unroll
  for (int k = 0; k < K; ++k)
    if (lane + 32 * k < N) state[row * N + lane + 32 * k] = s[k];
}

unsigned blocks_for(size_t warps) { return unsigned((warps + kWarps - 1) / kWarps); }

template <class Row, int K, class P>
void run_scan(const P& p, size_t rows, int len, int N, float* state) {
  const int chunks = (len + kChunk - 1) / kChunk;
  if (chunks <= 1) {
    emit_kernel<Row, K><<<blocks_for(rows), 32 * kWarps>>>(p, state, state, 1);
    check_launch("scan");
    return;
  }
  Tensor local = Tensor::empty({int64_t(rows) * chunks * N}, DType::F32, Device::CUDA);
  Tensor entering = Tensor::empty({int64_t(rows) * chunks * N}, DType::F32, Device::CUDA);
  Tensor dsum = Tensor::empty({int64_t(rows) * chunks}, DType::F32, Device::CUDA);
  local_kernel<Row, K><<<blocks_for(rows * chunks), 32 * kWarps>>>(p, local.f32(), dsum.f32(), chunks);
  check_launch("scan: chunk states");
  propagate_kernel<Row, K><<<blocks_for(rows), 32 * kWarps>>>(p, state, local.f32(), dsum.f32(), entering.f32(), chunks);
  check_launch("scan: state passing");
  emit_kernel<Row, K><<<blocks_for(rows * chunks), 32 * kWarps>>>(p, entering.f32(), nullptr, chunks);
  check_launch("scan: chunk outputs");
}

// Dispatch on states per lane: the smallest register array that holds d_state.
template <class Row, class P>
void dispatch(const P& p, size_t rows, int len, int N, float* state) {
  if (rows == 0 || len == 0) return;
  if (N <= 32) run_scan<Row, 1>(p, rows, len, N, state);
  else if (N <= 64) run_scan<Row, 2>(p, rows, len, N, state);
  else if (N <= 128) run_scan<Row, 4>(p, rows, len, N, state);
  else if (N <= 256) run_scan<Row, 8>(p, rows, len, N, state);
  else throw Error("cuda", "d_state", std::to_string(N) + " is above the 256 the CUDA scans support");
}
}  // namespace

void selective_scan(const SelectiveScanParams& p) {
  dispatch<Mamba1>(p, size_t(p.batch) * p.d_inner, p.len, p.d_state, p.ssm_state);
}

void ssd_recurrent(const SsdParams& p) {
  dispatch<Mamba2>(p, size_t(p.batch) * p.n_heads * p.head_dim, p.len, p.d_state, p.ssm_state);
}

}  // namespace perfmamba::cuda
