// Sliding-window perplexity against a direct computation from full-window logits, and the
// generation loop against prefill-only greedy decoding.
#include <gtest/gtest.h>

#include <cmath>

#include "perfmamba/eval/perplexity.hpp"
#include "perfmamba/model/generate.hpp"
#include "perfmamba/model/load.hpp"
#include "testing.hpp"

namespace perfmamba {
namespace {

struct Fixture {
  std::unique_ptr<Backend> backend = make_cpu_backend();
  LoadedModel lm = load_model(testing::fixtures_dir() + "/golden/m2_groups", *backend);
  MambaLM& model() { return *lm.model; }
};

double log_softmax_at(const float* row, int V, int target) {
  double mx = row[0], sum = 0;
  for (int i = 0; i < V; ++i) mx = std::max(mx, double(row[i]));
  for (int i = 0; i < V; ++i) sum += std::exp(row[i] - mx);
  return row[target] - mx - std::log(sum);
}

// Scores window by window with a fresh state, the definition the sliding window implements.
double direct_nll(MambaLM& m, const std::vector<int32_t>& ids, int ctx, int stride, int64_t& count) {
  const int V = m.config().vocab_size, n = int(ids.size());
  double nll = 0;
  count = 0;
  int prev_end = 0;
  for (int begin = 0;; begin += stride) {
    const int end = std::min(begin + ctx, n);
    InferenceState st = m.new_state(1);
    Tensor logits = m.prefill(ids.data() + begin, 1, end - begin, st, true);
    for (int t = std::max(prev_end, begin + 1); t < end; ++t) {
      nll -= log_softmax_at(logits.f32() + size_t(t - 1 - begin) * V, V, ids[size_t(t)]);
      ++count;
    }
    prev_end = end;
    if (end == n) break;
  }
  return nll;
}

TEST(Perplexity, SlidingWindowMatchesDirectScoring) {
  PM_SEED_TRACE();
  Fixture f;
  testing::Rng rng(21);
  std::vector<int32_t> ids(83);
  for (auto& t : ids) t = rng.integer(0, f.model().config().vocab_size - 1);
  for (auto [ctx, stride, batch] : {std::tuple{83, 83, 1}, {20, 10, 3}, {16, 16, 2}, {9, 1, 4}, {100, 50, 1}}) {
    SCOPED_TRACE("ctx " + std::to_string(ctx) + " stride " + std::to_string(stride));
    const PerplexityResult r = perplexity(f.model(), ids, {ctx, stride, batch});
    int64_t count = 0;
    const double want = direct_nll(f.model(), ids, ctx, stride, count);
    EXPECT_EQ(r.tokens, count);
    // With overlapping windows every token after the first is scored exactly once; with
    // stride == ctx each window's first token has no context and is skipped.
    if (stride < ctx || ctx >= 83) {
      EXPECT_EQ(r.tokens, 82);
    }
    EXPECT_NEAR(r.nll_sum, want, 1e-4 * std::fabs(want));
  }
}

TEST(Generate, GreedyEqualsRepeatedPrefillArgmax) {
  Fixture f;
  MambaLM& m = f.model();
  const int V = m.config().vocab_size;
  std::vector<int32_t> seq = {3, 14, 15, 9, 2};
  Sampler greedy({});
  std::vector<int32_t> out;
  const auto st = generate(m, seq, 8, greedy, -1, [&](int32_t id) { out.push_back(id); });
  EXPECT_EQ(st.generated_tokens, 8);
  for (int32_t got : out) {
    InferenceState s = m.new_state(1);
    Tensor logits = m.prefill(seq.data(), 1, int(seq.size()), s, false);
    const int32_t want = int32_t(std::max_element(logits.f32(), logits.f32() + V) - logits.f32());
    EXPECT_EQ(got, want);
    seq.push_back(want);
  }
}

TEST(Sampler, TopKOneIsGreedyAndSeedsAreReproducible) {
  testing::Rng rng(5);
  const auto logits = rng.normals(500);
  const int32_t argmax = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
  Sampler k1({1.0f, 1, 1.0f, 7});
  Sampler tiny_p({1.0f, 0, 1e-6f, 7});
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(k1.sample(logits.data(), 500), argmax);
    EXPECT_EQ(tiny_p.sample(logits.data(), 500), argmax);
  }
  Sampler a({0.9f, 50, 0.95f, 123}), b({0.9f, 50, 0.95f, 123});
  for (int i = 0; i < 50; ++i) EXPECT_EQ(a.sample(logits.data(), 500), b.sample(logits.data(), 500));
}

}  // namespace
}  // namespace perfmamba
