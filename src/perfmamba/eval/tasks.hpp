#pragma once
// Zero-shot multiple-choice tasks, read from ../shared/data/zeroshot and formatted the way the
// standard evaluation harness (lm-evaluation-harness) formats them (docs/eval.md): every choice
// is a (context, continuation) pair scored by the log-likelihood of the continuation.
#include <string>
#include <vector>

namespace perfmamba {

struct Choice {
  std::string context, continuation;
};

struct TaskItem {
  std::vector<Choice> choices;  // one choice: a LAMBADA-style target
  int label = 0;
};

struct Task {
  std::string name;
  std::vector<TaskItem> items;
  bool has_acc_norm = false;   // length-normalised accuracy (by continuation bytes)
  bool is_lambada = false;     // acc = greedy match of the target; also perplexity of the target
};

std::vector<std::string> task_names();  // lambada_openai, piqa, arc_easy, hellaswag, winogrande
// Loads one task from the zeroshot data directory; errors name the file and line.
Task load_task(const std::string& name, const std::string& data_dir);

}  // namespace perfmamba
