#include <algorithm>

#include "perfmamba/backend/cpu/kernels.hpp"

namespace perfmamba::cpu {

void embedding(const EmbeddingParams& p) {
#pragma omp parallel for if (p.tokens > 16)
  for (int t = 0; t < p.tokens; ++t) {
    const float* src = p.table + size_t(p.ids[t]) * p.dim;
    std::copy(src, src + p.dim, p.out + size_t(t) * p.dim);
  }
}

}  // namespace perfmamba::cpu
