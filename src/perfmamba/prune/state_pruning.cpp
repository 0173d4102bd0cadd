#include "perfmamba/prune/state_pruning.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "perfmamba/core/error.hpp"
#include "perfmamba/prune/tensor_slicing.hpp"

namespace perfmamba {
namespace {
double row_norm(const Tensor& t, int64_t row) {
  const int64_t cols = t.numel() / t.dim(0);
  const float* p = t.f32() + row * cols;
  double s = 0;
  for (int64_t i = 0; i < cols; ++i) s += double(p[i]) * p[i];
  return std::sqrt(s);
}

// Rows of in_proj (Mamba-2) / x_proj (Mamba-1) that produce B_gn and C_gn.
int64_t b_row(const MambaConfig& c, const LayerDims& l, int g, int n) {
  return c.arch == Arch::Mamba1 ? c.dt_rank + n : 2 * int64_t(l.d_inner) + int64_t(g) * l.d_state + n;
}
int64_t c_row(const MambaConfig& c, const LayerDims& l, int g, int n) {
  return c.arch == Arch::Mamba1 ? c.dt_rank + l.d_state + n
                                : 2 * int64_t(l.d_inner) + int64_t(c.n_groups + g) * l.d_state + n;
}

}  // namespace

std::optional<PruneMethod> parse_prune_method(const std::string& s) {
  if (s == "delta-state") return PruneMethod::DeltaState;
  if (s == "magnitude") return PruneMethod::Magnitude;
  if (s == "random") return PruneMethod::Random;
  if (s == "delta-channel") return PruneMethod::DeltaChannel;
  return std::nullopt;
}

LayerScores state_scores(PruneMethod m, const MambaConfig& c, const ModelWeights& w, const Calibration* cal,
                         uint64_t seed) {
  require(m != PruneMethod::DeltaChannel, "", "--method", "delta-channel scores channels, not states");
  LayerScores scores(size_t(c.n_layer));
  std::mt19937_64 rng(seed);
  for (int i = 0; i < c.n_layer; ++i) {
    const LayerDims& l = c.layers[size_t(i)];
    auto& s = scores[size_t(i)];
    s.assign(size_t(l.d_state), 0.0);
    for (int n = 0; n < l.d_state; ++n) {
      if (m == PruneMethod::Random) {
        s[size_t(n)] = std::uniform_real_distribution<double>(0, 1)(rng);
      } else if (m == PruneMethod::Magnitude) {
        const Tensor& proj = c.arch == Arch::Mamba1 ? w.layers[size_t(i)].x_proj : w.layers[size_t(i)].in_proj;
        const int groups = c.arch == Arch::Mamba1 ? 1 : c.n_groups;
        for (int g = 0; g < groups; ++g)
          s[size_t(n)] += row_norm(proj, b_row(c, l, g, n)) * row_norm(proj, c_row(c, l, g, n));
      } else {
        require(cal && size_t(i) < cal->layers.size() && cal->layers[size_t(i)].tokens > 0, "", "--calib",
                "delta-state needs calibration statistics for every layer");
        s[size_t(n)] = cal->layers[size_t(i)].delta_state[size_t(n)] / double(cal->layers[size_t(i)].tokens);
      }
    }
  }
  return scores;
}

std::vector<std::vector<int>> select_states(const LayerScores& scores, double ratio, bool global) {
  require(ratio >= 0.0 && ratio < 1.0, "", "--ratio", "must be in [0, 1), found " + std::to_string(ratio));
  std::vector<std::vector<int>> keep(scores.size());
  if (!global) {
    for (size_t i = 0; i < scores.size(); ++i) {
      const int N = int(scores[i].size());
      const int k = int(std::lround(N * (1.0 - ratio)));
      require(k >= 1, "", "--ratio", "keeps no state of layer " + std::to_string(i) + " (d_state " +
                                         std::to_string(N) + ")");
      std::vector<int> idx(static_cast<size_t>(N));
      std::iota(idx.begin(), idx.end(), 0);
      std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return scores[i][size_t(a)] > scores[i][size_t(b)]; });
      idx.resize(size_t(k));
      std::sort(idx.begin(), idx.end());
      keep[i] = idx;
    }
    return keep;
  }
  struct Entry { double score; size_t layer; int state; };
  std::vector<Entry> all;
  size_t total = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    const double mean = std::accumulate(scores[i].begin(), scores[i].end(), 0.0) / double(scores[i].size());
    for (size_t n = 0; n < scores[i].size(); ++n)
      all.push_back({mean > 0 ? scores[i][n] / mean : 0.0, i, int(n)});
    total += scores[i].size();
  }
  const size_t k = size_t(std::lround(double(total) * (1.0 - ratio)));
  std::stable_sort(all.begin(), all.end(), [](const Entry& a, const Entry& b) { return a.score > b.score; });
  for (size_t j = 0; j < k && j < all.size(); ++j) keep[all[j].layer].push_back(all[j].state);
  for (size_t i = 0; i < keep.size(); ++i) {
    require(!keep[i].empty(), "", "--ratio", "global selection keeps no state of layer " + std::to_string(i));
    std::sort(keep[i].begin(), keep[i].end());
  }
  return keep;
}

void prune_states(MambaConfig& c, ModelWeights& w, const std::vector<std::vector<int>>& keep) {
  require(keep.size() == size_t(c.n_layer), "", "keep", "one list of states per layer expected");
  for (int i = 0; i < c.n_layer; ++i) {
    LayerDims& l = c.layers[size_t(i)];
    LayerWeights& lw = w.layers[size_t(i)];
    const auto& k = keep[size_t(i)];
    const int N = l.d_state, E = l.d_inner;
    if (c.arch == Arch::Mamba1) {
      std::vector<int64_t> rows;
      for (int r = 0; r < c.dt_rank; ++r) rows.push_back(r);
      for (int n : k) rows.push_back(c.dt_rank + n);
      for (int n : k) rows.push_back(c.dt_rank + N + n);
      lw.x_proj = take_rows(lw.x_proj, rows);
      Tensor a = Tensor::empty({E, int64_t(k.size())});
      for (int e = 0; e < E; ++e)
        for (size_t j = 0; j < k.size(); ++j) a.f32()[size_t(e) * k.size() + j] = lw.A_log.f32()[size_t(e) * N + size_t(k[j])];
      lw.A_log = a;
    } else {
      // xBC channels kept, as indices into the conv input; in_proj rows are these plus E (z first)
      const int G = c.n_groups;
      std::vector<int64_t> conv;
      for (int ch = 0; ch < E; ++ch) conv.push_back(ch);
      for (int part = 0; part < 2; ++part)  // B, then C
        for (int g = 0; g < G; ++g)
          for (int n : k) conv.push_back(E + int64_t(part * G + g) * N + n);
      std::vector<int64_t> proj;
      for (int r = 0; r < E; ++r) proj.push_back(r);
      for (int64_t ch : conv) proj.push_back(E + ch);
      for (int h = 0; h < l.n_heads; ++h) proj.push_back(2 * int64_t(E) + 2 * int64_t(G) * N + h);
      lw.in_proj = take_rows(lw.in_proj, proj);
      if (lw.in_proj_bias.defined()) lw.in_proj_bias = take_rows(lw.in_proj_bias, proj);
      lw.conv_weight = take_rows(lw.conv_weight, conv);
      if (lw.conv_bias.defined()) lw.conv_bias = take_rows(lw.conv_bias, conv);
    }
    l.d_state = int(k.size());
  }
  finalize_weights(c, w);
}

}  // namespace perfmamba
