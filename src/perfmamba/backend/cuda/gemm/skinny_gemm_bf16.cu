// The bf16 GEMMs of a decode step at batch 2-8: a few rows of activations against a weight
// matrix, bound by streaming the weights. cuBLASLt's choice moved mamba2-1.3b's out_proj at
// 8 rows at 27-30 % of the copy bandwidth and its in_proj at 47-56 % (H100); a GEMV per row
// (gemv_bf16.cu) runs out of issue slots past one row. Here the tensor cores do the products:
// a warp takes 8 weight rows as mma.sync's B operand and the activation rows as its A operand
// (rows 8-15 zero), both loaded straight from global memory into registers, 16 bytes a load. A
// lane's two 16-byte pieces of a row feed four k16 products; the k order inside a product is
// permuted the same way for both operands, which leaves every dot product unchanged.
#include <algorithm>
#include <cstdint>

#include "perfmamba/backend/cuda/common/chained_launch.cuh"
#include "perfmamba/backend/cuda/common/check.hpp"
#include "perfmamba/backend/cuda/common/device_info.hpp"
#include "perfmamba/backend/cuda/common/options.hpp"
#include "perfmamba/backend/cuda/gemm/gemm.hpp"

namespace perfmamba::cuda {
namespace {
constexpr int kWarps = 8, kThreads = kWarps * 32;
constexpr int kTileRows = 8;     // weight rows of a warp's tile (one mma's B operand)
constexpr int kChunkPieces = 8;  // 16-byte pieces of k a warp takes per chunk: 4 lanes x 2 each

struct SkinnyArgs {
  int m, n, k8, ldc;  // k8: 16-byte pieces a row
  int lda8;           // a's row stride in 16-byte pieces
  const uint4* a;     // bf16 [m, k]
  const uint4* w;     // bf16 [n, k]
  const float* bias;
  float* c;
  bool accumulate;
  int ksplit;           // warps of a block sharing one tile's k range (a power of two <= kWarps)
  int chunks_per_part;  // chunks of kChunkPieces pieces in a warp's share of k
  bool early;           // the weights may be read before the previous kernel is waited for
};

__device__ __forceinline__ void mma_bf16(float (&d)[4], uint32_t a0, uint32_t a2, uint32_t b0,
                                         uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  // a1 and a3 (activation rows 8-15) are zero
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%6,%5,%6}, "
      "{%7,%8}, {%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a2), "r"(0u), "r"(b0), "r"(b1));
#else
  (void)d, (void)a0, (void)a2, (void)b0, (void)b1;
  __trap();  // the host takes this path only where the kernel was built for sm_80 or later
#endif
}

__device__ __forceinline__ uint32_t word(const uint4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

// kU chunks of k loaded together by each lane, two such stages in turn. Lane (g, t) = (lane / 4,
// lane % 4) loads pieces t and t + 4 of each chunk (the four lanes of a row read 64 contiguous
// bytes a load) of weight row g of its warp's tile and of activation row g. Product j of a chunk
// (k16) takes the words 2(j % 2) and 2(j % 2) + 1 of piece t + 4(j / 2) as the k = {2t, 2t+1}
// and {2t+8, 2t+9} of mma's fragments: activations as its A (rows 8-15 zero), weights as its B.
template <int kU>
__global__ void __launch_bounds__(kThreads) skinny_kernel(const SkinnyArgs p) {
  __shared__ float2 part[kWarps][32];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int kpart = warp % p.ksplit, tiles_per_block = kWarps / p.ksplit;
  const int tiles = (p.n + kTileRows - 1) / kTileRows,
            chunks = (p.k8 + kChunkPieces - 1) / kChunkPieces;
  const int ch0 = kpart * p.chunks_per_part, ch1 = min(chunks, ch0 + p.chunks_per_part);
  const uint4 zero = make_uint4(0, 0, 0, 0);
  struct Stage {
    uint4 w[kU][2], a[kU][2];
  };
  // Weights made before the previous kernel depend on nothing it does: the first ones load
  // while it finishes. The activations, and weights just made, only after the wait.
  bool waited = !p.early;
  if (waited) wait_for_previous(), let_next_start();
  const auto fetch = [&](int tile, int ch, Stage& s) {
    const int row = tile * kTileRows + g;
#pragma unroll
    for (int u = 0; u < kU; ++u)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int piece = (ch + u) * kChunkPieces + 4 * h + t;
        s.w[u][h] = row < p.n && ch + u < ch1 && piece < p.k8
                        ? __ldcs(p.w + size_t(row) * p.k8 + piece)  // streamed: not kept in L1
                        : zero;
      }
    if (!waited) wait_for_previous(), let_next_start(), waited = true;
#pragma unroll
    for (int u = 0; u < kU; ++u)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int piece = (ch + u) * kChunkPieces + 4 * h + t;
        s.a[u][h] =
            g < p.m && ch + u < ch1 && piece < p.k8 ? __ldg(p.a + size_t(g) * p.lda8 + piece) : zero;
      }
  };
  const auto multiply = [&](const Stage& s, float(&acc)[4]) {
#pragma unroll
    for (int u = 0; u < kU; ++u)
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int h = j >> 1, q = (j & 1) * 2;
        mma_bf16(acc, word(s.a[u][h], q), word(s.a[u][h], q + 1), word(s.w[u][h], q),
                 word(s.w[u][h], q + 1));
      }
  };

  for (int base = blockIdx.x * tiles_per_block; base < tiles; base += gridDim.x * tiles_per_block) {
    const int tile = base + warp / p.ksplit;
    float acc[4] = {};
    // Two stages in turn: a warp's next chunks load while it multiplies the current ones.
    Stage one, two;
    if (ch0 < ch1) fetch(tile, ch0, one);
    for (int ch = ch0; ch < ch1; ch += 2 * kU) {
      if (ch + kU < ch1) fetch(tile, ch + kU, two);
      multiply(one, acc);
      if (ch + kU >= ch1) break;
      if (ch + 2 * kU < ch1) fetch(tile, ch + 2 * kU, one);
      multiply(two, acc);
    }
    if (!waited) wait_for_previous(), let_next_start(), waited = true;
    // The k parts of a tile, summed in a fixed order by its first warp.
    if (p.ksplit > 1) {
      part[warp][lane] = make_float2(acc[0], acc[1]);
      __syncthreads();
      if (kpart == 0)
        for (int q = 1; q < p.ksplit; ++q) {
          const float2 v = part[warp + q][lane];
          acc[0] += v.x, acc[1] += v.y;
        }
      __syncthreads();  // part is written again for the next tiles
    }
    if (kpart != 0 || tile >= tiles || g >= p.m) continue;
      // Accumulators 0 and 1: activation row g, weight rows 2t and 2t + 1 of the tile.
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int row = tile * kTileRows + 2 * t + e;
      if (row >= p.n) continue;
      float& out = p.c[size_t(g) * p.ldc + row];
      out = (p.accumulate ? out : 0.0f) + (p.bias ? p.bias[row] : 0.0f) + acc[e];
    }
  }
}

// Blocks of the kernel resident on the whole GPU at once.
template <int kU>
int resident_blocks() {
  static const int blocks = [] {
    int b = 0;
    PM_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, skinny_kernel<kU>, kThreads, 0));
    return std::max(b, 1) * sm_count();
  }();
  return blocks;
}

// k is split over as many warps as keep the grid within one wave of resident blocks (a block
// more than the GPU holds would double the kernel's time) and leave each warp two stages at
// least; a grid of more tiles than one wave holds walks over them.
template <int kU>
void launch(SkinnyArgs& p, int tiles, int chunks) {
  const int resident = resident_blocks<kU>();
  const auto blocks = [&](int ksplit) {
    const int tiles_per_block = kWarps / ksplit;
    return (tiles + tiles_per_block - 1) / tiles_per_block;
  };
  p.ksplit = 1;
  while (p.ksplit < kWarps && blocks(2 * p.ksplit) <= resident && chunks / (2 * p.ksplit) >= 2 * kU)
    p.ksplit *= 2;
  p.chunks_per_part = (chunks + p.ksplit - 1) / p.ksplit;  // a stage past a part's end loads zeros
  launch_chained(skinny_kernel<kU>, std::min(blocks(p.ksplit), resident), kThreads, 0,
                 "skinny gemm bf16", p);
}

}  // namespace

bool skinny_gemm_bf16_fits(const GemmParams& p) {
  // mma.sync on bf16 needs sm_80: a build for an older architecture runs cuBLASLt instead
  static const bool built = [] {
    cudaFuncAttributes a{};
    const bool ok = cudaFuncGetAttributes(&a, skinny_kernel<1>) == cudaSuccess;
    if (!ok) cudaGetLastError();  // not to be reported later under another kernel's name
    return ok && a.binaryVersion >= 80;
  }();
  return built && p.m >= 2 && p.m <= kSkinnyMaxRows && p.k % 8 == 0 && p.k > 0 && p.n > 0;
}

void skinny_gemm_bf16(const GemmParams& p, const void* a_bf16, int lda, const void* w_bf16,
                      bool w_just_made) {
  SkinnyArgs s{};
  s.m = p.m, s.n = p.n, s.k8 = p.k / 8, s.ldc = p.ldc, s.lda8 = lda / 8;
  s.a = static_cast<const uint4*>(a_bf16), s.w = static_cast<const uint4*>(w_bf16);
  s.bias = p.bias, s.c = p.c, s.accumulate = p.accumulate, s.early = !w_just_made;
  const int tiles = (p.n + kTileRows - 1) / kTileRows;
  const int chunks = (s.k8 + kChunkPieces - 1) / kChunkPieces;
  // Chunks a stage: 2 made whole-model decode 1-4 % faster for Mamba-1 and 1 % slower for Mamba-2
  // than 1 (H100, batch 2-8; benchmarks-history.md). PERFMAMBA_SKINNY_UNROLL=1 takes one.
  kernel_options().skinny_unroll == 1 ? launch<1>(s, tiles, chunks) : launch<2>(s, tiles, chunks);
}

}  // namespace perfmamba::cuda
