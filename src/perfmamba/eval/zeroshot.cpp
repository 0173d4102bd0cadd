#include "perfmamba/eval/zeroshot.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>

#include "perfmamba/core/error.hpp"
#include "perfmamba/eval/log_softmax.hpp"

namespace perfmamba {
namespace {
// A batch-`rows` state whose every row is a copy of the batch-1 state `s`.
InferenceState broadcast_state(const InferenceState& s, int rows, Device dev) {
  InferenceState c;
  c.batch = rows;
  c.position = s.position;
  auto repeat = [&](const Tensor& t) {
    Shape shape = t.shape();
    shape[0] = rows;
    Tensor out = Tensor::empty(shape, t.dtype(), dev);
    for (int r = 0; r < rows; ++r) {
      auto* dst = static_cast<uint8_t*>(out.raw()) + size_t(r) * t.nbytes();
      if (dev == Device::CPU)
        std::memcpy(dst, t.raw(), t.nbytes());
      else
        device_memory(dev).copy(dst, t.raw(), t.nbytes(), 2);
    }
    return out;
  };
  for (const auto& l : s.layers) c.layers.push_back({repeat(l.conv_state), repeat(l.ssm_state)});
  return c;
}

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}

double mean_stderr(const std::vector<double>& x) {
  if (x.size() < 2) return 0.0;
  double m = 0, v = 0;
  for (double a : x) m += a;
  m /= double(x.size());
  for (double a : x) v += (a - m) * (a - m);
  return std::sqrt(v / double(x.size() - 1) / double(x.size()));
}
}  // namespace

std::vector<ChoiceScore> score_item(MambaLM& model, const Tokenizer& tok, const TaskItem& item) {
  const int V = model.config().vocab_size;
  std::vector<ChoiceScore> out(item.choices.size());
  std::map<std::string, std::vector<size_t>> by_context;
  for (size_t c = 0; c < item.choices.size(); ++c) by_context[item.choices[c].context].push_back(c);
  for (const auto& [context, members] : by_context) {
    // As the harness does: the context encoded alone; the continuation is what the encoding of
    // context + continuation adds after that many tokens. An empty context starts from EOS.
    std::vector<int32_t> ctx = tok.encode(context);
    if (ctx.empty()) ctx.push_back(std::max(model.config().eos_token_id, 0));
    InferenceState st = model.new_state(1);
    const Tensor last = model.prefill(ctx.data(), 1, int(ctx.size()), st, false);
    std::vector<std::vector<int32_t>> conts;
    size_t longest = 0;
    for (size_t c : members) {
      const std::vector<int32_t> whole = tok.encode(context + item.choices[c].continuation);
      require(whole.size() > ctx.size() || context.empty(), "", "task item",
              "continuation '" + item.choices[c].continuation + "' adds no token to its context");
      conts.emplace_back(whole.begin() + std::ptrdiff_t(context.empty() ? 0 : ctx.size()),
                         whole.end());
      longest = std::max(longest, conts.back().size());
    }
    // All continuations of this context in one batched forward from copies of its state. They
    // are right-padded to the longest: with a causal model, positions after a continuation's end
    // cannot change the logits that score it.
    Tensor logits;
    const int steps = int(longest) - 1, rows = int(members.size());
    if (steps > 0) {
      std::vector<int32_t> batch(size_t(rows) * size_t(steps), conts[0][0]);
      for (int r = 0; r < rows; ++r)
        for (int t = 0; t < steps && size_t(t) < conts[size_t(r)].size(); ++t)
          batch[size_t(r) * size_t(steps) + size_t(t)] = conts[size_t(r)][size_t(t)];
      InferenceState branch = broadcast_state(st, rows, model.backend().device());
      logits = model.prefill(batch.data(), rows, steps, branch, true);
    }
    for (int r = 0; r < rows; ++r) {
      const auto& cont = conts[size_t(r)];
      ChoiceScore& s = out[members[size_t(r)]];
      s.tokens = int(cont.size());
      bool is_max = false;
      s.loglik = log_softmax_at(last.f32(), V, cont[0], &is_max);
      s.greedy = is_max;
      for (size_t t = 1; t < cont.size(); ++t) {
        s.loglik += log_softmax_at(logits.f32() + (size_t(r) * size_t(steps) + t - 1) * size_t(V),
                                   V, cont[t], &is_max);
        s.greedy = s.greedy && is_max;
      }
    }
  }
  return out;
}

TaskResult evaluate_task(MambaLM& model, const Tokenizer& tok, const Task& task, int64_t limit,
                         const std::function<void(int64_t, int64_t)>& on_progress) {
  const auto t0 = std::chrono::steady_clock::now();
  TaskResult r;
  r.task = task.name;
  const int64_t n =
      limit > 0 ? std::min<int64_t>(limit, int64_t(task.items.size())) : int64_t(task.items.size());
  std::vector<double> acc, acc_norm, ll;
  for (int64_t i = 0; i < n; ++i) {
    const TaskItem& item = task.items[size_t(i)];
    auto scores = score_item(model, tok, item);
    if (task.is_lambada) {
      acc.push_back(scores[0].greedy ? 1.0 : 0.0);
      ll.push_back(scores[0].loglik);
    } else {
      size_t best = 0, best_norm = 0;
      for (size_t c = 1; c < scores.size(); ++c) {
        if (scores[c].loglik > scores[best].loglik) best = c;
        const auto norm = [&](size_t k) {
          return scores[k].loglik / double(code_points(item.choices[k].continuation));
        };
        if (norm(c) > norm(best_norm)) best_norm = c;
      }
      acc.push_back(int(best) == item.label ? 1.0 : 0.0);
      acc_norm.push_back(int(best_norm) == item.label ? 1.0 : 0.0);
    }
    r.scores.push_back(std::move(scores));
    if (on_progress) on_progress(i + 1, n);
  }
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0.0 : s / double(v.size());
  };
  r.items = n;
  r.acc = mean(acc);
  r.acc_stderr = mean_stderr(acc);
  if (task.has_acc_norm) {
    r.acc_norm = mean(acc_norm);
    r.acc_norm_stderr = mean_stderr(acc_norm);
  }
  if (task.is_lambada) r.ppl = std::exp(-mean(ll));
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace perfmamba
