#pragma once
// The fused decode steps' scratch (steps.hpp): one store per architecture, since their sums are
// laid out differently and must be zero between steps. A larger scratch replaces the current one
// when a layer needs more; the old ones stay until the store goes, because graphs recorded
// earlier point at them.
#include <algorithm>
#include <cstddef>
#include <vector>

#include "perfmamba/backend/cuda/step/steps.hpp"

namespace perfmamba::cuda {

class StepScratchStore {
 public:
  StepScratchStore() = default;
  ~StepScratchStore();
  StepScratchStore(const StepScratchStore&) = delete;
  StepScratchStore& operator=(const StepScratchStore&) = delete;

  // Large enough for these layers, growing it if need be; false while a graph is recorded and it
  // is too small (a new scratch is zeroed before use, which cannot happen inside a recording).
  template <class Params>
  bool fits(const Params* layers, int n, bool recording) {
    size_t need_sums = 0, need_y = 0;
    for (int i = 0; i < n; ++i) {
      need_sums = std::max(need_sums, step_sums_floats(layers[i]));
      need_y = std::max(need_y, step_y_floats(layers[i]));
    }
    if (need_sums <= sums_ && need_y <= y_) return true;
    if (recording) return false;
    grow(need_sums, need_y);
    return true;
  }
  const StepScratch& view() const { return view_; }

 private:
  void grow(size_t sums, size_t y);
  StepScratch view_{};
  size_t sums_ = 0, y_ = 0;
  std::vector<void*> all_;
};

}  // namespace perfmamba::cuda
