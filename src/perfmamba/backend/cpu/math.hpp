#pragma once
// Scalar helpers the CPU kernels inline into their SIMD loops. Kept as plain expressions on
// float so that GCC can map exp/log1p to glibc's vector math library (libmvec).
#include <cmath>

namespace perfmamba::cpu {

// PyTorch's softplus with beta = 1, threshold = 20: linear above the threshold.
inline float softplus(float v) { return v > 20.0f ? v : std::log1p(std::exp(v)); }
inline float silu(float v) { return v / (1.0f + std::exp(-v)); }

}  // namespace perfmamba::cpu
