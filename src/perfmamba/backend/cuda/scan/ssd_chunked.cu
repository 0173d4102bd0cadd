// Mamba-2 SSD in its chunked (matrix) form, for prefill. The sequence is cut into chunks of Q
// tokens; with cum_t the running sum of ΔA inside a chunk and H_in the state entering it:
//   y_t   = Σ_{s<=t} (C_t·B_s) e^{cum_t - cum_s} Δ_s x_s   (inside the chunk: a masked Q x Q
//   product)
//         + e^{cum_t} C_t H_in                            (from earlier chunks)
//         + D x_t
//   H_out = e^{cum_last} H_in + Σ_s e^{cum_last - cum_s} Δ_s x_s B_s^T.
// Two paths compute it: in f32 (this file) the four products run as batched cuBLAS GEMMs and
// small kernels do the scaling, masking and combining through scratch copies of x; when the
// backend computes in bf16, ssd_tensor_cores.cu fuses them into two kernels on bf16 tensor cores
// (and one small GEMM).
// Everything is padded to whole chunks with zero Δ, which leaves states and outputs unchanged.
// One chunk or fewer (decode, short prompts) goes to the recurrent kernel.
#include <algorithm>

#include "perfmamba/backend/cuda/common/check.hpp"
#include "perfmamba/backend/cuda/scan/scan.hpp"
#include "perfmamba/backend/cuda/common/math.cuh"
#include "perfmamba/backend/cuda/scan/ssd_chunks.cuh"
#include "perfmamba/core/tensor.hpp"

namespace perfmamba::cuda {
namespace {
constexpr int kThreads = 256;
constexpr int kMaxTokensPerCall = 32768;
constexpr int kMinTensorLen = 16;

using ssd::Dims;

unsigned grid_for(size_t n) {
  return unsigned((n + kThreads - 1) / kThreads);
}

__device__ __forceinline__ size_t thread_index() {
  return size_t(blockIdx.x) * blockDim.x + threadIdx.x;
}

// xd = Δ x and xw = e^{cum_last - cum_t} Δ x, [batch, Lp, E]; B and C copied to [batch, Lp, G*N].
// Rows past the end are zero.
__global__ void scale_kernel(SsdParams p, Dims d, const float* delta, const double* cum, float* xd,
                             float* xw, float* bp, float* cp) {
  const size_t i = thread_index();
  const size_t rows = size_t(d.batch) * d.Lp;
  if (i < rows * d.E) {
    const int e = int(i % d.E), t = int((i / d.E) % d.Lp), b = int(i / (size_t(d.E) * d.Lp)),
              h = e / d.P;
    const size_t row = (size_t(b) * d.H + h) * d.Lp;
    const float v = t < d.len ? p.x[(size_t(b) * d.len + t) * p.ldx + e] * delta[row + t] : 0.0f;
    const int last = (t / d.Q) * d.Q + d.Q - 1;
    xd[i] = v;
    xw[i] = v * expf(float(cum[row + last] - cum[row + t]));
  }
  if (i < rows * d.GN) {
    const int n = int(i % d.GN), t = int((i / d.GN) % d.Lp), b = int(i / (size_t(d.GN) * d.Lp));
    const size_t src = (size_t(b) * d.len + t) * p.ldbc + n;
    bp[i] = t < d.len ? p.B[src] : 0.0f;
    cp[i] = t < d.len ? p.C[src] : 0.0f;
  }
}

// m[(b,c,h)][t][s] = (C_t·B_s) e^{cum_t - cum_s} for s <= t, else 0.
__global__ void mask_kernel(Dims d, const float* cb, const double* cum, float* m) {
  const size_t i = thread_index();
  const size_t QQ = size_t(d.Q) * d.Q;
  if (i >= size_t(d.batch) * d.nc * d.H * QQ) return;
  const int s = int(i % d.Q), t = int((i / d.Q) % d.Q);
  const size_t item = i / QQ;  // (b, c, h)
  const int h = int(item % d.H);
  const size_t bc = item / d.H;
  const int c = int(bc % d.nc), b = int(bc / d.nc);
  if (s > t) {
    m[i] = 0.0f;
    return;
  }
  const double* row = cum + (size_t(b) * d.H + h) * d.Lp + size_t(c) * d.Q;
  m[i] = cb[(bc * d.G + d.group(h)) * QQ + size_t(t) * d.Q + s] * expf(float(row[t] - row[s]));
}

// y = y_diag + e^{cum_t} y_off + D x, for the real tokens.
__global__ void combine_kernel(SsdParams p, Dims d, const float* y_diag, const float* y_off,
                               const double* cum) {
  const size_t i = thread_index();
  if (i >= size_t(d.batch) * d.len * d.E) return;
  const int e = int(i % d.E), t = int((i / d.E) % d.len), b = int(i / (size_t(d.E) * d.len)),
            h = e / d.P;
  const size_t padded = (size_t(b) * d.Lp + t) * d.E + e;
  const size_t tok = size_t(b) * d.len + t;
  const float decay = expf(float(cum[(size_t(b) * d.H + h) * d.Lp + t]));
  p.y[tok * p.ldy + e] = y_diag[padded] + decay * y_off[padded] + p.D[h] * p.x[tok * p.ldx + e];
}

// Operand pointers of the four batched products (see ssd_chunked below for what each is).
struct Buffers {
  float *xd, *xw, *bp, *cp, *cb, *m, *y_diag, *s_local, *h_in, *y_off;
};
__global__ void pointers_kernel(Dims d, Buffers buf, const float** ptr) {
  const size_t i = thread_index();
  const size_t nG = size_t(d.batch) * d.nc * d.G, nH = size_t(d.batch) * d.nc * d.H;
  const size_t QQ = size_t(d.Q) * d.Q, PN = size_t(d.P) * d.N;
  if (i < nG) {  // cb = C B^T per (b, c, g)
    const size_t bc = i / d.G;
    const int g = int(i % d.G);
    ptr[i] = buf.cp + bc * d.Q * d.GN + size_t(g) * d.N;
    ptr[nG + i] = buf.bp + bc * d.Q * d.GN + size_t(g) * d.N;
    ptr[2 * nG + i] = buf.cb + i * QQ;
  }
  if (i < nH) {
    const size_t bc = i / d.H;
    const int h = int(i % d.H), g = d.group(h);
    const size_t x_at = bc * d.Q * d.E + size_t(h) * d.P, bc_at = bc * d.Q * d.GN + size_t(g) * d.N;
    const float** q = ptr + 3 * nG;
    q[i] = buf.m + i * QQ, q[nH + i] = buf.xd + x_at,
    q[2 * nH + i] = buf.y_diag + x_at;  // y_diag = m xd
    q[3 * nH + i] = buf.xw + x_at, q[4 * nH + i] = buf.bp + bc_at,
               q[5 * nH + i] = buf.s_local + i * PN;  // s = xw^T B
    q[6 * nH + i] = buf.cp + bc_at, q[7 * nH + i] = buf.h_in + i * PN,
               q[8 * nH + i] = buf.y_off + x_at;  // y_off = C h_in^T
  }
}

// Row-major c[m,n] = op(a)[m,k] op(b)[k,n] for each item, in f32: column-major cuBLAS computes
// c^T = op(b)^T op(a)^T, the same transposes with the operands swapped.
void batched_gemm(cublasHandle_t blas, bool ta, bool tb, int m, int n, int k, const float* const* a,
                  int lda, const float* const* b, int ldb, const float* const* c, int ldc,
                  int count) {
  const float one = 1.0f, zero = 0.0f;
  PM_CUDA(cublasGemmBatchedEx(blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                              n, m, k, &one, reinterpret_cast<const void* const*>(b), CUDA_R_32F,
                              ldb, reinterpret_cast<const void* const*>(a), CUDA_R_32F, lda, &zero,
                              reinterpret_cast<void* const*>(const_cast<float* const*>(c)),
                              CUDA_R_32F, ldc, count, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

Tensor scratch(size_t n) {
  return Tensor::empty({int64_t(n)}, DType::F32, Device::CUDA);
}

void chunked_f32(const SsdParams& p, cublasHandle_t blas, int Q) {
  const Dims d = ssd::dims_of(p, Q);
  const size_t rows = size_t(d.batch) * d.Lp, nG = size_t(d.batch) * d.nc * d.G,
               nH = size_t(d.batch) * d.nc * d.H;
  const size_t QQ = size_t(Q) * Q, PN = size_t(d.P) * d.N;
  Tensor delta = scratch(size_t(d.batch) * d.H * d.Lp),
         cum_store = scratch(2 * size_t(d.batch) * d.H * d.Lp);
  double* cum = reinterpret_cast<double*>(cum_store.raw());
  Tensor xd = scratch(rows * d.E), xw = scratch(rows * d.E), bp = scratch(rows * d.GN),
         cp = scratch(rows * d.GN);
  Tensor cb = scratch(nG * QQ), m = scratch(nH * QQ), y_diag = scratch(rows * d.E),
         s_local = scratch(nH * PN);
  Tensor h_in = scratch(nH * PN), y_off = scratch(rows * d.E);
  Tensor ptrs = scratch(2 * (3 * nG + 9 * nH));  // pointers, 8 bytes each
  const Buffers buf{xd.f32(), xw.f32(),     bp.f32(),      cp.f32(),   cb.f32(),
                    m.f32(),  y_diag.f32(), s_local.f32(), h_in.f32(), y_off.f32()};
  const float** ptr = reinterpret_cast<const float**>(ptrs.raw());
  const float* const* g1 = ptr;
  const float* const* h = ptr + 3 * nG;

  ssd::chunk_sums(p, d, delta.f32(), cum);
  scale_kernel<<<grid_for(rows * std::max(d.E, d.GN)), kThreads>>>(p, d, delta.f32(), cum, buf.xd,
                                                                   buf.xw, buf.bp, buf.cp);
  check_launch("ssd: scaled inputs");
  pointers_kernel<<<grid_for(std::max(nG, nH)), kThreads>>>(d, buf, ptr);
  check_launch("ssd: operand pointers");
  // cb[Q,Q] = C[Q,N] B[Q,N]^T per (b, c, g)
  batched_gemm(blas, false, true, Q, Q, d.N, g1, d.GN, g1 + nG, d.GN, g1 + 2 * nG, Q, int(nG));
  mask_kernel<<<grid_for(nH * QQ), kThreads>>>(d, buf.cb, cum, buf.m);
  check_launch("ssd: decay mask");
  // y_diag[Q,P] = m[Q,Q] xd[Q,P] per (b, c, h)
  batched_gemm(blas, false, false, Q, d.P, Q, h, Q, h + nH, d.E, h + 2 * nH, d.E, int(nH));
  // s_local[P,N] = xw[Q,P]^T B[Q,N] per (b, c, h)
  batched_gemm(blas, true, false, d.P, d.N, Q, h + 3 * nH, d.E, h + 4 * nH, d.GN, h + 5 * nH, d.N,
               int(nH));
  ssd::pass_states(d, d.N, p.ssm_state, buf.s_local, cum, buf.h_in);
  // y_off[Q,P] = C[Q,N] h_in[P,N]^T per (b, c, h)
  batched_gemm(blas, false, true, Q, d.P, d.N, h + 6 * nH, d.GN, h + 7 * nH, d.N, h + 8 * nH, d.E,
               int(nH));
  combine_kernel<<<grid_for(size_t(d.batch) * d.len * d.E), kThreads>>>(p, d, buf.y_diag, buf.y_off,
                                                                        cum);
  check_launch("ssd: outputs");
}
}  // namespace

void ssd_chunked(const SsdParams& p, cublasHandle_t blas, bool bf16) {
  // Any chunk length gives the same result. In f32, 128 balances the Q x Q masks against the
  // per-chunk states in memory traffic (256 moves a quarter more), and one chunk or less runs
  // the recurrent kernel. The tensor-core path keeps no masks in memory, and the checkpoints' 256
  // halves the states of 128; shorter prompts take shorter chunks (at least two where possible)
  // down to 64, and only prompts under kMinTensorLen tokens run the recurrent kernel (up to 256
  // tokens, it made mamba2-2.7b's prefill slower per token than at 512: benchmarks-history.md).
  int Q = std::clamp(p.chunk_size, 1, 128);
  if (bf16) {
    Q = std::clamp((p.chunk_size + 63) / 64 * 64, 64, ssd::kMaxChunk);
    while (Q > 64 && p.len < 2 * Q) Q /= 2;
  }
  const bool recurrent = bf16 ? p.len < kMinTensorLen : p.len <= Q;
  if (p.batch == 0 || recurrent || p.n_heads == 0 || p.head_dim == 0 || p.d_state == 0)
    return ssd_recurrent(p);
  // The scratch is several copies of x: long batches go a few sequences at a time, and a single
  // long sequence a few whole chunks at a time (the state carries over, so the result is the
  // same).
  if (p.batch == 1 && p.len > kMaxTokensPerCall) {
    const int segment = std::max(Q, kMaxTokensPerCall / Q * Q);
    for (int t0 = 0; t0 < p.len; t0 += segment) {
      SsdParams part = p;
      part.len = std::min(segment, p.len - t0);
      part.x += size_t(t0) * p.ldx, part.B += size_t(t0) * p.ldbc, part.C += size_t(t0) * p.ldbc;
      part.dt += size_t(t0) * p.lddt, part.y += size_t(t0) * p.ldy;
      ssd_chunked(part, blas, bf16);
    }
    return;
  }
  const int per_call = std::max(1, kMaxTokensPerCall / p.len);
  if (p.batch > per_call) {
    for (int b0 = 0; b0 < p.batch; b0 += per_call) {
      SsdParams part = p;
      part.batch = std::min(per_call, p.batch - b0);
      const size_t tok = size_t(b0) * p.len;
      part.x += tok * p.ldx, part.B += tok * p.ldbc, part.C += tok * p.ldbc,
          part.dt += tok * p.lddt;
      part.y += tok * p.ldy, part.ssm_state += size_t(b0) * p.n_heads * p.head_dim * p.d_state;
      ssd_chunked(part, blas, bf16);
    }
    return;
  }
  bf16 ? ssd::chunked_on_tensor_cores(p, blas, Q) : chunked_f32(p, blas, Q);
}

}  // namespace perfmamba::cuda
