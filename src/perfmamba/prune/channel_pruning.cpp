#include "perfmamba/prune/channel_pruning.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "perfmamba/core/error.hpp"
#include "perfmamba/prune/tensor_slicing.hpp"

namespace perfmamba {
namespace {
// Frobenius norm of columns [c0, c0 + n) of a row-major [rows, cols] matrix, optionally each
// column scaled by scale[c].
double column_norm(const Tensor& t, int64_t c0, int64_t n, const float* scale = nullptr) {
  const int64_t rows = t.dim(0), cols = t.dim(1);
  double s = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = c0; c < c0 + n; ++c) {
      const double v = double(t.f32()[r * cols + c]) * (scale ? scale[c] : 1.0f);
      s += v * v;
    }
  return std::sqrt(s);
}

double row_block_norm(const Tensor& t, int64_t r0, int64_t n) {
  const int64_t cols = t.numel() / t.dim(0);
  double s = 0;
  for (int64_t i = r0 * cols; i < (r0 + n) * cols; ++i) s += double(t.f32()[i]) * t.f32()[i];
  return std::sqrt(s);
}

std::vector<int> top_k(const std::vector<double>& s, const std::vector<int>& among, size_t k) {
  std::vector<int> idx = among;
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return s[size_t(a)] > s[size_t(b)]; });
  idx.resize(k);
  std::sort(idx.begin(), idx.end());
  return idx;
}
}  // namespace

LayerScores channel_scores(PruneMethod m, const MambaConfig& c, const ModelWeights& w, const Calibration* cal,
                           uint64_t seed) {
  LayerScores scores(size_t(c.n_layer));
  std::mt19937_64 rng(seed);
  for (int i = 0; i < c.n_layer; ++i) {
    const LayerDims& l = c.layers[size_t(i)];
    const LayerWeights& lw = w.layers[size_t(i)];
    const bool m1 = c.arch == Arch::Mamba1;
    const int units = m1 ? l.d_inner : l.n_heads, width = m1 ? 1 : l.head_dim;
    auto& s = scores[size_t(i)];
    s.assign(size_t(units), 0.0);
    require(m != PruneMethod::DeltaState, "", "--method", "delta-state scores states, not channels");
    if (m == PruneMethod::DeltaChannel)
      require(cal && size_t(i) < cal->layers.size() && cal->layers[size_t(i)].tokens > 0, "", "--calib",
              "delta-channel needs calibration statistics for every layer");
    for (int u = 0; u < units; ++u) {
      const int64_t ch0 = int64_t(u) * width;
      if (m == PruneMethod::Random) {
        s[size_t(u)] = std::uniform_real_distribution<double>(0, 1)(rng);
      } else if (m == PruneMethod::Magnitude) {
        // x rows of in_proj follow the z rows (Mamba-1: [x, z]; Mamba-2: [z, x, B, C, dt])
        const int64_t x_row = m1 ? ch0 : l.d_inner + ch0;
        s[size_t(u)] = row_block_norm(lw.in_proj, x_row, width) * column_norm(lw.out_proj, ch0, width);
      } else {
        const LayerCalibration& lc = cal->layers[size_t(i)];
        const double out = column_norm(lw.out_proj, ch0, width, m1 ? nullptr : lw.gated_norm.f32());
        s[size_t(u)] = lc.channel_drive[size_t(u)] / double(lc.tokens) * out;
      }
    }
  }
  return scores;
}

std::vector<std::vector<int>> select_channels(const MambaConfig& c, const LayerScores& scores, double ratio,
                                              bool global) {
  require(ratio >= 0.0 && ratio < 1.0, "", "--ratio", "must be in [0, 1), found " + std::to_string(ratio));
  const int groups = c.arch == Arch::Mamba1 ? 1 : c.n_groups;
  // Per-layer budget: uniform, or from the global ranking (counts only; kept per group below).
  std::vector<size_t> keep_count(scores.size());
  if (!global) {
    for (size_t i = 0; i < scores.size(); ++i)
      keep_count[i] = size_t(std::lround(double(scores[i].size() / groups) * (1.0 - ratio))) * groups;
  } else {
    std::vector<std::pair<double, size_t>> all;
    for (size_t i = 0; i < scores.size(); ++i) {
      const double mean = std::accumulate(scores[i].begin(), scores[i].end(), 0.0) / double(scores[i].size());
      for (double v : scores[i]) all.push_back({mean > 0 ? v / mean : 0.0, i});
    }
    std::stable_sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.first > b.first; });
    const size_t k = size_t(std::lround(double(all.size()) * (1.0 - ratio)));
    for (size_t j = 0; j < k; ++j) keep_count[all[j].second] += 1;
    for (auto& n : keep_count) n = n / groups * groups;  // whole heads per group
  }
  std::vector<std::vector<int>> keep(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) {
    const int units = int(scores[i].size()), per_group = units / groups;
    require(keep_count[i] >= size_t(groups), "", "--ratio",
            std::string("keeps no ") + (groups > 1 ? "head of a group" : c.arch == Arch::Mamba1 ? "channel" : "head") +
                " in layer " + std::to_string(i) + " (" + std::to_string(units) + ")");
    for (int g = 0; g < groups; ++g) {
      std::vector<int> among(static_cast<size_t>(per_group));
      std::iota(among.begin(), among.end(), g * per_group);
      for (int u : top_k(scores[i], among, keep_count[i] / size_t(groups))) keep[i].push_back(u);
    }
  }
  return keep;
}

void prune_channels(MambaConfig& c, ModelWeights& w, const std::vector<std::vector<int>>& keep) {
  require(keep.size() == size_t(c.n_layer), "", "keep", "one list of channels per layer expected");
  for (int i = 0; i < c.n_layer; ++i) {
    LayerDims& l = c.layers[size_t(i)];
    LayerWeights& lw = w.layers[size_t(i)];
    const auto& k = keep[size_t(i)];
    const int E = l.d_inner;
    std::vector<int64_t> ch;  // kept inner channels
    if (c.arch == Arch::Mamba1) {
      ch.assign(k.begin(), k.end());
      std::vector<int64_t> proj = ch;
      for (int64_t e : ch) proj.push_back(E + e);  // z rows
      lw.in_proj = take_rows(lw.in_proj, proj);
      if (lw.in_proj_bias.defined()) lw.in_proj_bias = take_rows(lw.in_proj_bias, proj);
      lw.conv_weight = take_rows(lw.conv_weight, ch);
      if (lw.conv_bias.defined()) lw.conv_bias = take_rows(lw.conv_bias, ch);
      lw.x_proj = take_columns(lw.x_proj, ch);
      lw.dt_proj = take_rows(lw.dt_proj, ch);
      lw.dt_bias = take_rows(lw.dt_bias, ch);
      lw.A_log = take_rows(lw.A_log, ch);
      lw.D = take_rows(lw.D, ch);
      l.d_inner = int(ch.size());
    } else {
      const int P = l.head_dim, G = c.n_groups, N = l.d_state, H = l.n_heads;
      for (int h : k)
        for (int p = 0; p < P; ++p) ch.push_back(int64_t(h) * P + p);
      std::vector<int64_t> conv = ch;  // x channels of kept heads, then all of B and C
      for (int64_t j = 0; j < 2 * int64_t(G) * N; ++j) conv.push_back(E + j);
      std::vector<int64_t> proj = ch;  // z
      for (int64_t j : conv) proj.push_back(E + j);
      for (int h : k) proj.push_back(2 * int64_t(E) + 2 * int64_t(G) * N + h);  // dt
      lw.in_proj = take_rows(lw.in_proj, proj);
      if (lw.in_proj_bias.defined()) lw.in_proj_bias = take_rows(lw.in_proj_bias, proj);
      lw.conv_weight = take_rows(lw.conv_weight, conv);
      if (lw.conv_bias.defined()) lw.conv_bias = take_rows(lw.conv_bias, conv);
      const std::vector<int64_t> heads(k.begin(), k.end());
      lw.dt_bias = take_rows(lw.dt_bias, heads);
      lw.A_log = take_rows(lw.A_log, heads);
      lw.D = take_rows(lw.D, heads);
      lw.gated_norm = take_rows(lw.gated_norm, ch);
      const float scale = float(std::sqrt(double(H) / double(k.size())));
      for (int64_t j = 0; j < lw.gated_norm.numel(); ++j) lw.gated_norm.f32()[j] *= scale;
      l.n_heads = int(k.size());
      l.d_inner = l.n_heads * P;
    }
    lw.out_proj = take_columns(lw.out_proj, ch);
  }
  finalize_weights(c, w);
}

}  // namespace perfmamba
