// Greedy decoding with the choice made by the backend (MambaLM::decode_greedy) picks, step after
// step, the argmax of the logits that plain decode steps give on the host; and the argmax op
// takes the first of equal values and never a NaN.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "perfmamba/backend/cpu/kernels.hpp"
#include "perfmamba/model/load.hpp"
#include "testing.hpp"

namespace perfmamba {
namespace {

TEST(ArgmaxRows, FirstOfEqualsAndNeverNaN) {
  const float nan = std::nanf("");
  std::vector<float> x = {1, 3, 3, 2,  nan, -1, -1, nan,  nan, nan, nan, nan};
  std::vector<int32_t> out(3, -7);
  cpu::argmax_rows({3, 4, x.data(), 4, out.data()});
  EXPECT_EQ(out, (std::vector<int32_t>{1, 1, 0}));
}

TEST(GreedyDecode, EqualsHostArgmaxOfPlainSteps) {
  auto be = make_cpu_backend();
  for (const char* name : {"m1_odd", "m2_groups"}) {
    SCOPED_TRACE(name);
    LoadedModel lm = load_model(testing::fixtures_dir() + "/golden/" + name, *be);
    MambaLM& m = *lm.model;
    const int batch = 2, steps = 5, V = m.config().vocab_size;
    InferenceState a = m.new_state(batch), b = m.new_state(batch);
    const std::vector<int32_t> first = {3, 11};
    const std::vector<int32_t> got = m.decode_greedy(first.data(), a, steps);
    ASSERT_EQ(got.size(), size_t(steps * batch));
    std::vector<int32_t> ids = first;
    for (int s = 0; s < steps; ++s) {
      Tensor logits = m.decode(ids.data(), b);
      for (int r = 0; r < batch; ++r) {
        const float* row = logits.f32() + size_t(r) * V;
        ids[size_t(r)] = int32_t(std::max_element(row, row + V) - row);
        EXPECT_EQ(got[size_t(s) * batch + r], ids[size_t(r)]) << "step " << s << " row " << r;
      }
    }
    EXPECT_EQ(a.position, b.position);
  }
}

}  // namespace
}  // namespace perfmamba
