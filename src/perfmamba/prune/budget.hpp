#pragma once
// Budget mode: per-layer pruning ratios chosen from measurements instead of one ratio for all.
//   1. Sensitivity: each layer alone pruned at each candidate ratio; the relative perplexity
//      increase on held-out calibration tokens is that layer's cost at that ratio.
//   2. Speed: the whole model timed with every layer at each candidate ratio (on the device the
//      model will run on); a layer's saving at ratio r is 1/n_layer of the whole-model saving.
//   3. Allocation: greedy, cheapest perplexity per second saved first, one ratio step at a time,
//      until the predicted speed-up reaches --target-speedup, or for as long as the summed
//      perplexity cost stays within --max-ppl-increase.
// Costs are assumed additive across layers; the final model's perplexity is measured, not
// predicted, and reported beside the prediction.
#include <functional>
#include <string>
#include <vector>

#include "perfmamba/model/mamba_lm.hpp"
#include "perfmamba/prune/state_pruning.hpp"

namespace perfmamba {

struct BudgetTarget {
  double speedup = 0;            // > 1: reach at least this predicted speed-up
  double max_ppl_increase = 0;   // > 0: relative perplexity increase allowed (0.02 = 2%)
  std::vector<double> ratios = {0.25, 0.5, 0.75};
};

// keep(layer, ratio) -> the kept indices of that layer at that ratio (from the criterion's
// scores); apply(config, weights, keep per layer) -> the pruned model's config and weights.
struct BudgetProblem {
  std::function<std::vector<int>(int layer, double ratio)> keep;
  std::function<void(MambaConfig&, ModelWeights&, const std::vector<std::vector<int>>&)> apply;
  std::function<int(int layer)> full_size;  // states or channels of a layer before pruning
};

struct BudgetPlan {
  std::vector<double> ratios;                 // per layer
  std::vector<std::vector<double>> ppl_cost;  // [layer][candidate]: relative ppl increase
  std::vector<double> seconds;                // whole-model forward time per candidate (index 0: unpruned)
  double base_ppl = 0, predicted_speedup = 1, predicted_ppl_increase = 0;
};

// `eval_ids` are scored in windows of `window` tokens; `time_model` times one forward of a model
// (the caller picks device and length).
BudgetPlan plan_budget(MambaLM& full, const BudgetProblem& problem, const BudgetTarget& target,
                       const std::vector<int32_t>& eval_ids, int window,
                       const std::function<double(const MambaConfig&, const ModelWeights&)>& time_model);

// Perplexity of `ids` under (c, w) on the CPU, windows of `window` tokens.
double window_perplexity(const MambaConfig& c, const ModelWeights& w, Backend& cpu, const std::vector<int32_t>& ids,
                         int window);

}  // namespace perfmamba
