// Selective scan (Mamba-1) and SSD in recurrent form (Mamba-2) as one chunked recurrence.
// A "row" is what one group of kLanes lanes scans: (batch, channel) for Mamba-1, (batch, head,
// head-dim row) for Mamba-2. Lanes own d_state / kLanes states each in registers, so any d_state up
// to 256 runs unpadded; small states (Mamba-1's 16, pruned ones) pack 2 or 4 rows into a warp
// instead of idling lanes. Per token the group reduces s . C with shuffles.
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


// Sum over the kLanes lanes of an aligned lane group (every lane of the warp takes part).
template <int kLanes>
__device__ __forceinline__ float group_sum(float v) {
#pragma unroll
  for (int o = kLanes / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// The work item of this lane group: items count rows (x chunks); groups past the end redo the
// last item without writing, so that every lane of the warp stays in the shuffles.
template <int kLanes>
struct Slot {
  size_t item;
  int sub;
  bool valid;
  __device__ Slot(size_t items) {
    const int lane = threadIdx.x & 31;
    const size_t i = (size_t(blockIdx.x) * kWarps + (threadIdx.x >> 5)) * (32 / kLanes) + lane / kLanes;
    sub = lane % kLanes;
    valid = i < items;
    item = valid ? i : items - 1;
  }
};

template <class Row, int kLanes, int K>
__device__ void load_a(const Row& r, int sub, float (&a)[K]) {
#pragma unroll
  for (int k = 0; k < K; ++k) a[k] = sub + kLanes * k < r.states() ? r.A(sub + kLanes * k) : 0.0f;
}

// Scans `steps` token positions from t0 of one row (those at or past t1 are idle), from the state
// in s; writes y when `emit` and the slot is valid. Returns ΣΔ over the active tokens.
template <class Row, int kLanes, int K>
__device__ float scan_span(const Row& r, int sub, bool valid, float (&s)[K], const float (&a)[K], int t0, int t1,
                           int steps, bool emit) {
  const int N = r.states();
  float dsum = 0.0f;
  for (int i = 0; i < steps; ++i) {
    const int t = t0 + i;
    const bool active = t < t1;
    float acc = 0.0f, x = 0.0f;
    if (active) {
      const float d = r.delta(t);
      x = r.x(t);
      const float* Bt = r.B(t);
      const float* Ct = r.C(t);
      dsum += d;
#pragma unroll
      for (int k = 0; k < K; ++k) {
        const int n = sub + kLanes * k;
        if (n < N) {
          s[k] = expf(d * a[k]) * s[k] + d * x * Bt[n];
          if (emit) acc += s[k] * Ct[n];
        }
      }
    }
    if (emit) {
      acc = group_sum<kLanes>(acc);
      if (active && valid && sub == 0) r.out(t, acc, x);
    }
  }
  return dsum;
}

// Pass 3 (and the whole scan when there is one chunk): from `state_in` ([rows, chunks, N]),
// emit y; with one chunk, write the final state back to state_out.
template <class Row, int kLanes, int K, class P>
__global__ void emit_kernel(P p, const float* state_in, float* state_out, int chunks, size_t rows) {
  const Slot<kLanes> slot(rows * chunks);
  const size_t row = slot.item / chunks;
  const int c = int(slot.item % chunks);
  const Row r(p, row);
  const int N = r.states();
  float a[K], s[K];
  load_a<Row, kLanes>(r, slot.sub, a);
  const float* in = state_in + (row * chunks + c) * N;
#pragma unroll
  for (int k = 0; k < K; ++k) s[k] = slot.sub + kLanes * k < N ? in[slot.sub + kLanes * k] : 0.0f;
  const bool single = chunks == 1;
  const int t0 = single ? 0 : c * kChunk, t1 = single ? r.len() : min(r.len(), t0 + kChunk);
  scan_span<Row, kLanes, K>(r, slot.sub, slot.valid, s, a, t0, t1, single ? r.len() : kChunk, true);
  if (state_out && slot.valid) {
#pragma unroll
    for (int k = 0; k < K; ++k)
      if (slot.sub + kLanes * k < N) state_out[row * N + slot.sub + kLanes * k] = s[k];
  }
}

// Pass 1: local final states from zero, and ΣΔ per (row, chunk).
template <class Row, int kLanes, int K, class P>
__global__ void local_kernel(P p, float* local, float* dsum, int chunks, size_t rows) {
  const Slot<kLanes> slot(rows * chunks);
  const size_t row = slot.item / chunks;
  const int c = int(slot.item % chunks);
  const Row r(p, row);
  const int N = r.states();
  float a[K], s[K] = {};
  load_a<Row, kLanes>(r, slot.sub, a);
  const float ds = scan_span<Row, kLanes, K>(r, slot.sub, slot.valid, s, a, c * kChunk, min(r.len(), (c + 1) * kChunk),
                                             kChunk, false);
  if (!slot.valid) return;
#pragma unroll
  for (int k = 0; k < K; ++k)
    if (slot.sub + kLanes * k < N) local[(row * chunks + c) * N + slot.sub + kLanes * k] = s[k];
  if (slot.sub == 0) dsum[row * chunks + c] = ds;
}

// Pass 2: states entering each chunk, from the inference state; the final one goes back to it.
template <class Row, int kLanes, int K, class P>
__global__ void propagate_kernel(P p, float* state, const float* local, const float* dsum, float* entering, int chunks,
                                 size_t rows) {
  const Slot<kLanes> slot(rows);
  if (!slot.valid) return;  // no shuffles below
  const size_t row = slot.item;
  const Row r(p, row);
  const int N = r.states(), sub = slot.sub;
  float a[K], s[K];
  load_a<Row, kLanes>(r, sub, a);
#pragma unroll
  for (int k = 0; k < K; ++k) s[k] = sub + kLanes * k < N ? state[row * N + sub + kLanes * k] : 0.0f;
  for (int c = 0; c < chunks; ++c) {
    const float ds = dsum[row * chunks + c];
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int n = sub + kLanes * k;
      if (n < N) {
        entering[(row * chunks + c) * N + n] = s[k];
        s[k] = expf(ds * a[k]) * s[k] + local[(row * chunks + c) * N + n];
      }
    }
  }
#pragma unroll
  for (int k = 0; k < K; ++k)
    if (sub + kLanes * k < N) state[row * N + sub + kLanes * k] = s[k];
}

template <int kLanes>
unsigned blocks_for(size_t items) {
  const size_t warps = (items + 32 / kLanes - 1) / (32 / kLanes);
  return unsigned((warps + kWarps - 1) / kWarps);
}

template <class Row, int kLanes, int K, class P>
void run_scan(const P& p, size_t rows, int len, int N, float* state) {
  const int chunks = (len + kChunk - 1) / kChunk;
  if (chunks <= 1) {
    emit_kernel<Row, kLanes, K><<<blocks_for<kLanes>(rows), 32 * kWarps>>>(p, state, state, 1, rows);
    check_launch("scan");
    return;
  }
  Tensor local = Tensor::empty({int64_t(rows) * chunks * N}, DType::F32, Device::CUDA);
  Tensor entering = Tensor::empty({int64_t(rows) * chunks * N}, DType::F32, Device::CUDA);
  Tensor dsum = Tensor::empty({int64_t(rows) * chunks}, DType::F32, Device::CUDA);
  local_kernel<Row, kLanes, K><<<blocks_for<kLanes>(rows * chunks), 32 * kWarps>>>(p, local.f32(), dsum.f32(), chunks, rows);
  check_launch("scan: chunk states");
  propagate_kernel<Row, kLanes, K><<<blocks_for<kLanes>(rows), 32 * kWarps>>>(p, state, local.f32(), dsum.f32(),
                                                                             entering.f32(), chunks, rows);
  check_launch("scan: state passing");
  emit_kernel<Row, kLanes, K><<<blocks_for<kLanes>(rows * chunks), 32 * kWarps>>>(p, entering.f32(), nullptr, chunks, rows);
  check_launch("scan: chunk outputs");
}

// Lanes per row and states per lane: the narrowest group that holds d_state in one register
// per lane up to 32 states, then wider register arrays on a full warp.
template <class Row, class P>
void dispatch(const P& p, size_t rows, int len, int N, float* state) {
  if (rows == 0 || len == 0) return;
  if (N <= 8) run_scan<Row, 8, 1>(p, rows, len, N, state);
  else if (N <= 16) run_scan<Row, 16, 1>(p, rows, len, N, state);
  else if (N <= 32) run_scan<Row, 32, 1>(p, rows, len, N, state);
  else if (N <= 64) run_scan<Row, 32, 2>(p, rows, len, N, state);
  else if (N <= 128) run_scan<Row, 32, 4>(p, rows, len, N, state);
  else if (N <= 256) run_scan<Row, 32, 8>(p, rows, len, N, state);
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
