#include <algorithm>
#include <cstdint>
#include <vector>

#include "perfmamba/backend/cpu/kernels.hpp"
#include "perfmamba/backend/cpu/math.hpp"

namespace perfmamba::cpu {

// Timeline of one sequence: positions 0..w-2 are the state (history), w-1.. the new inputs.
void conv1d(const Conv1dParams& p) {
  const int hist = p.width - 1, C = p.channels;
  auto input_row = [&](int b, int pos) -> const float* {
    return pos < hist ? p.conv_state + (size_t(b) * hist + pos) * C
                      : p.x + (size_t(b) * p.len + (pos - hist)) * p.ldx;
  };
  // Weights transposed to [width, channels] so the channel loop reads them contiguously.
  std::vector<float> wt(size_t(p.width) * C);
  for (int c = 0; c < C; ++c)
    for (int k = 0; k < p.width; ++k) wt[size_t(k) * C + c] = p.weight[size_t(c) * p.width + k];
  std::vector<float> zeros;
  const float* zero_row = nullptr;
  if (!p.conv_state) {
    zeros.assign(size_t(C), 0.0f);
    zero_row = zeros.data();
  }
#pragma omp parallel for collapse(2) if (size_t(p.batch) * p.len * C > 4096)
  for (int b = 0; b < p.batch; ++b) {
    for (int t = 0; t < p.len; ++t) {
      float* o = p.out + (size_t(b) * p.len + t) * p.ldo;
#pragma omp simd
      for (int c = 0; c < C; ++c) o[c] = p.bias ? p.bias[c] : 0.0f;
      for (int k = 0; k < p.width; ++k) {
        const int pos = t + k;
        const float* in = (pos < hist && !p.conv_state) ? zero_row : input_row(b, pos);
        const float* w = wt.data() + size_t(k) * C;
#pragma omp simd
        for (int c = 0; c < C; ++c) o[c] += w[c] * in[c];
      }
      if (p.silu) {
#pragma omp simd
        for (int c = 0; c < C; ++c) o[c] = silu(o[c]);
      }
      if (p.out_bf16)
        convert_from_f32(o, DType::BF16,
                         static_cast<uint16_t*>(p.out_bf16) + (size_t(b) * p.len + t) * C, size_t(C));
    }
  }
  if (!p.conv_state || hist == 0) return;
  // New history = the last `hist` positions of the timeline (may still include old state).
  std::vector<float> next(size_t(hist) * C);
  for (int b = 0; b < p.batch; ++b) {
    for (int j = 0; j < hist; ++j) {
      const float* src = input_row(b, p.len + j);
      std::copy(src, src + C, next.begin() + size_t(j) * C);
    }
    std::copy(next.begin(), next.end(), p.conv_state + size_t(b) * hist * C);
  }
}

}  // namespace perfmamba::cpu
