#include "perfmamba/prune/tensor_slicing.hpp"

#include <cstring>

namespace perfmamba {

Tensor take_rows(const Tensor& t, const std::vector<int64_t>& rows) {
  Shape s = t.shape();
  const int64_t cols = t.numel() / s[0];
  s[0] = int64_t(rows.size());
  Tensor out = Tensor::empty(s);
  for (size_t i = 0; i < rows.size(); ++i)
    std::memcpy(out.f32() + int64_t(i) * cols, t.f32() + rows[i] * cols, sizeof(float) * size_t(cols));
  return out;
}

Tensor take_columns(const Tensor& t, const std::vector<int64_t>& cols) {
  const int64_t rows = t.dim(0), n = t.dim(1);
  Tensor out = Tensor::empty({rows, int64_t(cols.size())});
  for (int64_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < cols.size(); ++j) out.f32()[r * int64_t(cols.size()) + int64_t(j)] = t.f32()[r * n + cols[j]];
  return out;
}

}  // namespace perfmamba
