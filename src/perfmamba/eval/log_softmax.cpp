#include "perfmamba/eval/log_softmax.hpp"

#include <algorithm>
#include <cmath>

namespace perfmamba {

double log_softmax_at(const float* row, int vocab, int target, bool* is_max) {
  const float* mx = std::max_element(row, row + vocab);
  double sum = 0;
  for (int i = 0; i < vocab; ++i) sum += std::exp(double(row[i]) - *mx);
  if (is_max) *is_max = (mx - row) == target;
  return double(row[target]) - *mx - std::log(sum);
}

}  // namespace perfmamba
