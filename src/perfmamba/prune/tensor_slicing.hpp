#pragma once
// Copies of selected rows or columns of f32 weight tensors: the surgery of structured pruning.
#include <cstdint>
#include <vector>

#include "perfmamba/core/tensor.hpp"

namespace perfmamba {

// Rows of a [rows, ...] tensor (any trailing shape), in the order listed.
Tensor take_rows(const Tensor& t, const std::vector<int64_t>& rows);
// Columns of a [rows, cols] tensor, in the order listed.
Tensor take_columns(const Tensor& t, const std::vector<int64_t>& cols);

}  // namespace perfmamba
