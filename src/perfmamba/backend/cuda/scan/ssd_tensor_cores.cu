// The chunked SSD (see ssd_chunked.cu for the algebra) on bf16 tensor cores. No Q x Q mask per
// head and no scaled copy of x goes through memory:
//   0. B and C rounded to bf16 once ([batch, Lp, G, Np], N padded to Np, a multiple of 8, with
//      zeros), and C Bᵀ per (sequence, chunk, group) in f32 by cuBLAS: heads of a group share it.
//   1. chunk_state: per (sequence, chunk, head) the chunk's own final state, a 64 x 128 tile of it
//      per block:  S[p,n] = Σ_s x[s,p] Δ_s e^{cum_last - cum_s} B[s,n].
//   2. pass_states (ssd_chunks.cuh): the state entering each chunk, stored in bf16.
//   3. chunk_output: per (sequence, chunk, head) 64 of the chunk's rows t and 64 head-dim
//      columns p:
//        y[t,p] = e^{cum_t} Σ_n C[t,n] H_in[p,n]                       (from earlier chunks)
//               + Σ_{s<=t} (C_t·B_s) e^{cum_t - cum_s} Δ_s x[s,p]       (inside the chunk)
//               + D x[t,p]
//      The first sum takes C rows already scaled by e^{cum_t} as they are staged. The second goes
//      64 columns s at a time up to the diagonal: the next block of C Bᵀ (with its running sums
//      and Δ) arrives in shared memory by asynchronous copies while the current one is masked,
//      scaled and multiplied by x. Without those copies, waits on global loads were the largest
//      stall (Nsight Compute, 6.2 of 12.9 cycles between a warp's instructions).
// Operands are rounded to bf16 as they are staged in shared memory, products accumulate in f32
// (WMMA 16x16x16), and the decays come from the running sums in double. Any N, P and group count:
// tiles are padded with zeros in shared memory.
#include <mma.h>

#include <cstdint>

#include "perfmamba/backend/cuda/common/async_copy.cuh"
#include "perfmamba/backend/cuda/common/math.cuh"
#include "perfmamba/backend/cuda/scan/ssd_chunks.cuh"
#include "perfmamba/core/tensor.hpp"

namespace perfmamba::cuda::ssd {
namespace {
using namespace nvcuda;
using bf16 = __nv_bfloat16;

constexpr int kTile = 64;        // rows of every staged tile, and columns of most
constexpr int kStateCols = 128;  // state columns n per chunk_state block
template <int kCols>
using Tile = bf16[kTile][kCols + 8];  // rows stay 16-byte aligned and 4 banks apart
constexpr int kLd = kTile + 8, kLdState = kStateCols + 8;
constexpr int kLdf = kTile + 4;
using TileF = float[kTile][kLdf];
using Acc = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;
template <class Layout>
using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, Layout>;
template <class Layout>
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, Layout>;

// Tiles on their way to shared memory, loaded into registers a step before they are stored, so
// that their global loads are in flight while the tensor cores work on the step before.
//
// bf16 rows: tile[r][c..c+7] = src[r * ld + c..] in 16-byte copies for r < rows and c < cols (a
// multiple of 8), zeros elsewhere.
template <int kThreads, int kCols>
struct RowsBf16 {
  static constexpr int kChunks = kCols / 8, kSlots = kTile * kChunks / kThreads;
  uint4 v[kSlots];
  __device__ void load(const bf16* src, size_t ld, int rows, int cols) {
#pragma unroll
    for (int j = 0; j < kSlots; ++j) {
      const int i = threadIdx.x + j * kThreads, r = i / kChunks, c = i % kChunks * 8;
      v[j] = r < rows && c < cols ? *reinterpret_cast<const uint4*>(src + r * ld + c)
                                  : make_uint4(0, 0, 0, 0);
    }
  }
  __device__ void store(Tile<kCols>& tile) const {
#pragma unroll
    for (int j = 0; j < kSlots; ++j) {
      const int i = threadIdx.x + j * kThreads;
      *reinterpret_cast<uint4*>(&tile[i / kChunks][i % kChunks * 8]) = v[j];
    }
  }
  // The same with row r times scale(r), rounded to bf16 again.
  template <class Scale>
  __device__ void store(Tile<kCols>& tile, Scale scale) const {
#pragma unroll
    for (int j = 0; j < kSlots; ++j) {
      const int i = threadIdx.x + j * kThreads, r = i / kChunks;
      const float k = scale(r);
      __nv_bfloat162 pairs[4];
      *reinterpret_cast<uint4*>(pairs) = v[j];
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const float2 pair = __bfloat1622float2(pairs[q]);
        pairs[q] = __floats2bfloat162_rn(pair.x * k, pair.y * k);
      }
      *reinterpret_cast<uint4*>(&tile[r][i % kChunks * 8]) = *reinterpret_cast<const uint4*>(pairs);
    }
  }
};

// f32 rows rounded to bf16: tile[r][c] = bf16(scale(r) src[r * ld + c]) for r < rows and c < cols,
// zeros elsewhere; 16-byte loads when kVec (src and ld 16-byte aligned, cols a multiple of 4).
template <int kThreads>
struct RowsF32 {
  static constexpr int kQuads = kTile / 4, kSlots = kTile * kQuads / kThreads;
  float4 v[kSlots];
  template <bool kVec>
  __device__ void load(const float* src, size_t ld, int rows, int cols) {
#pragma unroll
    for (int j = 0; j < kSlots; ++j) {
      const int i = threadIdx.x + j * kThreads, r = i / kQuads, c = i % kQuads * 4;
      const float* q = src + r * ld + c;
      const bool in = r < rows && c < cols;
      if (kVec) {
        v[j] = in ? *reinterpret_cast<const float4*>(q) : make_float4(0, 0, 0, 0);
      } else {
        v[j].x = in ? q[0] : 0.0f;
        v[j].y = in && c + 1 < cols ? q[1] : 0.0f;
        v[j].z = in && c + 2 < cols ? q[2] : 0.0f;
        v[j].w = in && c + 3 < cols ? q[3] : 0.0f;
      }
    }
  }
  template <class Scale>
  __device__ void store(Tile<kTile>& tile, Scale scale) const {
#pragma unroll
    for (int j = 0; j < kSlots; ++j) {
      const int i = threadIdx.x + j * kThreads, r = i / kQuads, c = i % kQuads * 4;
      const float k = scale(r);
      const __nv_bfloat162 lo = __floats2bfloat162_rn(v[j].x * k, v[j].y * k);
      const __nv_bfloat162 hi = __floats2bfloat162_rn(v[j].z * k, v[j].w * k);
      uint2 packed;
      packed.x = *reinterpret_cast<const uint32_t*>(&lo),
      packed.y = *reinterpret_cast<const uint32_t*>(&hi);
      *reinterpret_cast<uint2*>(&tile[r][c]) = packed;
    }
  }
};

// Where one (sequence, chunk, head) finds its operands; blockIdx: x = chunk + nc head, z =
// sequence.
struct Operands {
  const SsdParams& p;
  const Dims& d;
  int Np, b, c, h, g, first;  // first: position of the chunk's first token in the sequence
  size_t row;                 // of this (b, h) in delta and cum
  __device__ Operands(const SsdParams& q, const Dims& e, int np)
      : p(q),
        d(e),
        Np(np),
        b(int(blockIdx.z)),
        c(int(blockIdx.x % e.nc)),
        h(int(blockIdx.x / e.nc)),
        g(e.group(h)),
        first(c * e.Q),
        row((size_t(b) * e.H + h) * e.Lp) {}
  // x from position t, column p0 of the head; rows and columns it has from there
  __device__ const float* x(int t, int p0) const {
    return p.x + (size_t(b) * d.len + t) * p.ldx + size_t(h) * d.P + p0;
  }
  __device__ int x_rows(int t) const { return max(0, min(kTile, d.len - t)); }
  // the bf16 copy of B or C ([batch, Lp, G, Np]) from position t, column n0 of the group
  __device__ const bf16* bc(const bf16* m, int t, int n0) const {
    return m + ((size_t(b) * d.Lp + t) * d.G + g) * Np + n0;
  }
  __device__ size_t chunk_head() const { return (size_t(b) * d.nc + c) * d.H + h; }
};

// [batch, Lp, G, Np] bf16 copies of B and C, zeros past the sequence and past N.
__global__ void round_bc_kernel(SsdParams p, Dims d, int Np, bf16* Bh, bf16* Ch) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t GNp = size_t(d.G) * Np;
  if (i >= size_t(d.batch) * d.Lp * GNp) return;
  const int n = int(i % Np), g = int((i / Np) % d.G), t = int((i / GNp) % d.Lp),
            b = int(i / (GNp * d.Lp));
  const bool in = t < d.len && n < d.N;
  const size_t src = (size_t(b) * d.len + t) * p.ldbc + size_t(g) * d.N + n;
  Bh[i] = __float2bfloat16_rn(in ? p.B[src] : 0.0f);
  Ch[i] = __float2bfloat16_rn(in ? p.C[src] : 0.0f);
}

// grid: x = chunk + nc head, y = tiles of 64 p and 128 n, z = sequence. Warps 2 x 4, each a 32 x 32
// part of the tile.
constexpr int kStateThreads = 256;
template <bool kVec>
__global__ void __launch_bounds__(kStateThreads, 2)
    chunk_state_kernel(SsdParams p, Dims d, int Np, const float* delta, const double* cum,
                       const bf16* Bh, float* s_local) {
  constexpr int kStaged = sizeof(Tile<kTile>) + sizeof(Tile<kStateCols>),
                kOut = kTile * (kStateCols + 4) * 4;
  __shared__ __align__(
      32) unsigned char raw[kStaged > kOut ? kStaged : kOut];  // x and B tiles, then the result
  __shared__ float w[2][kTile];
  auto& xs = *reinterpret_cast<Tile<kTile>*>(raw);
  auto& bs = *reinterpret_cast<Tile<kStateCols>*>(raw + sizeof(Tile<kTile>));
  auto& out = *reinterpret_cast<float(*)[kTile][kStateCols + 4]>(raw);
  const Operands o(p, d, Np);
  const int tiles_n = (Np + kStateCols - 1) / kStateCols;
  const int p0 = int(blockIdx.y / tiles_n) * kTile, n0 = int(blockIdx.y % tiles_n) * kStateCols;
  const double last = cum[o.row + o.first + d.Q - 1];
  const int warp = threadIdx.x / 32, wr = warp / 4, wc = warp % 4;
  Acc acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
  RowsF32<kStateThreads> x_next;
  RowsBf16<kStateThreads, kStateCols> b_next;
  // Step s0's tiles into registers and its weights w_s = Δ_s e^{cum_last - cum_s} into w[half].
  const auto fetch = [&](int s0, int half) {
    x_next.template load<kVec>(o.x(s0, p0), p.ldx, o.x_rows(s0), d.P - p0);
    b_next.load(o.bc(Bh, s0, n0), size_t(d.G) * Np, kTile, Np - n0);
    if (threadIdx.x < kTile) {
      const size_t at = o.row + s0 + threadIdx.x;
      w[half][threadIdx.x] = delta[at] * expf(float(last - cum[at]));
    }
  };
  fetch(o.first, 0);
  for (int s0 = o.first, half = 0; s0 < o.first + d.Q; s0 += kTile, half ^= 1) {
    __syncthreads();  // w[half] written; the tiles free
    x_next.store(xs, [&](int r) { return w[half][r]; });
    b_next.store(bs);
    __syncthreads();
    if (s0 + kTile < o.first + d.Q) fetch(s0 + kTile, half ^ 1);
#pragma unroll
    for (int k = 0; k < kTile; k += 16) {
      FragA<wmma::col_major> a[2];  // xᵀ: element (p, s) sits at xs[s][p]
      FragB<wmma::row_major> bb[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(a[i], &xs[k][wr * 32 + 16 * i], kLd);
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(bb[j], &bs[k][wc * 32 + 16 * j], kLdState);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a[i], bb[j], acc[i][j]);
    }
  }
  __syncthreads();
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(&out[wr * 32 + 16 * i][wc * 32 + 16 * j], acc[i][j], kStateCols + 4,
                              wmma::mem_row_major);
  __syncthreads();
  float* dst = s_local + o.chunk_head() * d.P * d.N;
  for (int i = threadIdx.x; i < kTile * kStateCols; i += kStateThreads) {
    const int r = i / kStateCols, n = i % kStateCols;
    if (p0 + r < d.P && n0 + n < d.N) dst[size_t(p0 + r) * d.N + n0 + n] = out[r][n];
  }
}

// grid: x = chunk + nc head, y = (64-row block of the chunk) + (Q / 64) (64-column block of P),
// z = sequence. Warp w owns rows 16w..16w+15 of the block.
constexpr int kOutThreads = 128;
template <bool kVec>
__global__ void __launch_bounds__(kOutThreads, 4)
    chunk_output_kernel(SsdParams p, Dims d, int Np, const float* delta, const double* cum,
                        const bf16* Ch, const float* cb, const bf16* h_in) {
  __shared__ __align__(32) Tile<kTile> cs, hs;  // C and H_in tiles; then the masked block and x
  __shared__ __align__(32) TileF f;             // C·Bᵀ of 64 columns s (copied in ahead), then y
  // running sums of ΔA times log2(e), in f32: their differences are exact enough for bf16 products
  __shared__ float log2_t[kTile], decay_t[kTile];
  // the running sums and Δ of the columns s, copied in a step ahead (two buffers in turn)
  __shared__ double cum_s[2][kTile];
  __shared__ float delta_s[2][kTile];
  auto& ms = cs;
  auto& xs = hs;
  const Operands o(p, d, Np);
  const int row_blocks = d.Q / kTile;
  const int rb = int(blockIdx.y % row_blocks), p0 = int(blockIdx.y / row_blocks) * kTile;
  const int t0 = o.first + rb * kTile;  // the block's rows: t0 .. t0 + 63
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, r_warp = 16 * warp;
  // C·Bᵀ of the block's rows and the 64 columns from s0, into f by asynchronous copies: they
  // arrive while the block works on the step before.
  const float* cb_rows =
      cb + ((size_t(o.b) * d.nc + o.c) * d.G + o.g) * d.Q * d.Q + size_t(t0 - o.first) * d.Q;
  // With it, the running sums and Δ of those columns into buffer `half`.
  const auto fetch_columns = [&](int s0, int half) {
    const float* src = cb_rows + (s0 - o.first);
#pragma unroll 1
    for (int i = threadIdx.x; i < kTile * kTile / 4; i += kOutThreads) {
      const int r = i / (kTile / 4), c = i % (kTile / 4) * 4;
      copy_async_bytes<16>(&f[r][c], src + size_t(r) * d.Q + c);
    }
    if (threadIdx.x < kTile) {
      copy_async_bytes<8>(&cum_s[half][threadIdx.x], cum + o.row + s0 + threadIdx.x);
      copy_async_bytes<4>(&delta_s[half][threadIdx.x], delta + o.row + s0 + threadIdx.x);
    }
    copies_group();
  };
  fetch_columns(o.first, 0);
  if (threadIdx.x < kTile) {
    const double sum = cum[o.row + t0 + threadIdx.x];
    log2_t[threadIdx.x] = float(sum * kLog2e);
    decay_t[threadIdx.x] = expf(float(sum));
  }
  Acc y[4];
#pragma unroll
  for (int j = 0; j < 4; ++j) wmma::fill_fragment(y[j], 0.0f);

  // From earlier chunks: (e^{cum_t} C_t) H_inᵀ, the decay applied to C as it is staged.
  const bf16* hin = h_in + o.chunk_head() * d.P * Np;
  {
    RowsBf16<kOutThreads, kTile> c_next, h_next;
    const auto fetch = [&](int n0) {
      c_next.load(o.bc(Ch, t0, n0), size_t(d.G) * Np, kTile, Np - n0);
      h_next.load(hin + size_t(p0) * Np + n0, Np, d.P - p0, Np - n0);
    };
    fetch(0);
    __syncthreads();  // decay_t
    for (int n0 = 0; n0 < Np; n0 += kTile) {
      c_next.store(cs, [&](int r) { return decay_t[r]; });
      h_next.store(hs);
      __syncthreads();
      if (n0 + kTile < Np) fetch(n0 + kTile);
#pragma unroll
      for (int k = 0; k < kTile; k += 16) {
        FragA<wmma::row_major> a;
        wmma::load_matrix_sync(a, &cs[r_warp][k], kLd);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          FragB<wmma::col_major> hb;  // H_inᵀ: element (n, p) sits at hs[p][n]
          wmma::load_matrix_sync(hb, &hs[16 * j][k], kLd);
          wmma::mma_sync(y[j], a, hb, y[j]);
        }
      }
      __syncthreads();
    }
  }

  // Inside the chunk, 64 columns s at a time up to the diagonal.
  RowsF32<kOutThreads> x_next;
  x_next.template load<kVec>(o.x(o.first, p0), p.ldx, o.x_rows(o.first), d.P - p0);
  for (int s0 = o.first, half = 0; s0 <= t0; s0 += kTile, half ^= 1) {
    copies_done<0>();  // f, cum_s[half] and delta_s[half] hold the columns from s0
    // On the diagonal block, warp w's rows need columns s <= 16w + 15 only.
    const int blocks_s = s0 < t0 ? 4 : warp + 1;
    // The warp masks and scales its own rows: (C_t·B_s) e^{cum_t - cum_s} Δ_s for s <= t, a pair of
    // columns per lane.
    const int s = 2 * lane;
    if (s < 16 * blocks_s) {
      const float ls0 = float(cum_s[half][s] * kLog2e), ls1 = float(cum_s[half][s + 1] * kLog2e);
      const float d0 = delta_s[half][s], d1 = delta_s[half][s + 1];
#pragma unroll 4
      for (int r = r_warp; r < r_warp + 16; ++r) {
        const float2 v = *reinterpret_cast<const float2*>(&f[r][s]);
        const int last = t0 + r - s0;  // columns up to this one are kept
        const float m0 = s <= last ? v.x * exp2_fast(log2_t[r] - ls0) * d0 : 0.0f;
        const float m1 = s + 1 <= last ? v.y * exp2_fast(log2_t[r] - ls1) * d1 : 0.0f;
        *reinterpret_cast<__nv_bfloat162*>(&ms[r][s]) = __floats2bfloat162_rn(m0, m1);
      }
    }
    x_next.store(xs, [](int) { return 1.0f; });
    __syncthreads();  // f is used up
    if (s0 + kTile <= t0) {
      fetch_columns(s0 + kTile, half ^ 1);
      x_next.template load<kVec>(o.x(s0 + kTile, p0), p.ldx, o.x_rows(s0 + kTile), d.P - p0);
    }
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      if (k >= blocks_s) break;
      FragA<wmma::row_major> a;
      wmma::load_matrix_sync(a, &ms[r_warp][16 * k], kLd);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        FragB<wmma::row_major> xb;
        wmma::load_matrix_sync(xb, &xs[16 * k][16 * j], kLd);
        wmma::mma_sync(y[j], a, xb, y[j]);
      }
    }
    __syncthreads();
  }

  // The warp's 16 rows of y into f (only the warp itself reads them back).
#pragma unroll
  for (int j = 0; j < 4; ++j)
    wmma::store_matrix_sync(&f[r_warp][16 * j], y[j], kLdf, wmma::mem_row_major);
  __syncwarp();
  // y = result + D x, a pair of columns per lane (kVec: both in the head, 8-byte aligned). The
  // warp's 16 rows of x are all loaded before any y is stored: the compiler may not move a load
  // above a store (y may alias x as far as it knows), and a load at a time made 16 round trips
  // to memory a warp (waits on global loads were the largest stall, Nsight Compute, H100).
  const float D = p.D[o.h];
  const int c = 2 * lane, col = p0 + c;
  const int rows = max(0, min(16, d.len - (t0 + r_warp)));
  const size_t tok0 = size_t(o.b) * d.len + t0 + r_warp;
  const float* x0 = p.x + tok0 * p.ldx + size_t(o.h) * d.P + col;
  float* y0 = p.y + tok0 * p.ldy + size_t(o.h) * d.P + col;
  float2 xv[16];
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const float* x = x0 + size_t(i) * p.ldx;
    const bool in = i < rows;
    if (kVec) {
      xv[i] = in && col < d.P ? *reinterpret_cast<const float2*>(x) : make_float2(0.0f, 0.0f);
    } else {
      xv[i].x = in && col < d.P ? x[0] : 0.0f;
      xv[i].y = in && col + 1 < d.P ? x[1] : 0.0f;
    }
  }
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    if (i >= rows) break;
    const int r = r_warp + i;
    float* y = y0 + size_t(i) * p.ldy;
    if (kVec) {
      if (col < d.P)
        *reinterpret_cast<float2*>(y) =
            make_float2(f[r][c] + D * xv[i].x, f[r][c + 1] + D * xv[i].y);
    } else {
      if (col < d.P) y[0] = f[r][c] + D * xv[i].x;
      if (col + 1 < d.P) y[1] = f[r][c + 1] + D * xv[i].y;
    }
  }
}

Tensor scratch(size_t n, DType type) {
  return Tensor::empty({int64_t(n)}, type, Device::CUDA);
}
int tiles(int n, int size) {
  return (n + size - 1) / size;
}
}  // namespace

void chunked_on_tensor_cores(const SsdParams& p, cublasHandle_t blas, int Q) {
  const Dims d = dims_of(p, Q);
  const int Np = (d.N + 7) / 8 * 8;
  const size_t per_head = size_t(d.batch) * d.H * d.Lp, chunk_heads = size_t(d.batch) * d.nc * d.H;
  const size_t bc_size = size_t(d.batch) * d.Lp * d.G * Np;
  Tensor delta = scratch(per_head, DType::F32), cum = scratch(2 * per_head, DType::F32);
  Tensor bh = scratch(bc_size, DType::BF16), ch = scratch(bc_size, DType::BF16);
  Tensor cb = scratch(size_t(d.batch) * d.nc * d.G * Q * Q, DType::F32);
  Tensor s_local = scratch(chunk_heads * d.P * d.N, DType::F32),
         h_in = scratch(chunk_heads * d.P * Np, DType::BF16);
  double* sums = reinterpret_cast<double*>(cum.raw());
  bf16 *Bh = static_cast<bf16*>(bh.raw()), *Ch = static_cast<bf16*>(ch.raw());
  const auto aligned = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
  const bool vec = aligned(p.x) && aligned(p.y) && p.ldx % 4 == 0 && p.ldy % 4 == 0 && d.P % 4 == 0;

  chunk_sums(p, d, delta.f32(), sums);
  round_bc_kernel<<<unsigned((bc_size + 255) / 256), 256>>>(p, d, Np, Bh, Ch);
  check_launch("ssd: B and C in bf16");
  // cb[t][s] = C_t·B_s per (sequence, chunk, group): column-major cuBLAS computes cbᵀ = B Cᵀ.
  const float one = 1.0f, zero = 0.0f;
  const long long ld = (long long)d.G * Np, stride = ld * Q;
  for (int g = 0; g < d.G; ++g)
    PM_CUDA(cublasGemmStridedBatchedEx(
        blas, CUBLAS_OP_T, CUBLAS_OP_N, Q, Q, Np, &one, Bh + size_t(g) * Np, CUDA_R_16BF, int(ld),
        stride, Ch + size_t(g) * Np, CUDA_R_16BF, int(ld), stride, &zero,
        cb.f32() + size_t(g) * Q * Q, CUDA_R_32F, Q, (long long)d.G * Q * Q, d.batch * d.nc,
        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  const unsigned items = unsigned(d.nc) * d.H;
  const dim3 state_grid(items, tiles(d.P, kTile) * tiles(Np, kStateCols), d.batch);
  (vec ? chunk_state_kernel<true> : chunk_state_kernel<false>)<<<state_grid, kStateThreads>>>(
      p, d, Np, delta.f32(), sums, Bh, s_local.f32());
  check_launch("ssd: chunk states");
  pass_states(d, Np, p.ssm_state, s_local.f32(), sums, static_cast<bf16*>(h_in.raw()));
  const dim3 out_grid(items, (Q / kTile) * tiles(d.P, kTile), d.batch);
  (vec ? chunk_output_kernel<true> : chunk_output_kernel<false>)<<<out_grid, kOutThreads>>>(
      p, d, Np, delta.f32(), sums, Ch, cb.f32(), static_cast<const bf16*>(h_in.raw()));
  check_launch("ssd: chunk outputs");
}

}  // namespace perfmamba::cuda::ssd
