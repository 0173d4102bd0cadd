// The fused batch-1 decode steps (all layers in one kernel) against the same steps op by op.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "backend/cuda/cuda_testing.hpp"
#include "perfmamba/backend/cpu/kernels.hpp"
#include "perfmamba/core/error.hpp"

namespace perfmamba::cuda_testing {
namespace {

// Two stacked layers' batch-1 decode steps, 4 of them carrying the states, the first layer
// without a residual delta: fused into the backend's one op, or op by op. Returns each step's out,
// then the residual and the states at the end, on the host.
struct TwoLayerSteps {
  MambaConfig c;
  LayerDims dims[2];
  LayerWeights w[2];  // on the host
  std::vector<float> residual0, conv0[2], ssm0[2];
  // How far from f32 the fused steps may be: at most f32_bound, and at most f32_ratio times as far
  // as the bf16 ops. Mamba-2's step rounds out_proj's input before the gated norm's scale (the ops
  // after it): the two errors are alike in size, not in value, and the reductions' order varies
  // from run to run. Its 48-channel N = 1 shape is noisy: the ops alone reach 4.2e-2 with some
  // seeds (PERFMAMBA_TEST_SEED=4).
  // Over 16 seeds Mamba-2's step came to 1.83 times the ops' distance to f32, and 1.79 times it
  // from the ops.
  double f32_bound = 2e-2, f32_ratio = 1.5, apart_ratio = 2;

  static Tensor host(const std::vector<float>& v, Shape shape) {
    Tensor t = Tensor::empty(shape);
    std::copy(v.begin(), v.end(), t.f32());
    return t;
  }
  static LayerWeights to(const LayerWeights& src, Device d) {
    LayerWeights o;
    for (auto [from, into] : {std::pair{&src.norm, &o.norm},
                              {&src.in_proj, &o.in_proj},
                              {&src.in_proj_bias, &o.in_proj_bias},
                              {&src.conv_weight, &o.conv_weight},
                              {&src.conv_bias, &o.conv_bias},
                              {&src.x_proj, &o.x_proj},
                              {&src.dt_proj, &o.dt_proj},
                              {&src.dt_bias, &o.dt_bias},
                              {&src.A, &o.A},
                              {&src.D, &o.D},
                              {&src.gated_norm, &o.gated_norm},
                              {&src.out_proj, &o.out_proj},
                              {&src.out_proj_bias, &o.out_proj_bias}})
      if (from->defined()) *into = from->to(d);
    return o;
  }
  std::vector<float> run(Backend& be, bool fused) const {
    const Device d = be.device();
    const int D = c.d_model;
    const LayerWeights lw[2] = {to(w[0], d), to(w[1], d)};
    Tensor h = host(residual0, {D}).to(d), u = Tensor::empty({D}, be.gemm_input_dtype(), d),
           out = Tensor::zeros({D}, DType::F32, d);
    LayerState st[2];
    for (int l = 0; l < 2; ++l)
      st[l] = {host(conv0[l], {int64_t(conv0[l].size())}).to(d),
               host(ssm0[l], {int64_t(ssm0[l].size())}).to(d)};
    const bool m1 = c.arch == Arch::Mamba1;
    std::vector<float> all;
    for (int step = 0; step < 4; ++step) {
      if (fused) {
        std::vector<Mamba1StepParams> p1;
        std::vector<Mamba2StepParams> p2;
        for (int l = 0; l < 2; ++l) {
          const float* delta = step || l ? out.f32() : nullptr;
          if (m1)
            p1.push_back(mamba1_step_params(c, dims[l], lw[l], h.f32(), delta, st[l], out.f32()));
          else
            p2.push_back(mamba2_step_params(c, dims[l], lw[l], h.f32(), delta, st[l], out.f32()));
        }
        EXPECT_TRUE(m1 ? be.mamba1_layers_step(p1.data(), 2) : be.mamba2_layers_step(p2.data(), 2));
      } else {
        for (int l = 0; l < 2; ++l) {
          be.add_rmsnorm({1, D, h.f32(), step || l ? out.f32() : nullptr, lw[l].norm.f32(),
                          float(c.norm_eps), act(u)});
          (m1 ? mamba1_mixer : mamba2_mixer)(c, dims[l], lw[l], be, act(u), 1, 1, st[l], out.f32(),
                                             true, l);
        }
      }
      be.synchronize();
      Tensor o = out.to(Device::CPU);
      all.insert(all.end(), o.f32(), o.f32() + D);
    }
    for (const Tensor* t :
         {&h, &st[0].conv_state, &st[0].ssm_state, &st[1].conv_state, &st[1].ssm_state}) {
      Tensor ht = t->to(Device::CPU);
      all.insert(all.end(), ht.f32(), ht.f32() + ht.numel());
    }
    return all;
  }
  // The fused steps against the same steps op by op on the f32 CPU backend (see f32_bound and
  // f32_ratio) and on the bf16 GPU path (sum orders differ, which can flip a rounding to bf16, and
  // Mamba-2's out_proj input is rounded before the gated norm's scale rather than after: within
  // apart_ratio times the ops' own error).
  void expect_fused_equals_ops() const {
    auto gpu = make_cuda_backend(GemmPrecision::BF16);
    auto cpu = make_cpu_backend();
    const std::vector<float> ref = run(*cpu, false), ops = run(*gpu, false),
                             fused = run(*gpu, true);
    ASSERT_EQ(fused.size(), ref.size());
    const double fused_err = testing::rel_error(fused.data(), ref.data(), ref.size()),
                 ops_err = testing::rel_error(ops.data(), ref.data(), ref.size()),
                 apart = testing::rel_error(fused.data(), ops.data(), ops.size());
    std::printf("fused vs f32 %.2e, ops vs f32 %.2e, fused vs ops %.2e\n", fused_err, ops_err,
                apart);
    EXPECT_LT(fused_err, f32_bound);  // Mamba-1: two random layers of 40 values reach 1.06e-2
    // About as close to f32 as the ops are, give or take half a bf16 step (2e-3): with a seed
    // that puts the ops unusually close to f32 (2e-3 and less seen), a ratio alone failed.
    EXPECT_LT(fused_err, f32_ratio * ops_err + 2e-3);
    EXPECT_LT(apart, apart_ratio * ops_err + 2e-3);
  }
};

// Mamba-1: the second layer is narrower (as pruned layers are). Shapes take the 16-byte and the
// one-bf16 weight paths, fewer channels than SMs, state sizes 1 to 200, conv widths 2 to 4,
// biases on and off.
TEST(CudaBf16, FusedMamba1LayerStepsEqualOps) {
  PM_NEED_CUDA();
  PM_SEED_TRACE();
  Rng rng(43);
  struct Case {
    int D, E, N, R, K;
    bool bias;
  };
  for (Case k : {Case{2048, 4096, 16, 128, 4, false},
                 {768, 1536, 16, 48, 4, true},
                 {40, 88, 5, 8, 4, false},
                 {27, 54, 7, 5, 3, true},
                 {64, 200, 200, 16, 2, false},
                 {96, 392, 1, 8, 3, true}}) {
    SCOPED_TRACE("D " + std::to_string(k.D) + " E " + std::to_string(k.E) + " N " +
                 std::to_string(k.N) + " R " + std::to_string(k.R) + " K " + std::to_string(k.K));
    const int D = k.D, R = k.R, K = k.K;
    TwoLayerSteps t;
    t.c.d_model = D, t.c.dt_rank = R, t.c.d_conv = K;
    auto scaled = [&](size_t n, double std) { return rng.normals(n, float(std)); };
    t.dims[0] = {k.E, k.N, 0, 0};
    t.dims[1] = {k.E - (k.E % 8 == 0 ? 8 : 3), std::max(1, k.N - 2), 0, 0};
    for (int l = 0; l < 2; ++l) {
      const int E = t.dims[l].d_inner, N = t.dims[l].d_state, J = R + 2 * N;
      LayerWeights& w = t.w[l];
      w.norm = t.host(rng.uniforms(D, 0.5f, 1.5f), {D});
      w.in_proj = t.host(scaled(size_t(2) * E * D, 1 / std::sqrt(D)), {2 * E, D});
      w.conv_weight = t.host(scaled(size_t(E) * K, 0.5), {E, 1, K});
      w.x_proj = t.host(scaled(size_t(J) * E, 1 / std::sqrt(E)), {J, E});
      w.dt_proj = t.host(scaled(size_t(E) * R, 1 / std::sqrt(R)), {E, R});
      w.dt_bias = t.host(rng.uniforms(E, -4.0f, -2.0f), {E});
      w.A = t.host(rng.uniforms(size_t(E) * N, -8.0f, -0.5f), {E, N});
      w.D = t.host(rng.normals(E), {E});
      w.out_proj = t.host(scaled(size_t(D) * E, 1 / std::sqrt(E)), {D, E});
      if (k.bias) {
        w.in_proj_bias = t.host(rng.normals(2 * E, 0.1f), {2 * E});
        w.conv_bias = t.host(rng.normals(E, 0.1f), {E});
        w.out_proj_bias = t.host(rng.normals(D, 0.1f), {D});
      }
      t.conv0[l] = rng.normals(size_t(K - 1) * E);
      t.ssm0[l] = rng.normals(size_t(E) * N, 0.3f);
    }
    t.residual0 = rng.normals(D);
    t.expect_fused_equals_ops();
  }
}

// Mamba-2: the second layer has fewer heads and states (as pruned layers do). Shapes: the
// mamba2-2.7b layer, 16-byte and one-bf16 weight paths, several groups, fewer channels and
// shared rows than SMs, state sizes 1 to 256, head dims 1 to 64, conv widths 2 to 4, biases on
// and off, Δ clamped.
TEST(CudaBf16, FusedMamba2LayerStepsEqualOps) {
  PM_NEED_CUDA();
  PM_SEED_TRACE();
  Rng rng(47);
  struct Case {
    int D, H, P, N, G, K;
    bool bias, clamp;
  };
  for (Case k : {Case{2560, 80, 64, 128, 1, 4, false, false},
                 {768, 24, 64, 128, 1, 4, true, true},
                 {256, 16, 32, 64, 4, 4, false, false},
                 {40, 11, 8, 5, 1, 4, true, false},
                 {27, 6, 9, 7, 2, 3, true, true},
                 {64, 4, 16, 256, 2, 2, false, false},
                 {96, 48, 1, 1, 3, 3, false, true}}) {
    SCOPED_TRACE("D " + std::to_string(k.D) + " H " + std::to_string(k.H) + " P " +
                 std::to_string(k.P) + " N " + std::to_string(k.N) + " G " + std::to_string(k.G) +
                 " K " + std::to_string(k.K));
    const int D = k.D, G = k.G, K = k.K, P = k.P;
    TwoLayerSteps t;
    t.c.arch = Arch::Mamba2, t.c.d_model = D, t.c.n_groups = G, t.c.d_conv = K;
    t.f32_bound = 6e-2, t.f32_ratio = 2.5, t.apart_ratio = 3;
    if (k.clamp) t.c.dt_limit_min = 0.001, t.c.dt_limit_max = 0.05;
    auto scaled = [&](size_t n, double std) { return rng.normals(n, float(std)); };
    t.dims[0] = {k.H * P, k.N, k.H, P};
    const int H1 = k.H > G ? k.H - G : k.H;
    t.dims[1] = {H1 * P, std::max(1, k.N - 3), H1, P};
    for (int l = 0; l < 2; ++l) {
      const LayerDims& dl = t.dims[l];
      const int E = dl.d_inner, H = dl.n_heads, CD = t.c.conv_dim(dl), J = t.c.in_proj_dim(dl);
      LayerWeights& w = t.w[l];
      w.norm = t.host(rng.uniforms(D, 0.5f, 1.5f), {D});
      w.in_proj = t.host(scaled(size_t(J) * D, 1 / std::sqrt(D)), {J, D});
      w.conv_weight = t.host(scaled(size_t(CD) * K, 0.5), {CD, 1, K});
      w.dt_bias = t.host(rng.uniforms(H, -4.0f, -2.0f), {H});
      w.A = t.host(rng.uniforms(H, -8.0f, -0.5f), {H});
      w.D = t.host(rng.normals(H), {H});
      w.gated_norm = t.host(rng.uniforms(E, 0.5f, 1.5f), {E});
      w.out_proj = t.host(scaled(size_t(D) * E, 1 / std::sqrt(E)), {D, E});
      if (k.bias) {
        w.in_proj_bias = t.host(rng.normals(J, 0.1f), {J});
        w.conv_bias = t.host(rng.normals(CD, 0.1f), {CD});
        w.out_proj_bias = t.host(rng.normals(D, 0.1f), {D});
      }
      t.conv0[l] = rng.normals(size_t(K - 1) * CD);
      t.ssm0[l] = rng.normals(size_t(E) * dl.d_state, 0.3f);
    }
    t.residual0 = rng.normals(D);
    t.expect_fused_equals_ops();
  }
}

}  // namespace
}  // namespace perfmamba::cuda_testing
