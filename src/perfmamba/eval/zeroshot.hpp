#pragma once
// Zero-shot scoring: log-likelihood of each choice's continuation given its context, computed
// with the state cache: a context shared by several choices is prefilled once and its state
// copied for each continuation. Accuracy, length-normalised accuracy and their standard errors
// as the evaluation harness defines them.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "perfmamba/eval/tasks.hpp"
#include "perfmamba/model/mamba_lm.hpp"
#include "perfmamba/tokenizer/tokenizer.hpp"

namespace perfmamba {

struct ChoiceScore {
  double loglik = 0;    // sum over continuation tokens, nats
  bool greedy = false;  // every continuation token is the argmax
  int tokens = 0;
};

std::vector<ChoiceScore> score_item(MambaLM& model, const Tokenizer& tok, const TaskItem& item);

struct TaskResult {
  std::string task;
  int64_t items = 0;
  double acc = 0, acc_stderr = 0;
  double acc_norm = -1, acc_norm_stderr = 0;  // -1: not defined for the task
  double ppl = -1;                            // LAMBADA: exp(-mean log-likelihood of the target)
  double seconds = 0;
  std::vector<std::vector<ChoiceScore>> scores;
};

// limit > 0 scores only the first `limit` items.
TaskResult evaluate_task(MambaLM& model, const Tokenizer& tok, const Task& task, int64_t limit,
                         const std::function<void(int64_t, int64_t)>& on_progress = {});

}  // namespace perfmamba
