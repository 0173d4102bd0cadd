// The vectorisable exp/log1p/softplus/silu of the CPU kernels against libm in double.
#include <gtest/gtest.h>

#include <cmath>

#include "perfmamba/backend/cpu/math.hpp"

namespace perfmamba {
namespace {

double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-300); }

TEST(CpuMath, ExpIsAccurateOverTheFloatRange) {
  double worst = 0;
  for (float x = -87.0f; x < 88.0f; x += 0.0137f) worst = std::max(worst, rel(cpu::exp_fast(x), std::exp(double(x))));
  EXPECT_LT(worst, 3e-7);
  EXPECT_EQ(cpu::exp_fast(0.0f), 1.0f);
  EXPECT_LT(cpu::exp_fast(-1000.0f), 1e-37f);
  EXPECT_GE(cpu::exp_fast(-1000.0f), 0.0f);
}

TEST(CpuMath, Log1pSoftplusSiluAreAccurate) {
  double w_log = 0, w_sp = 0, w_silu = 0;
  for (float u = 0.0f; u <= 1.0f; u += 1e-4f) w_log = std::max(w_log, rel(cpu::log1p_unit(u), std::log1p(double(u))));
  for (float u = 1e-30f; u < 1e-4f; u *= 1.37f) w_log = std::max(w_log, rel(cpu::log1p_unit(u), std::log1p(double(u))));
  for (float v = -30.0f; v < 30.0f; v += 0.011f) {
    const double sp = v > 20 ? v : std::log1p(std::exp(double(v)));
    w_sp = std::max(w_sp, rel(cpu::softplus(v), sp));
    w_silu = std::max(w_silu, std::fabs(cpu::silu(v) - v / (1 + std::exp(-double(v)))) / std::max(1.0, std::fabs(double(v))));
  }
  EXPECT_LT(w_log, 5e-7);
  EXPECT_LT(w_sp, 5e-7);
  EXPECT_LT(w_silu, 5e-7);
}

}  // namespace
}  // namespace perfmamba
