// State pruning: the sliced model computes what the full model computes with the removed states
// switched off (their B and C forced to zero), exports and reloads unchanged, and bad requests
// are refused clearly.
#include <gtest/gtest.h>

#include <algorithm>

#include "perfmamba/model/export.hpp"
#include "perfmamba/model/load.hpp"
#include "perfmamba/prune/state_pruning.hpp"
#include "testing.hpp"
#include "testing_files.hpp"

namespace perfmamba {
namespace {

Tensor logits_of(MambaLM& m, const std::vector<int32_t>& ids, int batch) {
  InferenceState st = m.new_state(batch);
  return m.prefill(ids.data(), batch, int(ids.size()) / batch, st, true);
}

// Zeroes the rows that produce B_n and C_n of the removed states (and, for Mamba-2, their conv
// channels, so that silu(conv(0)) = 0 reaches the scan).
void switch_off(const MambaConfig& c, ModelWeights& w, const std::vector<std::vector<int>>& keep) {
  for (int i = 0; i < c.n_layer; ++i) {
    const LayerDims& l = c.layers[size_t(i)];
    LayerWeights& lw = w.layers[size_t(i)];
    const int N = l.d_state, E = l.d_inner;
    for (int n = 0; n < N; ++n) {
      if (std::binary_search(keep[size_t(i)].begin(), keep[size_t(i)].end(), n)) continue;
      auto zero_row = [](Tensor& t, int64_t r) {
        if (!t.defined()) return;
        const int64_t cols = t.numel() / t.dim(0);
        std::fill(t.f32() + r * cols, t.f32() + (r + 1) * cols, 0.0f);
      };
      if (c.arch == Arch::Mamba1) {
        zero_row(lw.x_proj, c.dt_rank + n);
        zero_row(lw.x_proj, c.dt_rank + N + n);
      } else {
        for (int part = 0; part < 2; ++part)
          for (int g = 0; g < c.n_groups; ++g) {
            const int64_t ch = E + int64_t(part * c.n_groups + g) * N + n;
            zero_row(lw.in_proj, E + ch);
            zero_row(lw.in_proj_bias, E + ch);
            zero_row(lw.conv_weight, ch);
            zero_row(lw.conv_bias, ch);
          }
      }
    }
  }
}

class Surgery : public ::testing::TestWithParam<std::string> {};

TEST_P(Surgery, EqualsTheFullModelWithPrunedStatesOff) {
  PM_SEED_TRACE();
  auto be = make_cpu_backend();
  const std::string dir = testing::fixtures_dir() + "/golden/" + GetParam();
  LoadedModel pruned = load_model(dir, *be), masked = load_model(dir, *be);
  const MambaConfig c0 = pruned.model->config();
  testing::Rng rng(41);
  LayerScores scores(size_t(c0.n_layer));
  for (int i = 0; i < c0.n_layer; ++i) scores[size_t(i)] = [&] {
    std::vector<double> s(size_t(c0.layers[size_t(i)].d_state));
    for (auto& v : s) v = rng.uniform(0, 1);
    return s;
  }();
  const auto keep = select_states(scores, 0.4, /*global=*/GetParam() == "m2_groups");
  MambaConfig c = c0;
  prune_states(c, pruned.model->mutable_weights(), keep);
  MambaLM small(c, pruned.model->weights(), *be);
  switch_off(c0, masked.model->mutable_weights(), keep);
  finalize_weights(c0, masked.model->mutable_weights());
  std::vector<int32_t> ids(26);
  for (auto& t : ids) t = rng.integer(0, c0.vocab_size - 1);
  Tensor a = logits_of(small, ids, 2), b = logits_of(*masked.model, ids, 2);
  EXPECT_LT(testing::rel_error(a.f32(), b.f32(), size_t(b.numel())), 1e-6);
  for (int i = 0; i < c.n_layer; ++i) EXPECT_EQ(c.layers[size_t(i)].d_state, int(keep[size_t(i)].size()));

  // Export (f32) and reload: same logits, and the per-layer sizes survive in config.json.
  testing::TempDir out;
  export_hf(c, small.mutable_weights(), out.path().string(), {});
  LoadedModel back = load_model(out.path().string(), *be);
  EXPECT_EQ(back.model->config().layers, c.layers);
  Tensor r = logits_of(*back.model, ids, 2);
  EXPECT_EQ(testing::rel_error(r.f32(), a.f32(), size_t(a.numel())), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Surgery, ::testing::Values("m1_odd", "m2_groups"));

TEST(StatePruning, BadRequestsAreRefused) {
  const LayerScores s = {{0.1, 0.5, 0.2}, {0.3, 0.1, 0.9}};
  testing::expect_error([&] { select_states(s, 1.0, false); }, {"--ratio", "[0, 1)"});
  testing::expect_error([&] { select_states(s, -0.1, false); }, {"--ratio"});
  testing::expect_error([&] { select_states(s, 0.9, false); }, {"--ratio", "keeps no state of layer 0"});
  EXPECT_EQ(select_states(s, 0.34, false), (std::vector<std::vector<int>>{{1, 2}, {0, 2}}));
  auto be = make_cpu_backend();
  LoadedModel lm = load_model(testing::fixtures_dir() + "/golden/m1_basic", *be);
  testing::expect_error([&] { state_scores(PruneMethod::DeltaState, lm.model->config(), lm.model->weights(), nullptr, 0); },
                        {"--calib", "calibration"});
}

TEST(StatePruning, DeltaStateScoresComeFromCalibration) {
  auto be = make_cpu_backend();
  LoadedModel lm = load_model(testing::models_dir() + "/mamba2-victorian", *be);
  std::vector<int32_t> ids(300);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 7919) % 8192);
  const Calibration cal = calibrate(*lm.model, ids, 128);
  EXPECT_EQ(cal.tokens, 300);
  const auto scores = state_scores(PruneMethod::DeltaState, lm.model->config(), lm.model->weights(), &cal, 0);
  ASSERT_EQ(scores.size(), 8u);
  for (const auto& layer : scores) {
    ASSERT_EQ(layer.size(), 64u);
    for (double v : layer) EXPECT_GT(v, 0.0);
  }
}

}  // namespace
}  // namespace perfmamba
