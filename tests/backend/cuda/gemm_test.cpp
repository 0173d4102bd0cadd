// The CUDA GEMMs (cuBLASLt, the bf16 GEMV and skinny GEMM) against the CPU GEMM and float64.
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

TEST_F(Cuda, GemmWithBiasAndViews) {
  Rng rng(31);
  for (auto [m, n, k] : {std::tuple{1, 37, 19}, {5, 33, 70}, {130, 257, 96}}) {
    const int lda = k + 3;
    auto a = rng.normals(size_t(m) * lda), w = rng.normals(size_t(n) * k), bias = rng.normals(n);
    std::vector<float> c(size_t(m) * n);
    GemmParams p{m, n, k, a.data(), lda, w.data(), bias.data(), c.data(), n, false};
    cpu::gemm(p);
    GemmParams d = p;
    d.a = dev(a), d.w = dev(w), d.bias = dev(bias), d.c = dev(c);
    be_->gemm(d);
    EXPECT_LT(testing::rel_error(host(d.c, c.size()), c), 1e-5) << m << "x" << n << "x" << k;
  }
}

// Products of 256 rows or more, where the GEMM times cuBLASLt's candidates at first use (300
// and 511 share one range of row counts, so the second takes the first's choice untimed): f32
// and bf16, with a bias, and accumulating (never timed: the timing runs would add up).
TEST_F(Cuda, TunedGemmsEqualCpu) {
  Rng rng(35);
  auto bf16 = make_cuda_backend(GemmPrecision::BF16);
  for (bool accumulate : {false, true})
    for (int m : {256, 300, 511, 700}) {
      const int n = 96, k = 80;
      auto a = rng.normals(size_t(m) * k), w = rng.normals(size_t(n) * k), bias = rng.normals(n);
      auto c0 = rng.normals(size_t(m) * n);
      std::vector<float> c = c0;
      GemmParams p{
          m,        n, k,         a.data(), k, w.data(), accumulate ? nullptr : bias.data(),
          c.data(), n, accumulate};
      cpu::gemm(p);
      for (Backend* be : {be_.get(), bf16.get()}) {
        GemmParams d = p;
        d.a = dev(a), d.w = dev(w), d.bias = accumulate ? nullptr : dev(bias), d.c = dev(c0);
        be->gemm(d);
        be->synchronize();
        EXPECT_LT(testing::rel_error(host(d.c, c.size()), c), be == bf16.get() ? 1e-2 : 1e-5)
            << m << " rows" << (accumulate ? ", accumulating" : "")
            << (be == bf16.get() ? ", bf16" : "");
      }
    }
}

// bf16 GEMMs against the f32 CPU GEMM; the bf16 weight copies follow a weight that is freed and
// its buffer reused (no stale copy).
TEST(CudaBf16, GemmWithinBf16ToleranceAfterWeightsChange) {
  PM_NEED_CUDA();
  auto be = make_cuda_backend(GemmPrecision::BF16);
  Rng rng(37);
  // decode-sized and prefill-sized m, aligned and unaligned rows
  for (auto [m, n, k] : {std::tuple{1, 37, 19}, {3, 64, 128}, {8, 33, 64}, {130, 257, 96}}) {
    const int lda = k + (k % 4 == 0 ? 4 : 3);
    auto a = rng.normals(size_t(m) * lda), w = rng.normals(size_t(n) * k), bias = rng.normals(n);
    std::vector<float> c(size_t(m) * n);
    GemmParams p{m, n, k, a.data(), lda, w.data(), bias.data(), c.data(), n, false};
    cpu::gemm(p);
    for (int round = 0; round < 2; ++round) {  // round 2: new weights, likely in the same buffer
      Tensor da = Tensor::empty({int64_t(a.size())}), dw = Tensor::empty({int64_t(w.size())}),
             db = Tensor::empty({int64_t(n)});
      std::copy(a.begin(), a.end(), da.f32());
      std::copy(w.begin(), w.end(), dw.f32());
      std::copy(bias.begin(), bias.end(), db.f32());
      Tensor ga = da.to(Device::CUDA), gw = dw.to(Device::CUDA), gb = db.to(Device::CUDA);
      Tensor gc = Tensor::empty({int64_t(c.size())}, DType::F32, Device::CUDA);
      GemmParams d = p;
      d.a = ga.f32(), d.w = gw.f32(), d.bias = gb.f32(), d.c = gc.f32();
      be->gemm(d);
      be->synchronize();
      Tensor hc = gc.to(Device::CPU);
      EXPECT_LT(testing::rel_error(hc.f32(), c.data(), c.size()), 1e-2)
          << m << "x" << n << "x" << k;
      for (auto& v : w) v = -v;  // the next round's weights differ
      std::fill(c.begin(), c.end(), 0.0f);
      cpu::gemm(p);
    }
  }
}

// The decode-sized GEMMs (one row: the streaming GEMV; 2-8 rows: the tensor-core skinny GEMM,
// with k split over a block's warps for short, wide matrices; more rows, or k not a multiple of
// 8: cuBLASLt) against a float64 sum of the bf16-rounded operands: only the f32 summation order
// may differ, 1e-5. Each product twice: with a in f32 (rounded by the GEMM) and in bf16, as a
// bf16 backend's ops hand it over (Backend::gemm_input_dtype). Weight rows past a tile of 8, k past whole chunks of 64, more tiles than
// one wave of blocks holds (n = 20000), a k split that does not divide the chunks (k = 4160: 65
// chunks over 8 warps), and 9-17 rows (cuBLASLt).
TEST(CudaBf16, SkinnyGemmEqualsRoundedFloat64) {
  PM_NEED_CUDA();
  PM_SEED_TRACE();
  auto be = make_cuda_backend(GemmPrecision::BF16);
  Rng rng(41);
  struct Case {
    int m, n, k;
    bool aligned, bias, accumulate;
  };
  for (Case t : {Case{1, 1, 8, true, false, false},   {1, 80, 4096, true, false, false},
                 {1, 8192, 2048, true, true, false},  {1, 333, 48, false, true, true},
                 {2, 4100, 136, true, false, true},   {3, 77, 1000, true, true, false},
                 {4, 129, 160, false, false, false},  {5, 2048, 520, true, true, true},
                 {8, 513, 2560, true, false, false},  {8, 31, 24, false, true, false},
                 {1, 50280, 768, true, false, false}, {2, 8512, 2048, true, false, false},
                 {8, 2048, 4096, true, true, true},   {9, 100, 96, false, true, false},
                 {16, 4096, 128, true, false, true},  {12, 50, 4104, true, true, false},
                 {16, 17, 8, false, false, false},    {13, 5000, 520, true, true, true},
                 {17, 64, 64, true, false, false},    {3, 20000, 64, true, true, false},
                 {6, 96, 4160, true, false, true}}) {
    SCOPED_TRACE(std::to_string(t.m) + "x" + std::to_string(t.n) + "x" + std::to_string(t.k));
    const int lda = t.k + (t.aligned ? 4 : 3), ldc = t.n + 1;
    auto a = rng.normals(size_t(t.m) * lda), w = rng.normals(size_t(t.n) * t.k),
         bias = rng.normals(t.n), c0 = rng.normals(size_t(t.m) * ldc);
    std::vector<double> want(c0.size());
    for (int i = 0; i < t.m; ++i)
      for (int j = 0; j < t.n; ++j) {
        double s = (t.accumulate ? c0[size_t(i) * ldc + j] : 0.0) + (t.bias ? bias[j] : 0.0);
        for (int q = 0; q < t.k; ++q)
          s += double(round_to_bf16(a[size_t(i) * lda + q])) *
               double(round_to_bf16(w[size_t(j) * t.k + q]));
        want[size_t(i) * ldc + j] = s;
      }
    Tensor ga = to_device(a), ga16 = to_device_bf16(a), gw = to_device(w), gb = to_device(bias);
    for (bool a_bf16 : {false, true}) {
      SCOPED_TRACE(a_bf16 ? "a in bf16" : "a in f32");
      Tensor gc = to_device(c0);
      const GemmParams g{t.m,      t.n, t.k,         a_bf16 ? act(ga16) : act(ga),
                         lda,      gw.f32(), t.bias ? gb.f32() : nullptr,
                         gc.f32(), ldc, t.accumulate};
      if (!t.accumulate) {  // twice: the second call reads the bf16 weights made by the first early
        be->gemm(g);
        be->synchronize();
      }
      be->gemm(g);
      const std::vector<float> got = to_host(*be, gc);
      std::vector<double> got_rows, want_rows;  // the columns past n keep c0
      for (int i = 0; i < t.m; ++i)
        for (int j = 0; j < ldc; ++j) {
          got_rows.push_back(got[size_t(i) * ldc + j]);
          want_rows.push_back(j < t.n ? want[size_t(i) * ldc + j] : c0[size_t(i) * ldc + j]);
        }
      EXPECT_LT(testing::rel_error(got_rows, want_rows), 1e-5);
    }
  }
}

}  // namespace
}  // namespace perfmamba::cuda_testing
