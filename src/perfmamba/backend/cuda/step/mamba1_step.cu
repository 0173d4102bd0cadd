// The Mamba-1 layers of a batch-1 decode step as one kernel: for each layer the residual add and
// norm, in_proj, conv step, x_proj, dt_proj, scan step with gate, and out_proj. Op by op a layer
// is 7 kernels, and each boundary leaves the memory system idle through a ramp and a tail: on an
// H100 the in_proj GEMV of mamba-1.4b streamed at 1.83 TB/s on its own where the lm head reached
// 2.78, and the small ops cost 4-9 us each in fixed latency. Here one block per SM owns a slice
// of the channels from in_proj to out_proj (a channel's x and z rows, conv, Δ, states, gate and
// out_proj column are all its own), so the grid meets only twice a layer: after x_proj (its
// output sums every channel) and between layers. A block arrives at the first meeting once its x
// rows, conv and x_proj are done, and computes its z rows (which only the gate needs) before it
// waits there: the memory keeps streaming while the grid gathers. x_proj's and out_proj's partial
// products are added into the grid's sums (two of each, alternating by layer, so that one can be
// zeroed while the other fills). A block requests the weights it needs next before it waits at a
// barrier.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "perfmamba/backend/cuda/step/steps.hpp"
#include "perfmamba/backend/cuda/step/layer_step.cuh"

namespace perfmamba::cuda {
namespace {
using namespace layer_step;

// Shared memory of a block, in floats (each region starts 16-byte aligned).
struct Layout {
  int vec, xz, xc, xcr, dbc, delta, part, prod, cpart;  // work
  // staged copies of this block's slices
  int conv_w, conv_b, conv_s, A, state, dt_bias, skip, xw, dtw;
  int xw_ld;  // x_proj slice: words (bf16 pairs) a row
  int total;
};

struct LayerArgs {
  Mamba1StepParams p;
  const void *in_proj, *x_proj, *dt_proj;  // bf16 copies
  const void* out_proj_t;                  // bf16 copy, transposed: [d_inner, d_model]
};

struct StepArgs : LaunchArgs<LayerArgs, Layout> {
  // Weight loads a lane issues per step of in_proj's GEMV, and columns per item of out_proj's
  // (its loads a thread). H100, batch-1 decode (docs/benchmarks-history.md): 5 and 8
  // against 5 and 5: mamba-1.4b +5.5-6.2 %, mamba-2.8b +3.4-4.1 %; 4 or 6 loads with 8 columns, or
  // 4 columns, were slower; 10 or 12 columns spill registers. The z rows after barrier 1's arrival
  // with 5 and 5 had gained 4.5 % on mamba-2.8b over 8 and 8.
  static constexpr int kUnroll = 5;
  static constexpr int kColumnGroup = 8;
  // Two sets of out_copies [d_model] sums of out_proj's partial products, layer l adding into
  // set l & 1 (kMaxOutCopies * d_model floats a set), block b into its copy b % out_copies;
  // zero before a layer adds into them (and when the launch ends).
  float* outs;
  int out_copies;
  // Two kSumCopies x [dt_rank + 2 d_state] sums of x_proj's partial products (dbc_stride
  // apart), used the same way.
  float* dbc;
  int dbc_stride;
};

// A layer's step for one block; the layers of a launch run one after the other, the grid meeting
// between them. What the next layer reads first (weights, states) is requested before that
// meeting: like the layers' own barriers, the boundary does not stop the stream of weights.
template <bool kVec>
struct LayerStep : BlockStep<kVec, StepArgs, Layout> {
  using Base = BlockStep<kVec, StepArgs, Layout>;
  using Base::kElems, Base::a, Base::L, Base::smem, Base::cur, Base::bar, Base::t, Base::warp,
      Base::lane, Base::grid, Base::b, Base::c0, Base::nc;
  using typename Base::T, typename Base::RowGemv, typename Base::ColGemv;

  __device__ __forceinline__ RowGemv in_proj(int l) const {
    const Mamba1StepParams& p = a.layer[l].p;
    return {static_cast<const T*>(a.layer[l].in_proj),
            p.d_model / kElems,
            2 * nc(l),
            nc(l),
            c0(l),
            p.d_inner + c0(l)};
  }

  // in_proj's steps over this block's x rows (its first nc rows); its z rows come after them.
  __device__ __forceinline__ int x_steps(const RowGemv& in, int l) const {
    return nc(l) * in.chunks();
  }

  // Weights depend on nothing before them: they may load while the previous kernel finishes.
  __device__ __forceinline__ void stage_weights(int l) const {
    const Mamba1StepParams& p = a.layer[l].p;
    const int E = p.d_inner, N = p.d_state, R = p.dt_rank, J = R + 2 * N, c0 = this->c0(l),
              nc = this->nc(l);
    const RowGemv in = in_proj(l);
    in.prefetch(cur, x_steps(in, l));
    copy_async<kThreads>(smem + L.vec, p.norm, p.d_model);  // u: scaled in place by the norm
    copies_group();                                         // the norm waits for this group only
    copy_async<kThreads>(smem + L.conv_w, p.conv_weight + size_t(c0) * p.d_conv, nc * p.d_conv);
    if (p.conv_bias) copy_async<kThreads>(smem + L.conv_b, p.conv_bias + c0, nc);
    copy_async<kThreads>(smem + L.A, p.A + size_t(c0) * N, nc * N);
    copy_async<kThreads>(smem + L.dt_bias, p.dt_bias + c0, nc);
    copy_async<kThreads>(smem + L.skip, p.D + c0, nc);
    // x_proj's columns [c0, c0 + nc) of each row, from the 4-byte word holding column c0. The
    // last word may reach one bf16 past the array: allocations are padded to 512 bytes.
    uint32_t* xw = reinterpret_cast<uint32_t*>(smem + L.xw);
    const uint32_t* words = static_cast<const uint32_t*>(a.layer[l].x_proj);
    for (int i = t; i < J * L.xw_ld; i += kThreads) {
      const int j = i / L.xw_ld, k = i % L.xw_ld;
      const int64_t first = (int64_t(j) * E + c0) / 2;  // word of column c0
      if (2 * (first + k) < int64_t(j) * E + c0 + nc) copy_async(xw + i, words + first + k);
    }
    // dt_proj's rows [c0, c0 + nc): one contiguous range, from the word holding its first value.
    uint32_t* dtw = reinterpret_cast<uint32_t*>(smem + L.dtw);
    const int64_t dt_first = int64_t(c0) * R, dt_end = dt_first + int64_t(nc) * R;
    const uint32_t* dt_words = static_cast<const uint32_t*>(a.layer[l].dt_proj) + dt_first / 2;
    for (int64_t i = t; 2 * (dt_first / 2 + i) < dt_end; i += kThreads)
      copy_async(dtw + i, dt_words + i);
    copies_group();
  }
  // The states: written by this layer's previous step (for the first layer of a launch, read
  // only after waiting on the kernel before it).
  __device__ __forceinline__ void stage_states(int l) const {
    const Mamba1StepParams& p = a.layer[l].p;
    const int c0 = this->c0(l), nc = this->nc(l);
    for (int j = 0; j < p.d_conv - 1; ++j)
      copy_async<kThreads>(smem + L.conv_s + j * nc, p.conv_state + size_t(j) * p.d_inner + c0, nc);
    copy_async<kThreads>(smem + L.state, p.ssm_state + size_t(c0) * p.d_state, nc * p.d_state);
    copies_group();
  }

  // Layer l's copies of out.
  __device__ __forceinline__ float* out_set(int l) const {
    return a.outs + (l & 1) * size_t(kMaxOutCopies) * a.layer[l].p.d_model;
  }
  // Zeroes the sums layer l added into, once every block has read them (block 0 only).
  __device__ __forceinline__ void zero_sums(int l) const {
    const Mamba1StepParams& p = a.layer[l].p;
    float* out = out_set(l);
    for (int i = t; i < a.out_copies * p.d_model; i += kThreads) out[i] = 0.0f;
    float* sums = a.dbc + (l & 1) * a.dbc_stride;
    for (int i = t; i < a.dbc_stride; i += kThreads) sums[i] = 0.0f;
  }
  // After the last layer: its out into p.out (the model's buffer), and the sums left zero.
  __device__ __forceinline__ void finish(int last) const {
    bar.arrive();
    bar.wait();
    if (b != 0) return;
    const Mamba1StepParams& p = a.layer[last].p;
    const float* out = out_set(last);
    batched_sum(
        out, out + p.d_model, p.d_model, [&](int i, float v) { p.out[i] = v; }, a.out_copies - 1,
        size_t(p.d_model));
    __syncthreads();
    zero_sums(last);  // the layer before's were zeroed during this one
  }

  __device__ __forceinline__ void run(int l) const;
};

template <bool kVec>
__device__ __forceinline__ void LayerStep<kVec>::run(int l) const {
  const Mamba1StepParams& p = a.layer[l].p;
  const int D = p.d_model, E = p.d_inner, N = p.d_state, R = p.dt_rank, J = R + 2 * N;
  const int c0 = this->c0(l), nc = this->nc(l);
  float *u = smem + L.vec, *hn = u + D;
  float *xz = smem + L.xz, *xc = smem + L.xc, *xcr = smem + L.xcr, *dbc = smem + L.dbc,
        *delta = smem + L.delta;
  float *part = smem + L.part, *prod = smem + L.prod, *cpart = smem + L.cpart;
  float* sums = a.dbc + (l & 1) * a.dbc_stride;
  float *conv_w = smem + L.conv_w, *conv_b = smem + L.conv_b, *conv_s = smem + L.conv_s;
  float *A = smem + L.A, *state = smem + L.state, *dt_bias = smem + L.dt_bias,
        *skip = smem + L.skip;
  const uint32_t* xw = reinterpret_cast<const uint32_t*>(smem + L.xw);
  const uint32_t* dtw = reinterpret_cast<const uint32_t*>(smem + L.dtw);
  const RowGemv in = in_proj(l);
  const ColGemv outp{static_cast<const T*>(a.layer[l].out_proj_t) + size_t(c0) * (D / kElems),
                     D / kElems, nc};

  // Residual add and norm: each block needs all of u, so each computes it.
  stamp(a.trace, l, 0);
  const float* delta_in = l == 0 ? p.delta : out_set(l - 1);
  residual_norm<2>(p.residual, delta_in, D, p.eps, u, hn, l == 0 ? 1 : a.out_copies);
  stamp(a.trace, l, 1);

  // in_proj's x rows of this block: x_proj needs them, and through it every block. The z rows
  // are needed only by the gate, so they stream while the grid gathers x_proj's sums (the first
  // z loads are in flight through the conv and x_proj).
  const int split = x_steps(in, l);
  in.run(u, part, cur, split, 0, split);
  __syncthreads();
  for (int i = t; i < nc; i += kThreads)
    xz[i] = in.total(part, i) + (p.in_proj_bias ? p.in_proj_bias[c0 + i] : 0.0f);
  __syncthreads();

  stamp(a.trace, l, 2);
  copies_done();  // the rest of this block's slices
  // Conv step with SiLU (the same sum order as the conv kernel), shifting the state.
  for (int i = t; i < nc; i += kThreads) {
    xc[i] = conv_step(xz[i], conv_w + i * p.d_conv, p.conv_bias ? conv_b[i] : 0.0f, conv_s + i, nc,
                      p.d_conv, p.conv_state + c0 + i, E);
    xcr[i] = round_bf16(xc[i]);  // x_proj's input
  }
  __syncthreads();

  // x_proj over this block's channels, a thread a row, added into the grid's sum. The blocks
  // adding into one copy do so in the order they arrive: x_proj's output, and so the step, may
  // differ in the last bits from run to run (PERFMAMBA_CUDA_FUSED=0 is reproducible).
  for (int j = t; j < J && nc > 0; j += kThreads) {
    const unsigned short* row =
        reinterpret_cast<const unsigned short*>(xw + j * L.xw_ld) + (int64_t(j) * E + c0) % 2;
    float acc = 0.0f;
    for (int i = 0; i < nc; ++i) acc = fmaf(bf16_lo(row[i]), xcr[i], acc);
    atomicAdd(sums + (b % kSumCopies) * J + j, acc);
  }
  bar.arrive();
  stamp(a.trace, l, 3);
  in.run(u, part, cur, split, split);  // the z rows
  __syncthreads();
  for (int i = t; i < nc; i += kThreads)
    xz[nc + i] = in.total(part, nc + i) + (p.in_proj_bias ? p.in_proj_bias[E + c0 + i] : 0.0f);
  outp.prefetch(cur);  // out_proj's first columns load while the grid gathers
  bar.wait();
  stamp(a.trace, l, 4);
  for (int j = t; j < J; j += kThreads) {
    float v[kSumCopies], sum = 0.0f;
#pragma unroll
    for (int copy = 0; copy < kSumCopies; ++copy)
      v[copy] = __ldcg(sums + copy * J + j);  // other SMs' sums
#pragma unroll
    for (int copy = 0; copy < kSumCopies; ++copy) sum += v[copy];  // copies in a fixed order
    dbc[j] = j < R ? round_bf16(sum) : sum;                        // dt_proj rounds its input
  }
  if (b == 0) {  // every block has read the residual and the sums of the layer before
    if (delta_in)
      for (int i = t; i < D; i += kThreads) p.residual[i] = hn[i];
    if (l > 0) zero_sums(l - 1);
  }
  __syncthreads();
  // dt_proj from the staged rows: a warp a channel, lanes over the rank.
  const unsigned short* dt_rows =
      reinterpret_cast<const unsigned short*>(dtw) + (int64_t(c0) * R) % 2;
  for (int i = warp; i < nc; i += kWarps) {
    float acc = 0.0f;
    for (int r = lane; r < R; r += 32) acc = fmaf(bf16_lo(dt_rows[i * R + r]), dbc[r], acc);
    acc = warp_sum(acc);
    if (lane == 0) delta[i] = softplus(acc + dt_bias[i]);
  }
  __syncthreads();

  // Scan step: one (channel, state) a thread, the products with C summed per channel below.
  const float *B = dbc + R, *C = dbc + R + N;
  for (int idx = t; idx < nc * N; idx += kThreads) {
    const int i = idx / N, n = idx % N;
    const float d = delta[i], v = expf(d * A[idx]) * state[idx] + d * xc[i] * B[n];
    p.ssm_state[size_t(c0) * N + idx] = v;
    prod[idx] = v * C[n];
  }
  __syncthreads();
  float* y = xcr;  // out_proj's input: this block's channels of the gated scan output
  for (int i = t; i < nc; i += kThreads) {
    float acc = 0.0f;
    for (int n = 0; n < N; ++n) acc += prod[i * N + n];
    y[i] = round_bf16((acc + skip[i] * xc[i]) * silu(xz[nc + i]));
  }
  __syncthreads();
  stamp(a.trace, l, 5);

  // out_proj over this block's channels (columns), added into the grid's sum: no barrier waits
  // for every channel's y. As with x_proj, the order of the additions varies from run to run.
  outp.run(y, cpart, cur);
  __syncthreads();
  stamp(a.trace, l, 6);
  float* out = out_set(l) + (b % a.out_copies) * D;
  const int groups = outp.groups();
  const auto column_sum = [&](int r) {
    float v = b == 0 && p.out_proj_bias ? p.out_proj_bias[r] : 0.0f;
    for (int g = 0; g < groups; ++g) v += cpart[g * D + r];
    return v;
  };
  if (D % 4 == 0) {
    for (int r = 4 * t; r < D && nc > 0; r += 4 * kThreads) {
      const float* bias = b == 0 ? p.out_proj_bias : nullptr;
      const float4 init = bias ? make_float4(bias[r], bias[r + 1], bias[r + 2], bias[r + 3])
                               : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      add4(out + r, ColGemv::sum4(cpart, groups, D, r, init));
    }
  } else {
    for (int r = t; r < D && nc > 0; r += kThreads) atomicAdd(out + r, column_sum(r));
  }
  if (b == 0 && nc == 0 && p.out_proj_bias)  // the bias still goes in once
    for (int r = t; r < D; r += kThreads) atomicAdd(out + r, p.out_proj_bias[r]);
  stamp(a.trace, l, 7);
  stamp(a.trace, l, 8);
}

bool vec_rows(const Mamba1StepParams& p) {
  return p.d_model % 8 == 0 && p.d_inner % 8 == 0 && p.dt_rank % 8 == 0;
}

// The shared memory of a launch, sized for its largest layer (d_inner and d_state the largest of
// its layers; the other sizes are the same in every layer).
Layout layout(const Mamba1StepParams& p, bool vec, int blocks) {
  const int kElems = vec ? 8 : 1, per_chunk = 32 * StepArgs::kUnroll * kElems;
  const auto chunks = [&](int k) { return (k + per_chunk - 1) / per_chunk; };
  const int nc = (p.d_inner + blocks - 1) / blocks;
  const int J = p.dt_rank + 2 * p.d_state;
  Layout s{};
  Regions r;
  const auto take = [&](int floats) { return r.take(floats); };
  s.vec = take(2 * p.d_model);
  s.xz = take(2 * nc);
  s.xc = take(nc);
  s.xcr = take(nc);
  s.dbc = take(J);
  s.delta = take(nc);
  s.part = take(2 * nc * chunks(p.d_model));
  s.prod = take(nc * p.d_state);
  s.cpart = take((nc + StepArgs::kColumnGroup - 1) / StepArgs::kColumnGroup * p.d_model);
  s.conv_w = take(nc * p.d_conv);
  s.conv_b = take(nc);
  s.conv_s = take(nc * (p.d_conv - 1));
  s.A = take(nc * p.d_state);
  s.state = take(nc * p.d_state);
  s.dt_bias = take(nc);
  s.skip = take(nc);
  s.xw_ld = nc / 2 + 2;  // words covering nc columns from any start
  s.xw = take(J * s.xw_ld);
  s.dtw = take(nc * p.dt_rank / 2 + 2);
  s.total = r.at;
  return s;
}

// The sizes a launch's layout is made for; false where the layers differ in more than d_inner
// and d_state (one model's layers do not).
bool largest(const Mamba1StepParams* p, int n, Mamba1StepParams& out, bool& vec) {
  out = p[0];
  vec = true;
  for (int i = 0; i < n; ++i) {
    const Mamba1StepParams& q = p[i];
    if (q.d_model <= 0 || q.d_inner <= 0 || q.d_state <= 0 || q.dt_rank <= 0 || q.d_conv <= 0)
      return false;
    if (q.d_model != out.d_model || q.dt_rank != out.dt_rank || q.d_conv != out.d_conv)
      return false;
    out.d_inner = std::max(out.d_inner, q.d_inner);
    out.d_state = std::max(out.d_state, q.d_state);
    vec = vec && vec_rows(q);
  }
  return n > 0;
}

}  // namespace

size_t step_sums_floats(const Mamba1StepParams& p) {
  return 2 * kSumCopies * (size_t(p.dt_rank) + 2 * size_t(p.d_state));
}
size_t step_y_floats(const Mamba1StepParams& p) {
  return 2 * size_t(kMaxOutCopies) * size_t(p.d_model);
}

bool mamba1_steps_fit(const Mamba1StepParams* p, int n) {
  Mamba1StepParams big;
  bool vec = false;
  if (!largest(p, n, big, vec)) return false;
  const size_t smem = size_t(layout(big, vec, sm_count()).total) * 4;
  if (smem > size_t(smem_limit())) return false;
  // The grid barrier needs every block resident at once.
  return grid_fits<LayerStep, StepArgs>(vec, smem);
}

void mamba1_steps(const Mamba1StepParams* p, const Mamba1StepWeights* w, int n,
                  const StepScratch& scratch) {
  static const char* const phases[kTracePhases] = {"start",
                                                   "norm",
                                                   "in_proj x rows",
                                                   "conv, x_proj; arrive 1",
                                                   "z rows; barrier 1",
                                                   "dt_proj, scan",
                                                   "out_proj columns",
                                                   "out_proj sums added",
                                                   "end"};
  launch_layer_steps<LayerStep, StepArgs>(
      n, kMaxLayers, "mamba1 layer steps", phases, w,
      [&](StepArgs& a, int first, int count, int blocks) {
        Mamba1StepParams big;
        bool vec = false;
        largest(p + first, count, big, vec);
        for (int i = 0; i < count; ++i) {
          const Mamba1StepWeights& wi = w[first + i];
          a.layer[i] = {p[first + i], wi.in_proj, wi.x_proj, wi.dt_proj, wi.out_proj_t};
        }
        a.barrier = scratch.barrier;
        a.outs = scratch.y;
        a.out_copies = step_out_copies();
        a.dbc = scratch.sums;
        a.dbc_stride = int(step_sums_floats(big) / 2);
        a.s = layout(big, vec, blocks);
        return vec;
      });
}

}  // namespace perfmamba::cuda
