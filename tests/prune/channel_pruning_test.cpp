// Channel / head pruning: the narrowed model computes what the full model computes with the
// removed channels switched off (their x and their out_proj columns at zero), exports and
// reloads unchanged, and bad requests are refused clearly.
#include <gtest/gtest.h>

#include <algorithm>

#include "perfmamba/model/export.hpp"
#include "perfmamba/model/load.hpp"
#include "perfmamba/prune/channel_pruning.hpp"
#include "testing.hpp"
#include "testing_files.hpp"

namespace perfmamba {
namespace {

Tensor logits_of(MambaLM& m, const std::vector<int32_t>& ids, int batch) {
  InferenceState st = m.new_state(batch);
  return m.prefill(ids.data(), batch, int(ids.size()) / batch, st, true);
}

void zero_row(Tensor& t, int64_t r) {
  if (!t.defined()) return;
  const int64_t cols = t.numel() / t.dim(0);
  std::fill(t.f32() + r * cols, t.f32() + (r + 1) * cols, 0.0f);
}

// x of a removed channel is zero (in_proj x row and conv channel at zero: silu(0) = 0, so its
// state stays 0 and y = C s + D x = 0), and out_proj reads nothing from it.
void switch_off(const MambaConfig& c, ModelWeights& w, const std::vector<std::vector<int>>& keep) {
  for (int i = 0; i < c.n_layer; ++i) {
    const LayerDims& l = c.layers[size_t(i)];
    LayerWeights& lw = w.layers[size_t(i)];
    const bool m1 = c.arch == Arch::Mamba1;
    const int units = m1 ? l.d_inner : l.n_heads, width = m1 ? 1 : l.head_dim;
    for (int u = 0; u < units; ++u) {
      if (std::binary_search(keep[size_t(i)].begin(), keep[size_t(i)].end(), u)) continue;
      for (int p = 0; p < width; ++p) {
        const int64_t ch = int64_t(u) * width + p;
        const int64_t x_row = m1 ? ch : l.d_inner + ch;
        zero_row(lw.in_proj, x_row);
        zero_row(lw.in_proj_bias, x_row);
        zero_row(lw.conv_weight, ch);
        zero_row(lw.conv_bias, ch);
        for (int64_t r = 0; r < lw.out_proj.dim(0); ++r) lw.out_proj.f32()[r * l.d_inner + ch] = 0.0f;
      }
    }
  }
}

class ChannelSurgery : public ::testing::TestWithParam<std::string> {};

TEST_P(ChannelSurgery, EqualsTheFullModelWithPrunedChannelsOff) {
  PM_SEED_TRACE();
  auto be = make_cpu_backend();
  const std::string dir = testing::fixtures_dir() + "/golden/" + GetParam();
  LoadedModel pruned = load_model(dir, *be), masked = load_model(dir, *be);
  MambaConfig c0 = pruned.model->config();
  // The gated norm's epsilon is the one thing slicing cannot keep (the group has fewer
  // elements); take it out of the comparison.
  c0.norm_eps = 1e-30;
  testing::Rng rng(43);
  LayerScores scores(size_t(c0.n_layer));
  for (int i = 0; i < c0.n_layer; ++i) {
    const LayerDims& l = c0.layers[size_t(i)];
    scores[size_t(i)].resize(size_t(c0.arch == Arch::Mamba1 ? l.d_inner : l.n_heads));
    for (auto& v : scores[size_t(i)]) v = rng.uniform(0, 1);
  }
  const auto keep = select_channels(c0, scores, 0.4, /*global=*/GetParam() == "m1_odd");
  MambaConfig c = c0;
  prune_channels(c, pruned.model->mutable_weights(), keep);
  MambaLM small(c, pruned.model->weights(), *be);
  switch_off(c0, masked.model->mutable_weights(), keep);
  finalize_weights(c0, masked.model->mutable_weights());
  MambaLM full(c0, masked.model->weights(), *be);
  std::vector<int32_t> ids(26);
  for (auto& t : ids) t = rng.integer(0, c0.vocab_size - 1);
  Tensor a = logits_of(small, ids, 2), b = logits_of(full, ids, 2);
  EXPECT_LT(testing::rel_error(a.f32(), b.f32(), size_t(b.numel())), 1e-5);
  for (int i = 0; i < c.n_layer; ++i) {
    const LayerDims& l = c.layers[size_t(i)];
    EXPECT_EQ(c.arch == Arch::Mamba1 ? l.d_inner : l.n_heads, int(keep[size_t(i)].size()));
    EXPECT_LT(l.d_inner, c0.layers[size_t(i)].d_inner);
  }
  testing::TempDir out;
  export_hf(c, small.mutable_weights(), out.path().string(), {});
  LoadedModel back = load_model(out.path().string(), *be);
  EXPECT_EQ(back.model->config().layers, c.layers);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ChannelSurgery, ::testing::Values("m1_odd", "m1_basic", "m2_groups"));

TEST(ChannelPruning, HeadsLeaveEveryGroupAlike) {
  auto be = make_cpu_backend();
  LoadedModel lm = load_model(testing::fixtures_dir() + "/golden/m2_groups", *be);
  const MambaConfig& c = lm.model->config();
  ASSERT_GT(c.n_groups, 1);
  const auto scores = channel_scores(PruneMethod::Magnitude, c, lm.model->weights(), nullptr, 0);
  for (bool global : {false, true}) {
    const auto keep = select_channels(c, scores, 0.5, global);
    for (size_t i = 0; i < keep.size(); ++i) {
      const int per_group = c.layers[i].n_heads / c.n_groups;
      std::vector<int> count(size_t(c.n_groups), 0);
      for (int h : keep[i]) count[size_t(h / per_group)] += 1;
      for (int n : count) EXPECT_EQ(n, count[0]) << "layer " << i;
      EXPECT_GE(count[0], 1);
    }
  }
}

TEST(ChannelPruning, BadRequestsAreRefused) {
  auto be = make_cpu_backend();
  LoadedModel lm = load_model(testing::fixtures_dir() + "/golden/m1_basic", *be);
  const MambaConfig& c = lm.model->config();
  const auto scores = channel_scores(PruneMethod::Random, c, lm.model->weights(), nullptr, 1);
  testing::expect_error([&] { select_channels(c, scores, 1.0, false); }, {"--ratio", "[0, 1)"});
  testing::expect_error([&] { select_channels(c, scores, 0.999, false); }, {"--ratio", "keeps no channel"});
  testing::expect_error([&] { channel_scores(PruneMethod::DeltaChannel, c, lm.model->weights(), nullptr, 0); },
                        {"--calib"});
  testing::expect_error([&] { channel_scores(PruneMethod::DeltaState, c, lm.model->weights(), nullptr, 0); },
                        {"--method", "states"});
}

TEST(ChannelPruning, DeltaChannelScoresComeFromCalibration) {
  auto be = make_cpu_backend();
  for (const char* m : {"mamba1-victorian", "mamba2-victorian"}) {
    LoadedModel lm = load_model(testing::models_dir() + "/" + m, *be);
    std::vector<int32_t> ids(200);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 7919) % 8192);
    const Calibration cal = calibrate(*lm.model, ids, 100);
    const auto scores = channel_scores(PruneMethod::DeltaChannel, lm.model->config(), lm.model->weights(), &cal, 0);
    const LayerDims& l = lm.model->config().layers[0];
    ASSERT_EQ(scores[0].size(), size_t(std::string(m) == "mamba1-victorian" ? l.d_inner : l.n_heads));
    for (const auto& layer : scores)
      for (double v : layer) EXPECT_GT(v, 0.0) << m;
  }
}

}  // namespace
}  // namespace perfmamba
