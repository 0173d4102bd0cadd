// Selective scan (Mamba-1) and SSD in recurrent form (Mamba-2: decode and one-chunk prompts) as
// one chunked recurrence.
//
// A "row" is one scanned channel: (batch, channel) for Mamba-1, (batch, head, head-dim row) for
// Mamba-2. A lane group of kLanes lanes scans a block of R rows that share B and C; each lane
// holds K states of every row in registers, so any d_state up to 256 runs without padding in
// memory (registers round up to K per lane):
//   - d_state <= 32: one thread per row with all states (kLanes = 1). Neighbouring threads are
//     neighbouring channels, so x, Δ, z and y move in whole cache lines, B and C are one
//     broadcast per warp, and no shuffles are needed.
//   - larger d_state: a warp per block of rows, lanes owning every 32nd state, four Mamba-2
//     rows per warp sharing each load of B and C, y a shuffle reduction.
// Mamba-2's A is one scalar per head, so its decay exp(ΔA) is computed once per token, not per
// state. Inputs of the next token are loaded while the current one is computed, and the
// streams read once are prefetched into L1 kAhead tokens early: measured with Nsight Compute,
// waits on global loads were the largest stall.
//
// Too few rows to fill the GPU (batch 1) are made up for by cutting the sequence into chunks
// scanned in parallel, in three passes:
//   1. each (rows, chunk) scans from a zero state and keeps its final state and ΣΔ;
//   2. each row walks its chunks: state entering chunk c = exp(A ΣΔ_{c-1}) state_{c-1} +
//   local_{c-1};
//   3. each (rows, chunk) scans again from its true entering state and writes y.
// That doubles the arithmetic, so the chunk count is only as large as filling the GPU needs;
// when the rows alone fill it (large batch, decode), pass 3 alone runs from the inference state.
#include <cuda_bf16.h>

#include <cstdint>
#include <string>

#include "perfmamba/backend/cuda/common/chained_launch.cuh"
#include "perfmamba/backend/cuda/common/check.hpp"
#include "perfmamba/backend/cuda/common/device_info.hpp"
#include "perfmamba/backend/cuda/scan/scan.hpp"
#include "perfmamba/backend/cuda/scan/scanner.cuh"
#include "perfmamba/core/tensor.hpp"

namespace perfmamba::cuda {
namespace {
using namespace scan_detail;  // NOLINT(google-build-using-namespace): this file's own parts

// Rows of n floats, consecutive in global memory (`rows` of them from src), to and from shared
// memory rows of `stride` floats, a float a thread in turn: whole lines per warp. A thread that
// owns a row and loads its n values itself makes each load of a warp 32 lines (decode at batch
// 64, mamba-1.4b: the scan step's state and A took 65 µs a layer, 515 GB/s, bound by L1
// wavefronts).
template <bool kToShared, class G>
__device__ void copy_rows(float* sh, int stride, G* global, int rows, int n) {
  int r = threadIdx.x / n, k = threadIdx.x % n;
  const int dr = kThreads / n, dk = kThreads % n;
  for (int i = threadIdx.x; i < rows * n; i += kThreads) {
    if constexpr (kToShared)
      sh[r * stride + k] = global[i];
    else
      global[i] = sh[r * stride + k];
    r += dr, k += dk;
    if (k >= n) k -= n, ++r;
  }
}
// Row stride in shared memory for K floats a row: odd, so that the 32 rows a warp reads at once
// are on 32 banks.
template <int K>
constexpr int staged_stride() {
  return K + 1;
}

// Pass 3, and the whole scan when there is one chunk (kOne: decode steps, short prompts): from
// the entering states (or the inference state), emit y; with one chunk, write the final state
// back. Two instances, so that pass 3 keeps the registers it had without the staging.
template <class Rows, int kLanes, int K, int kLoad, bool kOne, class P>
__global__ void __launch_bounds__(kThreads)
    emit_kernel(P p, const float* entering, float* state, int chunks, int chunk_len) {
  wait_for_previous();  // a no-op unless launched chained (decode steps)
  let_next_start();
  const size_t blocks = Rows::blocks(p), rows = Rows::rows(p);
  const Slot<kLanes> slot(blocks, chunks);
  const Rows r(p, slot.block);
  // Mamba-1 blocks whose rows are consecutive channels of one sequence (kTiled) stage A and the
  // state through the tiles' shared memory, free before and after the scan.
  constexpr bool kStaged = kOne && kLoad == kTiled;
  Scanner<Rows, kLanes, K> sc(r, slot.sub, !kStaged);
  constexpr int S = staged_stride<K>();
  extern __shared__ __align__(16) float staging[];
  const size_t row0 = size_t(blockIdx.x) * kThreads;  // with one chunk, the block's first row
  const int block_rows = int(min(size_t(kThreads), blocks - min(blocks, row0)));
  if constexpr (kStaged) {
    static_assert(kLanes == 1 && Rows::R == 1 && kThreads * S <= tiled_floats<K>(), "Mamba-1's");
    const int N = r.states();
    // row `threadIdx.x` of the staged rows, k < N (zero past it), times `scale`
    const auto staged = [&](int k, float scale) {
      return k < N ? staging[threadIdx.x * S + k] * scale : 0.0f;
    };
    copy_rows<true>(staging, S, p.A + size_t(row0 % p.d_inner) * N, block_rows, N);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < K; ++k) sc.a[0][k] = staged(k, kLog2e);
    __syncthreads();
    copy_rows<true>(staging, S, state + row0 * N, block_rows, N);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < K; ++k) sc.s[0][k] = staged(k, 1.0f);
    __syncthreads();  // the tiles are filled next
  } else {
    if constexpr (kOne)
      load_rows_state(sc, state);
    else
      sc.load_state(entering, slot.chunk, rows);
  }
  float dsum[Rows::R] = {};
  const int t0 = kOne ? 0 : slot.chunk * chunk_len,
            t1 = kOne ? r.len() : min(r.len(), t0 + chunk_len);
  sc.template span<kLoad>(t0, t1, kOne ? r.len() : chunk_len, true, slot.valid, dsum);
  if constexpr (kStaged) {  // the span ended on a barrier: the tiles are free
#pragma unroll
    for (int k = 0; k < K; ++k) staging[threadIdx.x * S + k] = sc.s[0][k];
    __syncthreads();
    copy_rows<false>(staging, S, state + row0 * r.states(), block_rows, r.states());
  } else if (kOne && slot.valid) {
#pragma unroll
    for (int j = 0; j < Rows::R; ++j)
#pragma unroll
      for (int k = 0; k < K; ++k)
        if (sc.n(k) < r.states() && r.has(j)) state[r.row(j) * r.states() + sc.n(k)] = sc.s[j][k];
  }
}

// Pass 1: local final states from zero, and ΣΔ per (row, chunk).
template <class Rows, int kLanes, int K, int kLoad, class P>
__global__ void __launch_bounds__(kThreads)
    local_kernel(P p, float* local, float* dsum, int chunks, int chunk_len) {
  wait_for_previous();  // the three passes are chained: each launches while the one before ends
  let_next_start();
  const size_t blocks = Rows::blocks(p), rows = Rows::rows(p);
  const Slot<kLanes> slot(blocks, chunks);
  const Rows r(p, slot.block);
  Scanner<Rows, kLanes, K> sc(r, slot.sub);
#pragma unroll
  for (int j = 0; j < Rows::R; ++j)
#pragma unroll
    for (int k = 0; k < K; ++k) sc.s[j][k] = 0.0f;
  float ds[Rows::R] = {};
  const int t0 = slot.chunk * chunk_len;
  sc.template span<kLoad>(t0, min(r.len(), t0 + chunk_len), chunk_len, false, false, ds);
  if (!slot.valid) return;
  sc.store_state(local, slot.chunk, rows);
  if (slot.sub == 0)
#pragma unroll
    for (int j = 0; j < Rows::R; ++j)
      if (r.has(j)) dsum[size_t(slot.chunk) * rows + r.row(j)] = ds[j];
}

// Pass 2: states entering each chunk, from the inference state; the final one goes back to it.
// One thread per (row, state): the walk over chunks is short and needs no neighbours. The
// buffers are distinct (__restrict__), so the loads of later chunks need not wait for the store
// of each entering state: without it, a walk over 17 chunks was 17 round trips to memory.
template <class Rows, int kLanes, int K, class P>
__global__ void propagate_kernel(P p, float* __restrict__ state, const float* __restrict__ local,
                                 const float* __restrict__ dsum, float* __restrict__ entering,
                                 int chunks) {
  wait_for_previous();
  let_next_start();
  const size_t rows = Rows::rows(p);
  const int N = p.d_state;
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * N) return;
  const size_t row = kLanes == 1 ? i % rows : i / N;
  const int n = kLanes == 1 ? int(i / rows) : int(i % N);
  // the row's A: Mamba-1 has one per (channel, state), Mamba-2 one per head
  float a;
  if constexpr (Rows::kScalarA)
    a = p.A[(row / p.head_dim) % p.n_heads];
  else
    a = p.A[(row % p.d_inner) * N + n];
  float s = state[row * N + n];
#pragma unroll 4
  for (int c = 0; c < chunks; ++c) {
    const size_t at = state_at<kLanes>(c, row, n, rows, N);
    entering[at] = s;
    s = __expf(dsum[size_t(c) * rows + row] * a) * s + local[at];
  }
  state[row * N + n] = s;
}

unsigned grid_for(size_t threads) {
  return unsigned((threads + kThreads - 1) / kThreads);
}

template <class Rows, int kLanes, int K, int kLoad, class P>
void run_scan_as(const P& p, float* state) {
  const size_t blocks = Rows::blocks(p), rows = Rows::rows(p);
  const int len = p.len, N = p.d_state;
  constexpr size_t smem = kLoad == kTiled ? tiled_floats<K>() * sizeof(float) : 0;
  // Chunks scanned in parallel: as many as make one pass's blocks one full wave (the blocks
  // resident at once, from the kernel's occupancy). For the 2.8b shape at L = 2048, 16 chunks
  // (0.97 waves) took 0.27 ms and 17 (1.03 waves) 0.33 ms; more chunks only add state passing.
  static const int resident = [] {
    int n = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(
            &n, emit_kernel<Rows, kLanes, K, kLoad, false, P>, kThreads, smem) != cudaSuccess) {
      cudaGetLastError();  // not to be reported later under another kernel's name
      n = 1;
    }
    return std::max(n, 1);
  }();
  const size_t wave = size_t(resident) * sm_count(), per_chunk = grid_for(blocks * kLanes);
  int chunks = int(std::min<size_t>(wave / per_chunk, size_t((len + kMinChunk - 1) / kMinChunk)));
  chunks = std::max(chunks, 1);
  int chunk_len = len;
  if (chunks > 1) {
    chunk_len = (len + chunks - 1) / chunks;
    chunk_len = (chunk_len + 7) / 8 * 8;
    chunks = (len + chunk_len - 1) / chunk_len;
  }
  if (chunks == 1) {
    launch_chained(emit_kernel<Rows, kLanes, K, kLoad, true, P>, grid_for(blocks * kLanes),
                   kThreads, smem, "scan", p, static_cast<const float*>(nullptr), state, 1, len);
    return;
  }
  const int64_t n_states = int64_t(rows) * chunks * N;
  Tensor local = Tensor::empty({n_states}, DType::F32, Device::CUDA);
  Tensor entering = Tensor::empty({n_states}, DType::F32, Device::CUDA);
  Tensor dsum = Tensor::empty({int64_t(rows) * chunks}, DType::F32, Device::CUDA);
  const unsigned grid = grid_for(blocks * chunks * kLanes);
  launch_chained(local_kernel<Rows, kLanes, K, kLoad, P>, grid, kThreads, smem,
                 "scan: chunk states", p, local.f32(), dsum.f32(), chunks, chunk_len);
  launch_chained(propagate_kernel<Rows, kLanes, K, P>, grid_for(rows * N), kThreads, 0,
                 "scan: state passing", p, state, static_cast<const float*>(local.f32()),
                 static_cast<const float*>(dsum.f32()), entering.f32(), chunks);
  launch_chained(emit_kernel<Rows, kLanes, K, kLoad, false, P>, grid, kThreads, smem,
                 "scan: chunk outputs", p, static_cast<const float*>(entering.f32()),
                 static_cast<float*>(nullptr), chunks, chunk_len);
}

template <class Rows, int kLanes, int K, class P>
void run_scan(const P& p, float* state) {
  if constexpr (kLanes == 1 && K % 4 == 0) {
    const auto aligned = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
    const bool vec = aligned(p.B) && aligned(p.C) && p.ldbc % 4 == 0 && p.d_state % 4 == 0;
    if constexpr (Rows::can_tile())
      if (vec && Rows::block_shares_tokens(p))  // N <= K: pruned layers too
        return run_scan_as<Rows, kLanes, K, kTiled>(p, state);
    if (vec && p.d_state == K) return run_scan_as<Rows, kLanes, K, kExact>(p, state);
    if (vec) return run_scan_as<Rows, kLanes, K, kVec>(p, state);
  }
  run_scan_as<Rows, kLanes, K, kScalar>(p, state);
}

// Lanes per block of rows and states per lane: up to 32 states, one thread per row holds them
// all; beyond, a warp per block of rows, so that each load and store of the state is one whole
// 128-byte line (groups of 4-16 lanes with 16 states each measured 1.4x slower at decode).
template <class Rows1, class RowsWide, class P>
void dispatch(const P& p, float* state) {
  if (p.batch == 0 || p.len == 0 || Rows1::rows(p) == 0) return;
  const int N = p.d_state;
  if (N < 1) throw Error("cuda", "d_state", "must be at least 1");
  if (N <= 4)
    run_scan<Rows1, 1, 4>(p, state);
  else if (N <= 8)
    run_scan<Rows1, 1, 8>(p, state);
  else if (N <= 12)  // 12 and 24: state-pruned layers of 16 and 32 states cost what they keep
    run_scan<Rows1, 1, 12>(p, state);
  else if (N <= 16)
    run_scan<Rows1, 1, 16>(p, state);
  else if (N <= 24)
    run_scan<Rows1, 1, 24>(p, state);
  else if (N <= 32)
    run_scan<Rows1, 1, 32>(p, state);
  else if (N <= 64)
    run_scan<RowsWide, 32, 2>(p, state);
  else if (N <= 128)
    run_scan<RowsWide, 32, 4>(p, state);
  else if (N <= 256)
    run_scan<RowsWide, 32, 8>(p, state);
  else
    throw Error("cuda", "d_state", std::to_string(N) + " is above the 256 the CUDA scans support");
}
}  // namespace

void selective_scan(const SelectiveScanParams& p) {
  if (p.y.is_bf16())
    require(p.ldy == p.d_inner, "cuda", "selective_scan", "a bf16 y is packed (ldy = d_inner)");
  if (p.len == 1 && kernel_options().scan_token && scan_token_step(p)) return;
  ScanArgs args;
  static_cast<SelectiveScanParams&>(args) = p;
  args.y32 = p.y.is_bf16() ? nullptr : p.y.f32();
  args.y16 = p.y.is_bf16() ? static_cast<__nv_bfloat16*>(p.y.data) : nullptr;
  dispatch<Mamba1, Mamba1>(args, args.ssm_state);
}

void ssd_recurrent(const SsdParams& p) {
  if (p.len == 1 && ssd_token_step(p)) return;
  dispatch<Mamba2<1>, Mamba2<4>>(p, p.ssm_state);
}

}  // namespace perfmamba::cuda
