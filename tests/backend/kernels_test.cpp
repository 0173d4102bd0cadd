// CPU kernels against the float64 definitions in reference.hpp, on fresh random inputs at odd
// shapes. Tolerance: relative L2 error <= 2e-5 (f32 arithmetic, float64 reference).
#include <gtest/gtest.h>

#include <tuple>

#include "backend/reference.hpp"
#include "perfmamba/backend/cpu/kernels.hpp"
#include "testing.hpp"

namespace perfmamba {
namespace {
using testing::Rng;
using testing::rel_error;
constexpr double kTol = 2e-5;

TEST(Gemm, MatchesReferenceWithViewsBiasAndVectorCase) {
  PM_SEED_TRACE();
  Rng rng(1);
  for (auto [m, n, k, extra] : {std::tuple{1, 37, 19, 0}, {5, 33, 70, 3}, {64, 17, 9, 1}}) {
    const int lda = k + extra;
    auto a = rng.normals(size_t(m) * lda), w = rng.normals(size_t(n) * k), bias = rng.normals(n);
    std::vector<float> c(size_t(m) * n, NAN);
    GemmParams p{m, n, k, a.data(), lda, w.data(), bias.data(), c.data(), n, false};
    cpu::gemm(p);
    EXPECT_LT(rel_error(c, reference::gemm(p)), kTol) << m << "x" << n << "x" << k;
  }
}

TEST(Conv1d, MatchesReferenceAndChainsState) {
  PM_SEED_TRACE();
  Rng rng(2);
  for (int width : {1, 2, 3, 4})
    for (int len : {1, 7, 33})
      for (int channels : {5, 37})
        for (bool with_state : {false, true}) {
          const int batch = 2, ldx = channels + 3, hist = width - 1;
          auto x = rng.normals(size_t(batch) * len * ldx), w = rng.normals(size_t(channels) * width);
          auto bias = rng.normals(channels);
          std::vector<float> state = with_state ? rng.normals(size_t(batch) * hist * channels)
                                                : std::vector<float>{};
          const std::vector<float> state_in = state;
          std::vector<float> out(size_t(batch) * len * channels, NAN);
          Conv1dParams p{batch, len, channels, width, x.data(), ldx, w.data(), bias.data(),
                         with_state ? state.data() : nullptr, true, out.data(), channels};
          cpu::conv1d(p);
          std::vector<double> ref, ref_state;
          reference::conv1d(p, state_in, ref, ref_state);
          EXPECT_LT(rel_error(out, ref), kTol) << "width " << width << " len " << len;
          if (with_state && hist > 0) {
            EXPECT_LT(rel_error(state, ref_state), 1e-7);
          }
        }
}

struct ScanInputs {
  std::vector<float> x, dt, dt_bias, A, bc, D, z, state;
};

TEST(SelectiveScan, MatchesSequentialRecurrence) {
  PM_SEED_TRACE();
  Rng rng(3);
  for (int d_state : {1, 3, 16, 23})
    for (int d_inner : {5, 17, 40})
      for (int len : {1, 9, 40})
        for (bool gate : {true, false}) {
          const int batch = 2, T = batch * len, ldbc = 2 * d_state + 3;
          ScanInputs in;
          in.x = rng.normals(size_t(T) * d_inner);
          in.dt = rng.uniforms(size_t(T) * d_inner, -4.0f, 1.0f);
          in.dt_bias = rng.uniforms(d_inner, -1.0f, 0.5f);
          in.A = rng.uniforms(size_t(d_inner) * d_state, -8.0f, -0.1f);
          in.bc = rng.normals(size_t(T) * ldbc);
          in.D = rng.normals(d_inner);
          in.z = rng.normals(size_t(T) * d_inner);
          in.state = rng.normals(size_t(batch) * d_inner * d_state);
          std::vector<double> ref_state(in.state.begin(), in.state.end());
          std::vector<float> y(size_t(T) * d_inner, NAN);
          SelectiveScanParams p;
          p.batch = batch, p.len = len, p.d_inner = d_inner, p.d_state = d_state;
          p.x = in.x.data(), p.ldx = d_inner, p.dt = in.dt.data(), p.lddt = d_inner;
          p.dt_bias = in.dt_bias.data(), p.A = in.A.data();
          p.B = in.bc.data() + 3, p.C = in.bc.data() + 3 + d_state, p.ldbc = ldbc;
          p.D = in.D.data(), p.z = gate ? in.z.data() : nullptr, p.ldz = d_inner;
          p.ssm_state = in.state.data(), p.y = y.data(), p.ldy = d_inner;
          cpu::selective_scan(p);
          const auto ref = reference::selective_scan(p, ref_state);
          EXPECT_LT(rel_error(y, ref), kTol) << "N " << d_state << " E " << d_inner << " L " << len;
          EXPECT_LT(rel_error(in.state, ref_state), kTol);
        }
}

struct SsdCase {
  int heads, groups, head_dim, d_state, chunk, len;
  bool clamp;
};

void check_ssd(const SsdCase& c, bool chunked, Rng& rng) {
  const int batch = 2, T = batch * c.len, E = c.heads * c.head_dim, GN = c.groups * c.d_state;
  const int ldx = E + 2 * GN + 1;  // x, B, C side by side as in the xBC conv output
  auto xbc = rng.normals(size_t(T) * ldx);
  auto dt = rng.uniforms(size_t(T) * c.heads, -4.0f, 1.0f);
  auto dt_bias = rng.uniforms(c.heads, -1.0f, 0.5f);
  auto A = rng.uniforms(c.heads, -8.0f, -0.5f);
  auto D = rng.normals(c.heads);
  auto state = rng.normals(size_t(batch) * E * c.d_state);
  std::vector<double> ref_state(state.begin(), state.end());
  std::vector<float> y(size_t(T) * E, NAN);
  SsdParams p;
  p.batch = batch, p.len = c.len, p.n_heads = c.heads, p.head_dim = c.head_dim;
  p.d_state = c.d_state, p.n_groups = c.groups, p.chunk_size = c.chunk;
  p.x = xbc.data(), p.ldx = ldx, p.B = xbc.data() + E, p.C = xbc.data() + E + GN, p.ldbc = ldx;
  p.dt = dt.data(), p.lddt = c.heads, p.dt_bias = dt_bias.data();
  if (c.clamp) p.dt_min = 0.01f, p.dt_max = 0.5f;
  p.A = A.data(), p.D = D.data(), p.ssm_state = state.data(), p.y = y.data(), p.ldy = E;
  if (chunked) cpu::ssd_chunked(p);
  else cpu::ssd_recurrent(p);
  const auto ref = reference::ssd(p, ref_state);
  EXPECT_LT(rel_error(y, ref), kTol) << (chunked ? "chunked" : "recurrent") << " H " << c.heads
                                     << " G " << c.groups << " chunk " << c.chunk << " L " << c.len;
  EXPECT_LT(rel_error(state, ref_state), kTol);
}

TEST(Ssd, ChunkedAndRecurrentMatchSequentialRecurrence) {
  PM_SEED_TRACE();
  Rng rng(4);
  const SsdCase cases[] = {
      {3, 1, 5, 7, 4, 13, false},  {6, 3, 8, 16, 7, 40, false}, {4, 2, 6, 9, 64, 40, false},
      {2, 1, 4, 3, 8, 1, false},   {5, 5, 3, 1, 5, 10, true},   {8, 1, 16, 32, 16, 100, false},
  };
  for (const auto& c : cases)
    for (bool chunked : {true, false}) check_ssd(c, chunked, rng);
}

TEST(Norm, AddRmsNormAndGatedGroupNorm) {
  PM_SEED_TRACE();
  Rng rng(5);
  const int rows = 7, cols = 45;
  auto h = rng.normals(size_t(rows) * cols), d = rng.normals(size_t(rows) * cols);
  auto w = rng.normals(cols);
  std::vector<float> sum(h.size());
  for (size_t i = 0; i < h.size(); ++i) sum[i] = h[i] + d[i];
  std::vector<float> out(h.size(), NAN);
  cpu::add_rmsnorm({rows, cols, h.data(), d.data(), w.data(), 1e-5f, out.data()});
  EXPECT_LT(rel_error(h, sum), 1e-7);
  EXPECT_LT(rel_error(out, reference::rmsnorm(sum.data(), w.data(), rows, cols, 1e-5)), kTol);

  for (int group : {45, 15, 9}) {
    auto y = rng.normals(size_t(rows) * 50), z = rng.normals(size_t(rows) * 60);
    std::vector<float> g(size_t(rows) * cols, NAN);
    GatedRmsNormParams p{rows, cols, group, y.data(), 50, z.data(), 60, w.data(), 1e-5f, g.data(), cols};
    cpu::gated_rmsnorm(p);
    EXPECT_LT(rel_error(g, reference::gated_rmsnorm(p)), kTol) << "group " << group;
  }
}

}  // namespace
}  // namespace perfmamba
