// The CUDA selective scan and SSD (chunked, recurrent, one token) against the CPU kernels.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cuda/cuda_testing.hpp"
#include "perfmamba/backend/cpu/kernels.hpp"
#include "perfmamba/core/error.hpp"

namespace perfmamba::cuda_testing {
namespace {

// One Mamba-1 scan shape (batch 2, gate optional) against cpu::selective_scan: y and the state.
class CudaScan : public Cuda {
 protected:
  void expect_scan(Rng& rng, int E, int N, int len, bool gate);
};

void CudaScan::expect_scan(Rng& rng, int E, int N, int len, bool gate) {
  const int batch = 2, T = batch * len, ldbc = 2 * N;
  auto x = rng.normals(size_t(T) * E), dt = rng.uniforms(size_t(T) * E, -4, 1),
       bias = rng.uniforms(E, -1, 0.5f);
  auto A = rng.uniforms(size_t(E) * N, -8, -0.1f), bc = rng.normals(size_t(T) * ldbc),
       D = rng.normals(E);
  auto z = rng.normals(size_t(T) * E), s = rng.normals(size_t(batch) * E * N);
  std::vector<float> y(size_t(T) * E), s_cpu = s;
  SelectiveScanParams p;
  p.batch = batch, p.len = len, p.d_inner = E, p.d_state = N, p.x = x.data(), p.ldx = E,
  p.dt = dt.data();
  p.lddt = E, p.dt_bias = bias.data(), p.A = A.data(), p.B = bc.data(), p.C = bc.data() + N,
  p.ldbc = ldbc;
  p.D = D.data(), p.z = gate ? z.data() : nullptr, p.ldz = E, p.ssm_state = s_cpu.data(),
  p.y = y.data(), p.ldy = E;
  cpu::selective_scan(p);
  SelectiveScanParams d = p;
  float* bcd = dev(bc);
  d.x = dev(x), d.dt = dev(dt), d.dt_bias = dev(bias), d.A = dev(A), d.B = bcd, d.C = bcd + N,
  d.D = dev(D);
  d.z = gate ? dev(z) : nullptr, d.ssm_state = dev(s), d.y = dev(y);
  be_->selective_scan(d);
  EXPECT_LT(testing::rel_error(host(d.y.f32(), y.size()), y), 1e-5)
      << "E " << E << " N " << N << " L " << len << " gate " << gate;
  EXPECT_LT(testing::rel_error(host(d.ssm_state, s.size()), s_cpu), 1e-5);
}

TEST_F(CudaScan, SelectiveScanEveryStateWidth) {
  Rng rng(33);
  // lengths of one and of many of the scan's chunks (32 tokens at least), ragged tails; 256
  // channels put whole blocks in one chunk and sequence, where N = 4, 8, 12, 16, 20, 28, 32 copy
  // their inputs into shared memory in tiles of 8 tokens (20 and 28 as pruned layers: registers
  // for 24 and 32 states, those past N zero)
  for (int E : {45, 256})
    for (int N : {1, 4, 7, 8, 12, 16, 20, 28, 32, 33, 64, 100, 128, 200, 256})
      for (int len : {1, 17, 64, 65, 300}) expect_scan(rng, E, N, len, true);
}

// One SSD shape against cpu::ssd_chunked: the chunked GPU SSD in f32 and on bf16 tensor cores,
// and the recurrent kernel (ssd_step, which takes any length).
struct SsdCase {
  int H, G, P, N, len, batch = 2, chunk = 8;
  float dt_max = 0.0f;  // > 0: Δ clamped to [0.01, dt_max]
};

TEST_F(Cuda, SsdMatchesCpuChunkedAndRecurrent) {
  Rng rng(34);
  auto bf16 = make_cuda_backend(GemmPrecision::BF16);  // SSD products on bf16 tensor cores
  // chunk 8: one chunk, whole chunks, ragged tails, groups, odd sizes; L = 20000 at batch 2 goes
  // one sequence per call. The f32 path takes chunks of at most 128; the tensor-core path rounds
  // them up to 64, 128 or 256 (halved for short prompts) and runs prompts of 16 tokens or more,
  // one chunk or several; shorter ones run the recurrent kernel there too. Chunk
  // 256 (the checkpoints' value): recurrent scans cross the scan's own chunks, Δ is clamped, and
  // L = 40000 at batch 1 goes a segment at a time. The last three shapes have head dims and
  // states over one 64-wide tile of the tensor-core kernels, with ragged edges.
  const SsdCase cases[] = {{3, 1, 5, 7, 13},
                           {6, 3, 8, 16, 40},
                           {4, 2, 64, 128, 33},
                           {2, 1, 16, 256, 5},
                           {3, 1, 8, 16, 200},
                           {4, 2, 16, 64, 129},
                           {2, 2, 16, 256, 70},
                           {2, 1, 4, 8, 20000},
                           {4, 2, 16, 16, 129, 2, 256, 0.5f},
                           {4, 1, 64, 128, 300, 1, 256, 0.5f},
                           {2, 1, 8, 64, 40, 3, 256},
                           {2, 1, 4, 8, 40000, 1, 256},
                           {3, 1, 100, 33, 333, 3, 64},
                           {4, 2, 65, 200, 700, 1, 128, 0.5f},
                           {8, 4, 16, 256, 1100, 2, 256}};
  for (const SsdCase& k : cases) {
    const int T = k.batch * k.len, E = k.H * k.P, GN = k.G * k.N, ld = E + 2 * GN;
    auto xbc = rng.normals(size_t(T) * ld), dt = rng.uniforms(size_t(T) * k.H, -4, 1),
         bias = rng.uniforms(k.H, -1, 0.5f);
    auto A = rng.uniforms(k.H, -8, -0.5f), D = rng.normals(k.H),
         s = rng.normals(size_t(k.batch) * E * k.N);
    std::vector<float> y(size_t(T) * E), s_cpu = s;
    SsdParams p;
    p.batch = k.batch, p.len = k.len, p.n_heads = k.H, p.head_dim = k.P, p.d_state = k.N,
    p.n_groups = k.G;
    p.chunk_size = k.chunk, p.dt_min = k.dt_max > 0 ? 0.01f : 0.0f, p.dt_max = k.dt_max;
    p.x = xbc.data(), p.ldx = ld, p.B = xbc.data() + E, p.C = xbc.data() + E + GN, p.ldbc = ld,
    p.dt = dt.data();
    p.lddt = k.H, p.dt_bias = bias.data(), p.A = A.data(), p.D = D.data(),
    p.ssm_state = s_cpu.data(), p.y = y.data(), p.ldy = E;
    cpu::ssd_chunked(p);
    SsdParams d = p;
    float* xd = dev(xbc);
    d.x = xd, d.B = xd + E, d.C = xd + E + GN, d.dt = dev(dt), d.dt_bias = dev(bias), d.A = dev(A),
    d.D = dev(D);
    d.y = dev(y);
    const auto expect = [&](Backend& be, bool step, double tol, const char* what) {
      d.ssm_state = dev(s);
      step ? be.ssd_step(d) : be.ssd_chunked(d);
      EXPECT_LT(testing::rel_error(host(d.y, y.size()), y), tol)
          << what << " H " << k.H << " N " << k.N << " L " << k.len;
      EXPECT_LT(testing::rel_error(host(d.ssm_state, s.size()), s_cpu), tol) << what;
    };
    expect(*be_, false, 2e-5, "chunked");
    expect(*bf16, false, 1e-2, "chunked bf16");
    expect(*be_, true, 2e-5, "recurrent");
  }
}

// One token a sequence (a decode step at batch > 1): d_state a multiple of 4 up to 256 with
// 16-byte aligned B, C and state takes ssd_token.cu's kernel (a row's quads over 1-32 lanes, two
// quads a lane past 128 states), anything else the recurrent scan. Pruned widths (12, 100, 132,
// 200), odd head dims, groups, a clamped Δ, and rows of B and C that are not 16-byte aligned.
TEST_F(Cuda, SsdOneTokenEveryStateWidth) {
  Rng rng(35);
  struct Case {
    int H, G, P, N, batch;
    int pad = 0;  // floats added to the row of x, B, C: misaligns B and C unless a multiple of 4
    float dt_max = 0.0f;
  };
  // the first nine take the new kernel (Q = N / 4 from 1 to 64), the last four the recurrent one
  const Case cases[] = {{4, 2, 64, 128, 64},        {4, 4, 3, 4, 6},    {4, 2, 13, 12, 3},
                        {8, 4, 16, 16, 5},          {2, 1, 64, 100, 9}, {4, 1, 33, 132, 2},
                        {4, 1, 7, 200, 4, 0, 0.5f}, {2, 2, 64, 256, 3}, {4, 2, 1, 64, 11},
                        {4, 2, 64, 128, 2, 1},      {2, 1, 8, 33, 3},   {3, 3, 9, 7, 2},
                        {2, 2, 65, 12, 3}};
  for (const Case& k : cases) {
    const int E = k.H * k.P, GN = k.G * k.N, ld = E + 2 * GN + k.pad;
    auto xbc = rng.normals(size_t(k.batch) * ld), dt = rng.uniforms(size_t(k.batch) * k.H, -4, 1),
         bias = rng.uniforms(k.H, -1, 0.5f);
    auto A = rng.uniforms(k.H, -8, -0.5f), D = rng.normals(k.H),
         s = rng.normals(size_t(k.batch) * E * k.N);
    std::vector<float> y(size_t(k.batch) * E), s_cpu = s;
    SsdParams p;
    p.batch = k.batch, p.len = 1, p.n_heads = k.H, p.head_dim = k.P, p.d_state = k.N,
    p.n_groups = k.G, p.dt_min = k.dt_max > 0 ? 0.01f : 0.0f, p.dt_max = k.dt_max;
    p.x = xbc.data(), p.ldx = ld, p.B = xbc.data() + E + k.pad, p.C = p.B + GN, p.ldbc = ld;
    p.dt = dt.data(), p.lddt = k.H, p.dt_bias = bias.data(), p.A = A.data(), p.D = D.data();
    p.ssm_state = s_cpu.data(), p.y = y.data(), p.ldy = E;
    cpu::ssd_chunked(p);
    SsdParams d = p;
    float* xd = dev(xbc);
    d.x = xd, d.B = xd + E + k.pad, d.C = d.B + GN, d.dt = dev(dt), d.dt_bias = dev(bias),
    d.A = dev(A), d.D = dev(D), d.y = dev(y), d.ssm_state = dev(s);
    be_->ssd_step(d);
    EXPECT_LT(testing::rel_error(host(d.y, y.size()), y), 2e-5)
        << "H " << k.H << " P " << k.P << " N " << k.N << " batch " << k.batch;
    EXPECT_LT(testing::rel_error(host(d.ssm_state, s.size()), s_cpu), 2e-5) << "N " << k.N;
  }
}

}  // namespace
}  // namespace perfmamba::cuda_testing
