#include "perfmamba/eval/perplexity.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>
#include <vector>

#include "perfmamba/core/error.hpp"
#include "perfmamba/eval/log_softmax.hpp"

namespace perfmamba {

double PerplexityResult::ppl() const {
  return std::exp(mean_nll());
}

namespace {
struct Window {
  int64_t begin, end, targets;  // score the last `targets` predictions of [begin, end)
};

std::vector<Window> windows(int64_t n, int ctx, int stride) {
  std::vector<Window> out;
  int64_t prev_end = 0;
  for (int64_t begin = 0;; begin += stride) {
    const int64_t end = std::min<int64_t>(begin + ctx, n);
    // Position 0 of a window has no context: at most end - begin - 1 targets per window.
    const int64_t targets = std::min<int64_t>(end - prev_end, end - begin - 1);
    if (targets > 0) out.push_back({begin, end, targets});
    prev_end = end;
    if (end == n) break;
  }
  return out;
}

}  // namespace

PerplexityResult perplexity(MambaLM& model, const std::vector<int32_t>& ids,
                            const PerplexityOptions& opt,
                            const std::function<void(int64_t, int64_t)>& on_progress) {
  require(opt.ctx >= 2, "", "--ctx", "must be at least 2");
  require(opt.stride >= 1 && opt.stride <= opt.ctx, "", "--stride", "must be in [1, ctx]");
  require(ids.size() >= 2, "", "text", "needs at least 2 tokens to score");
  const auto t0 = std::chrono::steady_clock::now();
  const int V = model.config().vocab_size;
  const auto all = windows(int64_t(ids.size()), opt.ctx, opt.stride);
  int64_t total = 0;
  for (const auto& w : all) total += w.targets;
  PerplexityResult r;
  // Windows of equal length go through one batched prefill; the last one is usually shorter.
  for (size_t i = 0; i < all.size();) {
    size_t j = i;
    const int64_t len = all[i].end - all[i].begin;
    while (j < all.size() && j - i < size_t(std::max(opt.batch, 1)) &&
           all[j].end - all[j].begin == len)
      ++j;
    const int batch = int(j - i);
    std::vector<int32_t> block;
    for (size_t k = i; k < j; ++k)
      block.insert(block.end(), ids.begin() + all[k].begin, ids.begin() + all[k].end);
    InferenceState state = model.new_state(batch);
    Tensor logits = model.prefill(block.data(), batch, int(len), state, true);
    // The rows' log-softmaxes on all cores (one row is a pass over the vocabulary: on a GPU this
    // loop took most of an evaluation's time), added below in row order, so the sum does not
    // depend on the thread count.
    std::vector<std::pair<int, int64_t>> rows;  // (window in the batch, position)
    for (int b = 0; b < batch; ++b) {
      const Window& w = all[i + size_t(b)];
      for (int64_t t = len - 1 - w.targets; t < len - 1; ++t)
        rows.emplace_back(b, t);  // t predicts t + 1
      r.tokens += w.targets;
    }
    std::vector<double> row_nll(rows.size());
    const float* lg = logits.f32();
#pragma omp parallel for schedule(static)
    for (size_t k = 0; k < rows.size(); ++k) {
      const auto [b, t] = rows[k];
      row_nll[k] = -log_softmax_at(lg + (size_t(b) * len + size_t(t)) * V, V,
                                   ids[size_t(all[i + size_t(b)].begin + t + 1)]);
    }
    for (double v : row_nll) r.nll_sum += v;
    r.windows += batch;
    if (on_progress) on_progress(r.tokens, total);
    i = j;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace perfmamba
