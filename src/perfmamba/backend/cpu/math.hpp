#pragma once
// Scalar math written so that GCC vectorises it inside `omp simd` loops without -ffast-math:
// glibc's vector exp/log1p are only declared under __FAST_MATH__ (and no branch may remain), and a
// scalar libm call in the scan's inner loop costs ~20x the arithmetic around it.
#include <bit>
#include <cstdint>

#include "perfmamba/core/atanh_series.hpp"

namespace perfmamba::cpu {

// e^x, relative error below 2e-7 over the whole float range (inputs are clamped to
// [-87.3, 88.3]: below, e^x underflows to ~1e-38, far below anything a decay contributes).
// Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2, then the minimax polynomial of Cephes' expf.
inline float exp_fast(float x) {
  x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
  // Round to nearest via the 1.5*2^23 trick: vectorises, unlike nearbyint without fast-math.
  const float k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (x - k * 0.693359375f) - k * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const uint32_t scale = uint32_t(int32_t(k) + 127) << 23;
  return p * std::bit_cast<float>(scale);
}

// ln(1 + w) for w in [0, 1] (core/atanh_series.hpp).
inline float log1p_unit(float w) {
  return two_atanh_series(w / (2.0f + w));
}

// PyTorch's softplus with beta = 1, threshold = 20: linear above the threshold.
// softplus(v) = max(v, 0) + ln(1 + e^-|v|): no overflow, no cancellation, no branch.
inline float softplus(float v) {
  const float a = v < 0.0f ? -v : v;
  const float soft = (v > 0.0f ? v : 0.0f) + log1p_unit(exp_fast(-a));
  return v > 20.0f ? v : soft;
}
inline float silu(float v) {
  return v / (1.0f + exp_fast(-v));
}

}  // namespace perfmamba::cpu
