#include "perfmamba/prune/budget.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "perfmamba/core/error.hpp"
#include "perfmamba/core/progress.hpp"
#include "perfmamba/eval/perplexity.hpp"

namespace perfmamba {

double window_perplexity(const MambaConfig& c, const ModelWeights& w, Backend& cpu, const std::vector<int32_t>& ids,
                         int window) {
  MambaLM m(c, w, cpu);
  PerplexityOptions o;
  o.ctx = window;
  o.stride = window;
  o.batch = 4;
  return perplexity(m, ids, o).ppl();
}

BudgetPlan plan_budget(MambaLM& full, const BudgetProblem& pb, const BudgetTarget& target,
                       const std::vector<int32_t>& eval_ids, int window,
                       const std::function<double(const MambaConfig&, const ModelWeights&)>& time_model) {
  BudgetTarget t = target;  // candidate ratios ascending and distinct: a step always prunes more
  std::sort(t.ratios.begin(), t.ratios.end());
  t.ratios.erase(std::unique(t.ratios.begin(), t.ratios.end()), t.ratios.end());
  require(!t.ratios.empty(), "", "--budget-ratios", "needs at least one ratio");
  require((t.speedup > 1.0) != (t.max_ppl_increase > 0.0), "", "--target-speedup",
          "give exactly one of --target-speedup (> 1) and --max-ppl-increase (> 0)");
  const MambaConfig& c0 = full.config();
  const ModelWeights& w0 = full.weights();
  const int L = c0.n_layer, R = int(t.ratios.size());
  Backend& cpu = full.backend();
  BudgetPlan plan;
  plan.base_ppl = window_perplexity(c0, w0, cpu, eval_ids, window);
  const auto keep_all = [&](const std::vector<double>& r) {
    std::vector<std::vector<int>> keep(static_cast<size_t>(L));
    for (int i = 0; i < L; ++i) {
      if (r[size_t(i)] > 0) keep[size_t(i)] = pb.keep(i, r[size_t(i)]);
      else for (int j = 0; j < pb.full_size(i); ++j) keep[size_t(i)].push_back(j);
    }
    return keep;
  };
  const auto pruned = [&](const std::vector<double>& r, MambaConfig& c, ModelWeights& w) {
    c = c0;
    w = w0;
    pb.apply(c, w, keep_all(r));
  };

  Progress bar("sensitivity", int64_t(L) * R + R + 1, "models");
  int64_t done = 0;
  plan.seconds.push_back(time_model(c0, w0));
  bar.update(++done);
  for (int j = 0; j < R; ++j) {
    MambaConfig c;
    ModelWeights w;
    pruned(std::vector<double>(size_t(L), t.ratios[size_t(j)]), c, w);
    plan.seconds.push_back(time_model(c, w));
    bar.update(++done);
  }
  plan.ppl_cost.assign(size_t(L), std::vector<double>(size_t(R), 0.0));
  for (int i = 0; i < L; ++i)
    for (int j = 0; j < R; ++j) {
      std::vector<double> r(size_t(L), 0.0);
      r[size_t(i)] = t.ratios[size_t(j)];
      MambaConfig c;
      ModelWeights w;
      pruned(r, c, w);
      plan.ppl_cost[size_t(i)][size_t(j)] = window_perplexity(c, w, cpu, eval_ids, window) / plan.base_ppl - 1.0;
      bar.update(++done);
    }

  // Greedy allocation over steps (layer i: candidate level[i] -> level[i] + 1).
  std::vector<int> level(size_t(L), -1);  // -1: unpruned
  const double t0 = plan.seconds[0];
  const auto saving = [&](int lv) { return lv < 0 ? 0.0 : (t0 - plan.seconds[size_t(lv) + 1]) / L; };
  const auto cost = [&](int i, int lv) { return lv < 0 ? 0.0 : std::max(0.0, plan.ppl_cost[size_t(i)][size_t(lv)]); };
  double saved = 0, spent = 0;
  for (;;) {
    const double speed = t0 / std::max(t0 - saved, 1e-12);
    if (t.speedup > 1.0 && speed >= t.speedup) break;
    int best = -1;
    double best_ratio = std::numeric_limits<double>::infinity(), best_gain = 0, best_cost = 0;
    for (int i = 0; i < L; ++i) {
      const int lv = level[size_t(i)];
      if (lv + 1 >= R) continue;
      const double gain = saving(lv + 1) - saving(lv), dc = cost(i, lv + 1) - cost(i, lv);
      if (gain <= 0) continue;  // a step that is not measured faster is never worth its cost
      if (t.max_ppl_increase > 0 && spent + dc > t.max_ppl_increase) continue;
      const double per = std::max(dc, 1e-9) / std::max(gain, 1e-12);
      if (per < best_ratio) best = i, best_ratio = per, best_gain = gain, best_cost = dc;
    }
    if (best < 0) break;  // nothing left to prune within the budget
    level[size_t(best)] += 1;
    saved += best_gain;
    spent += best_cost;
  }
  plan.ratios.assign(size_t(L), 0.0);
  for (int i = 0; i < L; ++i) plan.ratios[size_t(i)] = level[size_t(i)] < 0 ? 0.0 : t.ratios[size_t(level[size_t(i)])];
  plan.predicted_speedup = t0 / std::max(t0 - saved, 1e-12);
  plan.predicted_ppl_increase = spent;
  if (t.speedup > 1.0 && plan.predicted_speedup < t.speedup)
    std::fprintf(stderr, "perfmamba: warning: --target-speedup %.3g is out of reach; the plan predicts %.3gx\n",
                 t.speedup, plan.predicted_speedup);
  return plan;
}

}  // namespace perfmamba
