// The Mamba-2 layers of a batch-1 decode step as one kernel: for each layer the residual add and
// norm, in_proj (z, xBC, dt), conv step, SSD step, gated group RMSNorm and out_proj. Op by op a
// layer is 6 kernels, each boundary leaving the memory system idle (see mamba1_step.cu, which
// this kernel follows).
//
// One block per SM owns a slice of the d_inner channels: their x and z rows of in_proj, their
// conv, SSD states, gate and columns of out_proj. B, C and dt are inputs of every channel, so
// their in_proj rows (a few per block) go first; the block convolves them, publishes them and
// arrives at the grid's barrier, and only waits on it after streaming its own rows, by which time
// every block has long arrived. out_proj's partial products (and the gated norm's sums of
// squares) are added into the grid's sums; the norm's scale, which needs all of them, is applied
// when the next layer reads out. So the grid meets once a layer in the open, between layers.
#include <algorithm>
#include <cstdint>
#include <memory>

#include "perfmamba/backend/cuda/step/steps.hpp"
#include "perfmamba/backend/cuda/step/layer_step.cuh"

namespace perfmamba::cuda {
namespace {
using namespace layer_step;

// Shared memory of a block, in floats (each region starts 16-byte aligned).
struct Layout {
  int vec, zv, xc, bcd, part, cpart, rstd;                                        // work
  int conv_wx, conv_bx, conv_sx, conv_ws, conv_bs, conv_ss, state, heads, gnorm;  // staged slices
  int total;
};

// n_groups a launch takes (its partial outputs are kept per group).
constexpr int kMaxGroups = 8;

struct LayerArgs {
  Mamba2StepParams p;
  const void* in_proj;     // bf16 copy
  const void* out_proj_t;  // bf16 copy, transposed: [d_inner, d_model]
};

struct StepArgs : LaunchArgs<LayerArgs, Layout> {
  // Weight loads a lane issues per GEMV step. Against 8 on an H100
  // (batch-1 decode, docs/benchmarks-history.md): 5 gained 3 % on mamba2-1.3b, 5 % on
  // mamba2-2.7b and 5-8 % on mamba2-130m/370m; 6 and 7 lost on mamba2-1.3b.
  static constexpr int kUnroll = 5;
  static constexpr int kColumnGroup = kUnroll;  // 8 lost 6 % on mamba2-1.3b
  // Two sets (alternating by layer) of n_groups [d_model] sums of out_proj's partial products,
  // one per norm group, before the gated norm's scale (out_stride floats a set).
  float* outs;
  int out_stride;
  // Two sets of n_groups sums of squares of y * silu(z), for the gated norm's scale. Both kinds
  // of sums are zero before a layer adds into them (and when the launch ends).
  float* squares;
  float* bcd;  // [2 n_groups d_state + n_heads]: B and C after the conv, then Δ
};

// in_proj's rows [B, C, dt] are shared by every channel; z, x, B, C, dt is their order in it.
__host__ __device__ __forceinline__ int shared_rows(const Mamba2StepParams& p) {
  return 2 * p.n_groups * p.d_state + p.n_heads;
}
__device__ __forceinline__ size_t conv_dim(const Mamba2StepParams& p) {
  return size_t(p.d_inner) + 2 * p.n_groups * p.d_state;
}

template <bool kVec>
struct LayerStep : BlockStep<kVec, StepArgs, Layout> {
  using Base = BlockStep<kVec, StepArgs, Layout>;
  using Base::kElems, Base::a, Base::L, Base::smem, Base::cur, Base::bar, Base::t, Base::warp,
      Base::lane, Base::grid, Base::b, Base::c0, Base::nc;
  using typename Base::T, typename Base::RowGemv, typename Base::ColGemv;

  // This block's channels [c0, c0 + nc) and shared rows [s0, s0 + ns) (of which the first nbc
  // are B or C rows, convolved like x) of layer l.
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
  __device__ __forceinline__ RowGemv in_proj(int l) const {
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
  __device__ __forceinline__ int split(const RowGemv& in, int l) const {
    return ns(l) * in.chunks();
  }

  __device__ __forceinline__ void stage_weights(int l) const {
    const Mamba2StepParams& p = a.layer[l].p;
    const int E = p.d_inner, H = p.n_heads, K = p.d_conv, c0 = this->c0(l), nc = this->nc(l),
              s0 = this->s0(l), nbc = this->nbc(l);
    const RowGemv in = in_proj(l);
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
    copy_async<kThreads>(smem + L.gnorm, p.gated_norm + c0, nc);
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

  // Layer l's out, from its parts: Σ_g rstd_g S_g[i] + bias[i], rstd_g the gated norm's scale.
  struct Out {
    const float *sums, *squares, *bias;
    int groups, group_size;
    float eps;
  };
  __device__ __forceinline__ Out out_of(int l) const {
    const Mamba2StepParams& p = a.layer[l].p;
    return {a.outs + (l & 1) * a.out_stride,
            a.squares + (l & 1) * kMaxGroups,
            p.out_proj_bias,
            p.n_groups,
            p.d_inner / p.n_groups,
            p.eps};
  }
  // hn[i] = residual[i] (if any) + out[i] for a layer's out, the loads of one group's sums, the
  // residual and the squares in one round trip (more groups: one more each).
  __device__ __forceinline__ void residual_add(const float* residual, const Out& o, int D,
                                               float* hn) const {
    float* rstd = smem + L.rstd;
    const float squares = t < o.groups ? __ldcg(o.squares + t) : 0.0f;
    constexpr int kBatch = 4;
    for (int base = 0; base < D; base += kBatch * kThreads) {
      float v[kBatch], q[kBatch];
#pragma unroll
      for (int k = 0; k < kBatch; ++k) {
        const int i = base + t + k * kThreads;
        v[k] =
            i < D ? (residual ? __ldcg(residual + i) : 0.0f) + (o.bias ? o.bias[i] : 0.0f) : 0.0f;
        q[k] = i < D ? __ldcg(o.sums + i) : 0.0f;
      }
      if (base == 0) {
        if (t < o.groups) rstd[t] = rsqrtf(squares / float(o.group_size) + o.eps);
        __syncthreads();
      }
#pragma unroll
      for (int k = 0; k < kBatch; ++k) v[k] += rstd[0] * q[k];
      for (int g = 1; g < o.groups; ++g)
#pragma unroll
        for (int k = 0; k < kBatch; ++k) {
          const int i = base + t + k * kThreads;
          v[k] += i < D ? rstd[g] * __ldcg(o.sums + size_t(g) * D + i) : 0.0f;
        }
#pragma unroll
      for (int k = 0; k < kBatch; ++k)
        if (base + t + k * kThreads < D) hn[base + t + k * kThreads] = v[k];
    }
  }
  // Zeroes the sums layer l added into, once every block has read them (block 0 only).
  __device__ __forceinline__ void zero_sums(int l) const {
    float* sums = a.outs + (l & 1) * a.out_stride;
    for (int i = t; i < a.out_stride; i += kThreads) sums[i] = 0.0f;
    if (t < kMaxGroups) a.squares[(l & 1) * kMaxGroups + t] = 0.0f;
  }
  // After the last layer: its out into p.out (the model's buffer), and the sums left zero.
  __device__ __forceinline__ void finish(int last) const {
    bar.arrive();
    bar.wait();
    if (b != 0) return;
    const Mamba2StepParams& p = a.layer[last].p;
    residual_add(nullptr, out_of(last), p.d_model, p.out);
    __syncthreads();
    zero_sums(last);  // the layer before's were zeroed during this one
  }
  __device__ __forceinline__ void run(int l) const;
};

template <bool kVec>
__device__ __forceinline__ void LayerStep<kVec>::run(int l) const {
  const Mamba2StepParams& p = a.layer[l].p;
  const int D = p.d_model, E = p.d_inner, N = p.d_state, H = p.n_heads, G = p.n_groups,
            K = p.d_conv, GN = G * N, S = shared_rows(p), group_size = E / G;
  const size_t CD = conv_dim(p);
  const int c0 = this->c0(l), nc = this->nc(l), s0 = this->s0(l), ns = this->ns(l);
  float *u = smem + L.vec, *hn = u + D;
  float *v = smem + L.zv, *z = v + nc, *xc = smem + L.xc, *bcd = smem + L.bcd,
        *part = smem + L.part, *cpart = smem + L.cpart;
  const float *A = smem + L.heads, *skip = A + H, *dt_bias = A + 2 * H, *gnorm = smem + L.gnorm,
              *state = smem + L.state;
  const float* bias = p.in_proj_bias;
  const RowGemv in = in_proj(l);
  const int split = this->split(in, l);

  stamp(a.trace, l, 0);
  if (l == 0) {
    residual_norm<2>(p.residual, p.delta, D, p.eps, u, hn);
  } else {
    residual_add(p.residual, out_of(l - 1), D, hn);
    rms_scale<2>(D, p.eps, u, hn);
  }
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
  // out_proj's columns of this block's first norm group: the first loads go out now.
  const int first_group = nc > 0 ? c0 / group_size : 0,
            last_group = nc > 0 ? (c0 + nc - 1) / group_size : -1;
  const auto columns = [&](int g) {
    const int lo = max(c0, g * group_size), hi = min(c0 + nc, (g + 1) * group_size);
    return ColGemv{static_cast<const T*>(a.layer[l].out_proj_t) + size_t(lo) * (D / kElems),
                   D / kElems, hi - lo};
  };
  columns(first_group).prefetch(cur);
  stamp(a.trace, l, 3);
  bar.wait();
  batched_read(a.bcd, S, [&](int i, float val) { bcd[i] = val; });
  if (b == 0) {  // every block has read the residual and the sums of the layer before
    if (l > 0 || p.delta)
      for (int i = t; i < D; i += kThreads) p.residual[i] = hn[i];
    if (l > 0) zero_sums(l - 1);
  }
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
  // The gated norm's sums of squares, this block's part of each group, added into the grid's.
  for (int g = first_group + warp; g <= last_group; g += kWarps) {
    const int lo = max(c0, g * group_size), hi = min(c0 + nc, (g + 1) * group_size);
    float ss = 0.0f;
    for (int c = lo + lane; c < hi; c += 32) ss += v[c - c0] * v[c - c0];
    ss = warp_sum(ss);
    if (lane == 0) atomicAdd(a.squares + (l & 1) * kMaxGroups + g, ss);
  }
  __syncthreads();  // v is read above and rewritten below
  // out_proj's input before the norm's scale, which needs every block's sums: the scale goes
  // into the sum instead (out = rstd_g W_g (w y_g) for each group), applied when out is read.
  for (int i = t; i < nc; i += kThreads) v[i] = round_bf16(gnorm[i] * v[i]);
  __syncthreads();
  stamp(a.trace, l, 5);

  // out_proj over this block's channels (columns), group by group, added into the grid's sums:
  // no barrier waits for every channel's y. The additions' order varies from run to run, so the
  // step may differ in the last bits (PERFMAMBA_CUDA_FUSED=0 is reproducible).
  for (int g = first_group; g <= last_group; ++g) {
    const ColGemv cols = columns(g);
    if (g > first_group) cols.prefetch(cur);
    cols.run(v + (max(c0, g * group_size) - c0), cpart, cur);
    __syncthreads();
    stamp(a.trace, l, 6);
    float* out = a.outs + (l & 1) * a.out_stride + size_t(g) * D;
    const int groups = cols.groups();
    const auto column_sum = [&](int r) {
      float sum = 0.0f;
      for (int q = 0; q < groups; ++q) sum += cpart[q * D + r];
      return sum;
    };
    if (D % 4 == 0) {
      for (int r = 4 * t; r < D; r += 4 * kThreads)
        add4(out + r, ColGemv::sum4(cpart, groups, D, r, make_float4(0.0f, 0.0f, 0.0f, 0.0f)));
    } else {
      for (int r = t; r < D; r += kThreads) atomicAdd(out + r, column_sum(r));
    }
    __syncthreads();  // cpart is written again by the next group
  }
  stamp(a.trace, l, 7);
  stamp(a.trace, l, 8);
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
        q.n_heads % q.n_groups != 0 || q.n_groups > kMaxGroups)
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
  const int per_chunk = 32 * StepArgs::kUnroll * (vec ? 8 : 1);
  const auto chunks = [&](int k) { return (k + per_chunk - 1) / per_chunk; };
  const auto per_block = [&](int total) { return (total + blocks - 1) / blocks; };
  const int nc = per_block(p.d_inner), ns = per_block(2 * p.n_groups * p.d_state + p.n_heads),
            K = p.d_conv;
  Layout s{};
  Regions r;
  s.vec = r.take(2 * p.d_model);
  s.zv = r.take(2 * nc);
  s.xc = r.take(nc);
  s.bcd = r.take(2 * p.n_groups * p.d_state + p.n_heads);
  s.part = r.take((ns + 2 * nc) * chunks(p.d_model));
  s.cpart = r.take((nc + StepArgs::kColumnGroup - 1) / StepArgs::kColumnGroup * p.d_model);
  s.rstd = r.take(kMaxGroups);
  s.conv_wx = r.take(nc * K);
  s.conv_bx = r.take(nc);
  s.conv_sx = r.take(nc * (K - 1));
  s.conv_ws = r.take(ns * K);
  s.conv_bs = r.take(ns);
  s.conv_ss = r.take(ns * (K - 1));
  s.state = r.take(nc * p.d_state);
  s.heads = r.take(3 * p.n_heads);
  s.gnorm = r.take(nc);
  s.total = r.at;
  return s;
}

}  // namespace

size_t step_sums_floats(const Mamba2StepParams& p) {
  return size_t(shared_rows(p));
}
size_t step_y_floats(const Mamba2StepParams& p) {
  return 2 * (size_t(p.n_groups) * p.d_model + kMaxGroups);
}

bool mamba2_steps_fit(const Mamba2StepParams* p, int n) {
  Mamba2StepParams big;
  bool vec = false;
  if (!largest(p, n, big, vec)) return false;
  const size_t smem = size_t(layout(big, vec, sm_count()).total) * 4;
  return grid_fits<LayerStep, StepArgs>(vec, smem);
}

void mamba2_steps(const Mamba2StepParams* p, const Mamba2StepWeights* w, int n,
                  const StepScratch& scratch) {
  static const char* const phases[kTracePhases] = {"start",
                                                   "norm",
                                                   "shared rows; arrive 1",
                                                   "own rows, conv",
                                                   "barrier 1, B C dt read",
                                                   "SSD, gate",
                                                   "out_proj columns",
                                                   "out_proj sums added",
                                                   "end"};
  launch_layer_steps<LayerStep, StepArgs>(
      n, kMaxLayers, "mamba2 layer steps", phases, w,
      [&](StepArgs& a, int first, int count, int blocks) {
        Mamba2StepParams big;
        bool vec = false;
        largest(p + first, count, big, vec);
        for (int i = 0; i < count; ++i) {
          const Mamba2StepWeights& wi = w[first + i];
          a.layer[i] = {p[first + i], wi.in_proj, wi.out_proj_t};
        }
        a.barrier = scratch.barrier;
        a.out_stride = big.n_groups * big.d_model;
        a.outs = scratch.y;
        a.squares = scratch.y + 2 * size_t(a.out_stride);
        a.bcd = scratch.sums;
        a.s = layout(big, vec, blocks);
        return vec;
      });
}

}  // namespace perfmamba::cuda
