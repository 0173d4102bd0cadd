#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "perfmamba/core/dtype.hpp"
#include "perfmamba/core/memory.hpp"
#include "perfmamba/core/tensor.hpp"
#include "testing.hpp"

namespace perfmamba {
namespace {

TEST(DType, HalfConversionsRoundTripEveryHalfValue) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(uint16_t(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f))));
      continue;
    }
    EXPECT_EQ(f32_to_f16(f), h) << std::hex << h;
  }
}

TEST(DType, HalfKnownValuesAndRounding) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);                // rounds to infinity
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie to even
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -26)), 0x0000);
}

TEST(DType, Bf16RoundsToNearestEven) {
  testing::Rng rng(7);
  for (int i = 0; i < 10000; ++i) {
    const float f = rng.normal(100.0f);
    const float back = bf16_to_f32(f32_to_bf16(f));
    EXPECT_LE(std::fabs(back - f), std::fabs(f) * (1.0f / 256.0f));
  }
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(DType, NamesRoundTrip) {
  for (auto t : {DType::F32, DType::F16, DType::BF16, DType::I64, DType::Bool})
    EXPECT_EQ(dtype_from_name(dtype_name(t)), t);
  EXPECT_FALSE(dtype_from_name("F8_E4M3").has_value());
}

TEST(Memory, TensorsAreAccountedWithPeak) {
  const auto before = memory_stats(Device::CPU);
  reset_peak_memory(Device::CPU);
  {
    Tensor a = Tensor::empty({1000, 1000});
    Tensor b = Tensor::zeros({10});
    EXPECT_EQ(memory_stats(Device::CPU).current_bytes, before.current_bytes + 4000040);
  }
  const auto after = memory_stats(Device::CPU);
  EXPECT_EQ(after.current_bytes, before.current_bytes);
  EXPECT_GE(after.peak_bytes, before.current_bytes + 4000040);
}

}  // namespace
}  // namespace perfmamba
