// Bridging and budget mode: lsq and fold lower every layer's error on the calibration text, a
// bridge on an unpruned model changes nothing, and the budget plan keeps to its budget.
#include <gtest/gtest.h>

#include "perfmamba/model/load.hpp"
#include "perfmamba/prune/bridge.hpp"
#include "perfmamba/prune/budget.hpp"
#include "perfmamba/prune/state_pruning.hpp"
#include "testing.hpp"
#include "testing_files.hpp"

namespace perfmamba {
namespace {

std::vector<int32_t> random_ids(testing::Rng& rng, int n, int vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& t : ids) t = rng.integer(0, vocab - 1);
  return ids;
}

class Bridges : public ::testing::TestWithParam<std::string> {};

TEST_P(Bridges, LowerEveryLayersError) {
  PM_SEED_TRACE();
  auto be = make_cpu_backend();
  LoadedModel lm = load_model(testing::fixtures_dir() + "/golden/" + GetParam(), *be);
  MambaLM& full = *lm.model;
  testing::Rng rng(7);
  const auto ids = random_ids(rng, 400, full.config().vocab_size);
  const auto keep = select_states(state_scores(PruneMethod::Random, full.config(), full.weights(), nullptr, 3), 0.5, false);
  for (BridgeKind kind : {BridgeKind::Fold, BridgeKind::Lsq, BridgeKind::LsqFold}) {
    MambaConfig c = full.config();
    ModelWeights w = full.weights();
    prune_states(c, w, keep);
    const BridgeReport r = bridge_pruned(full, c, w, ids, 100, kind, 1e-4);
    ASSERT_EQ(r.error_before.size(), size_t(c.n_layer));
    for (int i = 0; i < c.n_layer; ++i) {
      EXPECT_GT(r.error_before[size_t(i)], 0.0);
      EXPECT_LE(r.error_after[size_t(i)], r.error_before[size_t(i)] * (1 + 1e-9)) << "layer " << i << " kind " << int(kind);
      if (kind != BridgeKind::Fold) {
        EXPECT_LT(r.error_after[size_t(i)], r.error_before[size_t(i)]) << "layer " << i;
      }
    }
    if (kind != BridgeKind::Lsq) {
      EXPECT_TRUE(c.use_bias);  // the fold lives in out_proj bias
    }
    EXPECT_TRUE(full.weights().layers[0].out_proj.shape() != w.layers[0].out_proj.shape() ||
                full.config().layers[0].d_state != c.layers[0].d_state);  // the input model is untouched
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Bridges, ::testing::Values("m1_odd", "m2_groups"));

TEST(Bridge, OnAnUnprunedModelChangesNothing) {
  auto be = make_cpu_backend();
  LoadedModel lm = load_model(testing::fixtures_dir() + "/golden/m1_basic", *be);
  MambaLM& full = *lm.model;
  testing::Rng rng(9);
  const auto ids = random_ids(rng, 300, full.config().vocab_size);
  MambaConfig c = full.config();
  ModelWeights w = full.weights();
  // windows must be longer than the positions left out of the fit
  testing::expect_error([&] { bridge_pruned(full, c, w, ids, 32, BridgeKind::Fold, 0.0); }, {"--calib-window", "32"});
  bridge_pruned(full, c, w, ids, 100, BridgeKind::LsqFold, 0.0);
  MambaLM bridged(c, w, *be);
  const auto probe = random_ids(rng, 20, c.vocab_size);
  InferenceState s1 = full.new_state(1), s2 = bridged.new_state(1);
  Tensor a = full.prefill(probe.data(), 1, 20, s1, true), b = bridged.prefill(probe.data(), 1, 20, s2, true);
  EXPECT_LT(testing::rel_error(b.f32(), a.f32(), size_t(a.numel())), 1e-4);
}

TEST(Budget, KeepsToThePerplexityBudget) {
  auto be = make_cpu_backend();
  LoadedModel lm = load_model(testing::fixtures_dir() + "/golden/m1_odd", *be);
  MambaLM& full = *lm.model;
  testing::Rng rng(11);
  const auto ids = random_ids(rng, 256, full.config().vocab_size);
  const LayerScores scores = state_scores(PruneMethod::Magnitude, full.config(), full.weights(), nullptr, 0);
  BudgetProblem pb;
  pb.keep = [&](int l, double r) { return select_states({scores[size_t(l)]}, r, false)[0]; };
  pb.apply = [](MambaConfig& c, ModelWeights& w, const std::vector<std::vector<int>>& k) { prune_states(c, w, k); };
  pb.full_size = [&](int l) { return int(scores[size_t(l)].size()); };
  int timed = 0;
  const auto fake_time = [&](const MambaConfig& c, const ModelWeights&) {  // time ~ total states
    ++timed;
    double s = 1.0;
    for (const auto& l : c.layers) s += l.d_state;
    return s;
  };
  BudgetTarget t;
  t.max_ppl_increase = 0.01;
  const BudgetPlan plan = plan_budget(full, pb, t, ids, 64, fake_time);
  EXPECT_EQ(timed, 1 + int(t.ratios.size()));
  ASSERT_EQ(plan.ratios.size(), size_t(full.config().n_layer));
  EXPECT_LE(plan.predicted_ppl_increase, 0.01);
  for (double r : plan.ratios) EXPECT_TRUE(r == 0 || r == 0.25 || r == 0.5 || r == 0.75) << r;
  t.speedup = 1.2;
  testing::expect_error([&] { plan_budget(full, pb, t, ids, 64, fake_time); }, {"--target-speedup", "exactly one"});
  t.max_ppl_increase = 0;
  const BudgetPlan fast = plan_budget(full, pb, t, ids, 64, fake_time);
  EXPECT_GE(fast.predicted_speedup, 1.2);
}

}  // namespace
}  // namespace perfmamba
