#pragma once
// Perplexity of a token stream under a sliding window: windows of ctx tokens every stride
// tokens, each scoring only the targets that earlier windows did not (the protocol of the
// Hugging Face perplexity guide). With stride < ctx every token after the first is scored
// exactly once, with at least ctx - stride tokens of context; with stride == ctx the first
// token of each window has no context and is not scored.
#include <cstdint>
#include <functional>
#include <vector>

#include "perfmamba/model/mamba_lm.hpp"

namespace perfmamba {

struct PerplexityOptions {
  int ctx = 1024;
  int stride = 512;
  int batch = 1;  // windows scored per forward
};

struct PerplexityResult {
  double nll_sum = 0;     // nats
  int64_t tokens = 0;     // scored targets
  int64_t windows = 0;
  double seconds = 0;
  double mean_nll() const { return tokens ? nll_sum / double(tokens) : 0.0; }
  double ppl() const;
};

// on_progress(scored_tokens, total_targets) after each batch of windows.
PerplexityResult perplexity(MambaLM& model, const std::vector<int32_t>& ids,
                            const PerplexityOptions& opt,
                            const std::function<void(int64_t, int64_t)>& on_progress = {});

}  // namespace perfmamba
