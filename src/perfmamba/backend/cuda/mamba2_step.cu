// The Mamba-2 layers of a batch-1 decode step as one kernel: for each layer the residual add and
// norm, in_proj (z, xBC, dt), conv step, SSD step, gated group RMSNorm and out_proj. Op by op a
// layer is 6 kernels, each boundary leaving the memory system idle (see mamba1_step.cu, which
// this kernel follows).
//
// One block per SM owns a slice of the d_inner channels: their x and z rows of in_proj, their
// conv, SSD states and gate. B, C and dt are inputs of every channel, so their in_proj rows (a
// few per block) go first; the block convolves them, publishes them and arrives at the grid's
// first barrier, and only waits on it after streaming its own rows, by which time every block has
// long arrived. The gated norm needs each group's sum of squares: each block writes its own
// partial sums (no atomics: the step is reproducible) and the grid meets again before out_proj,
// whose input is every channel. Then once more between layers. So two meetings a layer are
// exposed, against three for Mamba-1's x_proj.
#include <algorithm>
#include <cstdint>
#include <memory>

#include "perfmamba/backend/cuda/device_info.hpp"
#include "perfmamba/backend/cuda/kernels.cuh"
#include "perfmamba/backend/cuda/layer_step.cuh"
#include "perfmamba/backend/cuda/step_trace.cuh"

namespace perfmamba::cuda {
namespace {
using namespace layer_step;

// Shared memory of a block, in floats (each region starts 16-byte aligned).
struct Layout {
  int vec, zv, xc, bcd, part, rstd;                                               // work
  int conv_wx, conv_bx, conv_sx, conv_ws, conv_bs, conv_ss, state, heads, gnorm;  // staged slices
  int total;
};

constexpr int kMaxLayers = 64;  // layers a launch runs (their arguments fill 13 of the 32 KiB)

struct LayerArgs {
  Mamba2StepParams p;
  const void *in_proj, *out_proj;  // bf16 copies
};

struct StepArgs {
  LayerArgs layer[kMaxLayers];
  int layers;
  unsigned long long* barrier;
  // [d_inner] y * silu(z), before the norm's scale (every block's out_proj input), then
  // [blocks, n_groups] each block's sums of squares of its part of y: read in one round trip.
  float* y;
  float* bcd;                 // [2 n_groups d_state + n_heads]: B and C after the conv, then Δ
  unsigned long long* trace;  // phase stamps (a measuring build; see step_trace.cuh)
  bool early;  // the bf16 weights were made before the previous kernel: read them before waiting
  Layout s;    // sized for the largest layer
};

// in_proj's rows [B, C, dt] are shared by every channel; z, x, B, C, dt is their order in it.
__host__ __device__ __forceinline__ int shared_rows(const Mamba2StepParams& p) {
  return 2 * p.n_groups * p.d_state + p.n_heads;
}
__device__ __forceinline__ size_t conv_dim(const Mamba2StepParams& p) {
  return size_t(p.d_inner) + 2 * p.n_groups * p.d_state;
}

template <bool kVec>
struct LayerStep {
  using T = typename Pieces<kVec>::T;
  static constexpr int kElems = Pieces<kVec>::kElems;
  const StepArgs& a;
  const Layout& L;
  float* smem;
  T (&cur)[kUnroll];
  GridBarrier& bar;
  const int t = threadIdx.x, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, grid = gridDim.x,
            b = blockIdx.x;

  // This block's channels [c0, c0 + nc) and shared rows [s0, s0 + ns) (of which the first nbc
  // are B or C rows, convolved like x) of layer l.
  __device__ __forceinline__ int c0(int l) const { return share(a.layer[l].p.d_inner, b, grid); }
  __device__ __forceinline__ int nc(int l) const {
    return share(a.layer[l].p.d_inner, b + 1, grid) - c0(l);
  }
  __device__ __forceinline__ int s0(int l) const {
    return share(shared_rows(a.layer[l].p), b, grid);
  }
  __device__ __forceinline__ int ns(int l) const {
    return share(shared_rows(a.layer[l].p), b + 1, grid) - s0(l);
  }
  __device__ __forceinline__ int nbc(int l) const {
    const Mamba2StepParams& p = a.layer[l].p;
    return max(0, min(ns(l), 2 * p.n_groups * p.d_state - s0(l)));
  }
  // The block's rows of in_proj: its shared rows, then its x rows, then its z rows.
  __device__ __forceinline__ Gemv<kVec> in_proj(int l) const {
    const Mamba2StepParams& p = a.layer[l].p;
    const int E = p.d_inner, ns = this->ns(l), nc = this->nc(l), c0 = this->c0(l);
    return {static_cast<const T*>(a.layer[l].in_proj),
            p.d_model / kElems,
            ns + 2 * nc,
            ns,
            2 * E + s0(l),
            E + c0,
            ns + nc,
            c0};
  }
  __device__ __forceinline__ int split(const Gemv<kVec>& in, int l) const {
    return ns(l) * in.chunks();
  }

  __device__ __forceinline__ void stage_weights(int l) const {
    const Mamba2StepParams& p = a.layer[l].p;
    const int E = p.d_inner, H = p.n_heads, K = p.d_conv, c0 = this->c0(l), nc = this->nc(l),
              s0 = this->s0(l), nbc = this->nbc(l);
    const Gemv<kVec> in = in_proj(l);
    in.prefetch(cur, split(in, l));
    copy_async<kThreads>(smem + L.vec, p.norm, p.d_model);  // u: scaled in place by the norm
    copies_group();                                         // the norm waits for this group only
    copy_async<kThreads>(smem + L.conv_wx, p.conv_weight + size_t(c0) * K, nc * K);
    copy_async<kThreads>(smem + L.conv_ws, p.conv_weight + size_t(E + s0) * K, nbc * K);
    if (p.conv_bias) {
      copy_async<kThreads>(smem + L.conv_bx, p.conv_bias + c0, nc);
      copy_async<kThreads>(smem + L.conv_bs, p.conv_bias + E + s0, nbc);
    }
    copy_async<kThreads>(smem + L.heads, p.A, H);
    copy_async<kThreads>(smem + L.heads + H, p.D, H);
    copy_async<kThreads>(smem + L.heads + 2 * H, p.dt_bias, H);
    copy_async<kThreads>(smem + L.gnorm, p.gated_norm, E);
    copies_group();
  }
  __device__ __forceinline__ void stage_states(int l) const {
    const Mamba2StepParams& p = a.layer[l].p;
    const int E = p.d_inner, c0 = this->c0(l), nc = this->nc(l), s0 = this->s0(l), ns = this->ns(l),
              nbc = this->nbc(l);
    const size_t CD = conv_dim(p);
    for (int j = 0; j < p.d_conv - 1; ++j) {
      copy_async<kThreads>(smem + L.conv_sx + j * nc, p.conv_state + j * CD + c0, nc);
      copy_async<kThreads>(smem + L.conv_ss + j * ns, p.conv_state + j * CD + E + s0, nbc);
    }
    copy_async<kThreads>(smem + L.state, p.ssm_state + size_t(c0) * p.d_state, nc * p.d_state);
    copies_group();
  }

  __device__ __forceinline__ void finish(int) const {}  // out_proj wrote out itself
  __device__ __forceinline__ void run(int l) const;
};

template <bool kVec>
__device__ __forceinline__ void LayerStep<kVec>::run(int l) const {
  const Mamba2StepParams& p = a.layer[l].p;
  const int D = p.d_model, E = p.d_inner, N = p.d_state, H = p.n_heads, G = p.n_groups,
            K = p.d_conv, GN = G * N, S = shared_rows(p), group_size = E / G;
  const size_t CD = conv_dim(p);
  const int c0 = this->c0(l), nc = this->nc(l), s0 = this->s0(l), ns = this->ns(l);
  const int r0 = share(D, b, grid), nr = share(D, b + 1, grid) - r0;
  float *u = smem + L.vec, *hn = u + D, *ybuf = smem + L.vec;  // ybuf replaces u and hn
  float *v = smem + L.zv, *z = v + nc, *xc = smem + L.xc, *bcd = smem + L.bcd,
        *part = smem + L.part, *rstd = smem + L.rstd, *ssb = ybuf + E;
  const float *A = smem + L.heads, *skip = A + H, *dt_bias = A + 2 * H, *gnorm = smem + L.gnorm,
              *state = smem + L.state;
  const float* bias = p.in_proj_bias;
  const Gemv<kVec> in = in_proj(l);
  const int split = this->split(in, l);

  stamp(a.trace, l, 0);
  residual_norm<2>(p.residual, p.delta, D, p.eps, u, hn);
  stamp(a.trace, l, 1);

  // The shared rows: B and C through the conv, Δ through softplus, published for every block.
  in.run(u, part, cur, split, 0, split);
  copies_done();  // every staged slice (includes a __syncthreads)
  for (int i = t; i < ns; i += kThreads) {
    const int s = s0 + i;
    const float val = in.total(part, i) + (bias ? bias[2 * E + s] : 0.0f);
    if (s < 2 * GN) {
      a.bcd[s] = conv_step(val, smem + L.conv_ws + i * K, p.conv_bias ? smem[L.conv_bs + i] : 0.0f,
                           smem + L.conv_ss + i, ns, K, p.conv_state + E + s, CD);
    } else {
      float d = softplus(val + dt_bias[s - 2 * GN]);
      if (p.dt_max > 0.0f) d = fminf(fmaxf(d, p.dt_min), p.dt_max);
      a.bcd[s] = d;
    }
  }
  stamp(a.trace, l, 2);
  bar.arrive();  // the shared rows are published: waited for after this block's own rows

  // This block's x and z rows, then the conv of its x.
  in.run(u, part, cur, split, split);
  __syncthreads();
  for (int i = t; i < nc; i += kThreads) {
    const float x = in.total(part, ns + i) + (bias ? bias[E + c0 + i] : 0.0f);
    z[i] = in.total(part, ns + nc + i) + (bias ? bias[c0 + i] : 0.0f);
    xc[i] = conv_step(x, smem + L.conv_wx + i * K, p.conv_bias ? smem[L.conv_bx + i] : 0.0f,
                      smem + L.conv_sx + i, nc, K, p.conv_state + c0 + i, CD);
  }
  stamp(a.trace, l, 3);
  bar.wait();
  batched_read(a.bcd, S, [&](int i, float val) { bcd[i] = val; });
  if (b == 0 && p.delta)
    for (int i = t; i < D; i += kThreads) p.residual[i] = hn[i];  // every block has read it
  __syncthreads();

  stamp(a.trace, l, 4);
  // SSD step: a warp a channel, lanes over the states; then the D skip and the gate.
  const int heads_per_group = H / G;
  for (int i = warp; i < nc; i += kWarps) {
    const int c = c0 + i, h = c / p.head_dim, g = h / heads_per_group;
    const float d = bcd[2 * GN + h], decay = expf(d * A[h]), x = xc[i], dx = d * x;
    const float *B = bcd + g * N, *C = bcd + GN + g * N;
    float acc = 0.0f;
    for (int n = lane; n < N; n += 32) {
      const float s = decay * state[i * N + n] + dx * B[n];
      p.ssm_state[size_t(c) * N + n] = s;
      acc += s * C[n];
    }
    acc = warp_sum(acc);
    if (lane == 0) v[i] = (acc + skip[h] * x) * silu(z[i]);
  }
  __syncthreads();
  for (int i = t; i < nc; i += kThreads) a.y[c0 + i] = v[i];
  // The gated norm's sums of squares, this block's part of each group (zero where it has none).
  for (int g = warp; g < G; g += kWarps) {
    const int lo = max(c0, g * group_size), hi = min(c0 + nc, (g + 1) * group_size);
    float ss = 0.0f;
    for (int c = lo + lane; c < hi; c += 32) ss += v[c - c0] * v[c - c0];
    ss = warp_sum(ss);
    if (lane == 0) a.y[E + b * G + g] = ss;
  }

  const Gemv<kVec> outp{static_cast<const T*>(a.layer[l].out_proj), E / kElems, nr, nr, r0, r0};
  stamp(a.trace, l, 5);
  bar.arrive();
  outp.prefetch(cur);  // out_proj's first rows load while the grid gathers
  bar.wait();
  stamp(a.trace, l, 6);

  // The gated norm: all of y and every block's sums (in block order: reproducible), in one
  // round trip up to 8192 values.
  batched_read<16>(a.y, E + grid * G, [&](int i, float val) { ybuf[i] = val; });
  __syncthreads();
  for (int g = warp; g < G; g += kWarps) {
    float ss = 0.0f;
    for (int j = lane; j < grid; j += 32) ss += ssb[j * G + g];
    ss = warp_sum(ss);
    if (lane == 0) rstd[g] = rsqrtf(ss / float(group_size) + p.eps);
  }
  __syncthreads();
  for (int i = t; i < E; i += kThreads)
    ybuf[i] = round_bf16(gnorm[i] * (ybuf[i] * rstd[i / group_size]));
  __syncthreads();
  stamp(a.trace, l, 7);
  outp.run(ybuf, part, cur);
  __syncthreads();
  for (int i = t; i < nr; i += kThreads)
    p.out[r0 + i] = outp.total(part, i) + (p.out_proj_bias ? p.out_proj_bias[r0 + i] : 0.0f);
  stamp(a.trace, l, 8);
}

template <bool kVec>
__global__ void __launch_bounds__(kThreads, 1)
    mamba2_step_kernel(const __grid_constant__ StepArgs a) {
  extern __shared__ float4 smem4[];
  typename Pieces<kVec>::T cur[kUnroll];
  GridBarrier bar{a.barrier};
  const LayerStep<kVec> step{a, a.s, reinterpret_cast<float*>(smem4), cur, bar};
  run_layers(step, a.layers, a.early, bar);
}

// The largest sizes of a launch's layers (d_inner, d_state, n_heads may differ: pruned layers);
// false where they differ in anything else or do not make a Mamba-2 layer.
bool largest(const Mamba2StepParams* p, int n, Mamba2StepParams& out, bool& vec) {
  if (n <= 0) return false;
  out = p[0];
  vec = true;
  for (int i = 0; i < n; ++i) {
    const Mamba2StepParams& q = p[i];
    if (q.d_model <= 0 || q.d_inner <= 0 || q.d_state <= 0 || q.n_heads <= 0 || q.head_dim <= 0 ||
        q.n_groups <= 0 || q.d_conv <= 0 || q.n_heads * q.head_dim != q.d_inner ||
        q.n_heads % q.n_groups != 0)
      return false;
    if (q.d_model != out.d_model || q.n_groups != out.n_groups || q.d_conv != out.d_conv)
      return false;
    out.d_inner = std::max(out.d_inner, q.d_inner);
    out.d_state = std::max(out.d_state, q.d_state);
    out.n_heads = std::max(out.n_heads, q.n_heads);
    vec = vec && q.d_model % 8 == 0 && q.d_inner % 8 == 0;
  }
  return true;
}

// The shared memory of a launch, sized for its largest layer.
Layout layout(const Mamba2StepParams& p, bool vec, int blocks) {
  const int per_chunk = 32 * kUnroll * (vec ? 8 : 1);
  const auto chunks = [&](int k) { return (k + per_chunk - 1) / per_chunk; };
  const auto per_block = [&](int total) { return (total + blocks - 1) / blocks; };
  const int nc = per_block(p.d_inner), nr = per_block(p.d_model),
            ns = per_block(2 * p.n_groups * p.d_state + p.n_heads), K = p.d_conv;
  Layout s{};
  Regions r;
  s.vec = r.take(std::max(2 * p.d_model, p.d_inner + blocks * p.n_groups));
  s.zv = r.take(2 * nc);
  s.xc = r.take(nc);
  s.bcd = r.take(2 * p.n_groups * p.d_state + p.n_heads);
  s.part = r.take(std::max((ns + 2 * nc) * chunks(p.d_model), nr * chunks(p.d_inner)));
  s.rstd = r.take(p.n_groups);
  s.conv_wx = r.take(nc * K);
  s.conv_bx = r.take(nc);
  s.conv_sx = r.take(nc * (K - 1));
  s.conv_ws = r.take(ns * K);
  s.conv_bs = r.take(ns);
  s.conv_ss = r.take(ns * (K - 1));
  s.state = r.take(nc * p.d_state);
  s.heads = r.take(3 * p.n_heads);
  s.gnorm = r.take(p.d_inner);
  s.total = r.at;
  return s;
}

}  // namespace

size_t step_sums_floats(const Mamba2StepParams& p) {
  return size_t(shared_rows(p));
}
size_t step_y_floats(const Mamba2StepParams& p) {
  return size_t(p.d_inner) + size_t(sm_count()) * p.n_groups;
}

bool mamba2_steps_fit(const Mamba2StepParams* p, int n) {
  Mamba2StepParams big;
  bool vec = false;
  if (!largest(p, n, big, vec)) return false;
  const size_t smem = size_t(layout(big, vec, sm_count()).total) * 4;
  return (vec ? blocks_per_sm<mamba2_step_kernel<true>>(smem)
              : blocks_per_sm<mamba2_step_kernel<false>>(smem)) >= 1;
}

void mamba2_steps(const Mamba2StepParams* p, const Mamba2StepWeights* w, int n,
                  const StepScratch& scratch) {
  const int blocks = sm_count();
  for (int first = 0; first < n; first += kMaxLayers) {
    const int count = std::min(kMaxLayers, n - first);
    Mamba2StepParams big;
    bool vec = false;
    largest(p + first, count, big, vec);
    auto a = std::make_unique<StepArgs>();  // 13 KiB: not on the stack
    a->layers = count;
    a->early = true;
    for (int i = 0; i < count; ++i) {
      const Mamba2StepWeights& wi = w[first + i];
      a->layer[i] = {p[first + i], wi.in_proj, wi.out_proj};
      // Conversions are done once the launch before has passed its wait.
      a->early = a->early && (first > 0 || !wi.just_made);
    }
    a->barrier = scratch.barrier;
    a->y = scratch.y;
    a->bcd = scratch.sums;
    a->s = layout(big, vec, blocks);
    a->trace = trace_stamps(count, blocks);
    const size_t smem = size_t(a->s.total) * 4;
    if (vec)
      launch_chained(mamba2_step_kernel<true>, blocks, kThreads, smem, "mamba2 layer steps", *a);
    else
      launch_chained(mamba2_step_kernel<false>, blocks, kThreads, smem, "mamba2 layer steps", *a);
    static const char* const phases[kTracePhases] = {"start",
                                                     "norm",
                                                     "shared rows; arrive 1",
                                                     "own rows, conv",
                                                     "barrier 1, B C dt read",
                                                     "SSD; arrive 2",
                                                     "barrier 2",
                                                     "gated norm",
                                                     "out_proj"};
    print_trace("mamba2 layer steps", phases, count, blocks);
  }
}

}  // namespace perfmamba::cuda
