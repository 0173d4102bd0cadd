// Per-row gathers and reductions: the embedding lookup, greedy argmax.
#include <algorithm>
#include <cstdint>

#include "perfmamba/backend/cpu/kernels.hpp"

namespace perfmamba::cpu {

void embedding(const EmbeddingParams& p) {
#pragma omp parallel for if (p.tokens > 16)
  for (int t = 0; t < p.tokens; ++t) {
    const float* src = p.table + size_t(p.ids[t]) * p.dim;
    std::copy(src, src + p.dim, p.out + size_t(t) * p.dim);
  }
}

void argmax_rows(const ArgmaxParams& p) {
  for (int r = 0; r < p.rows; ++r) {
    const float* x = p.x + size_t(r) * p.ldx;
    int best = 0;
    for (int c = 1; c < p.cols; ++c)
      if (x[c] > x[best] || (x[best] != x[best] && x[c] == x[c])) best = c;
    p.out[r] = best;
  }
}

}  // namespace perfmamba::cpu
