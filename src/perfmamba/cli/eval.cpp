// perfmamba eval: perplexity of a text file under a sliding window.
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "perfmamba/cli/common.hpp"
#include "perfmamba/core/error.hpp"
#include "perfmamba/core/progress.hpp"
#include "perfmamba/eval/perplexity.hpp"
#include "perfmamba/eval/zeroshot.hpp"
#include "perfmamba/io/mapped_file.hpp"
#include "perfmamba/model/load.hpp"
#include "perfmamba/tokenizer/tokenizer.hpp"

namespace perfmamba::cli {
namespace {
struct EvalOptions {
  CommonOptions common;
  std::string ppl_file, tokenizer, tasks, data_dir = "../shared/data/zeroshot";
  PerplexityOptions ppl;
  int64_t max_tokens = 0, limit = 0;
  bool per_item = false;
};

void eval_tasks(const EvalOptions& o) {
  std::vector<std::string> names;
  if (o.tasks == "all") names = task_names();
  else
    for (size_t b = 0, e; b <= o.tasks.size(); b = e + 1) {
      e = o.tasks.find(',', b);
      if (e == std::string::npos) e = o.tasks.size();
      if (e > b) names.push_back(o.tasks.substr(b, e - b));
    }
  require(!names.empty(), "", "--task", "no task named");
  const Tokenizer tok = Tokenizer::from_file(tokenizer_path(o.common.model, o.tokenizer, true));
  std::vector<Task> tasks;
  for (const auto& n : names) tasks.push_back(load_task(n, o.data_dir));  // all parsed before any scoring
  auto backend = make_backend(o.common.device, o.common.precision);
  LoadedModel lm = load_model(o.common.model, *backend, o.common.seed);
  nlohmann::json results = nlohmann::json::array();
  if (!o.common.json) std::printf("%-15s %7s %16s %16s %10s %9s\n", "task", "items", "acc", "acc_norm", "ppl", "items/s");
  for (const Task& t : tasks) {
    TaskResult r;
    {
      std::optional<Progress> bar;
      r = evaluate_task(*lm.model, tok, t, o.limit, [&](int64_t done, int64_t total) {
        if (!bar) bar.emplace(t.name, total, "items");
        bar->update(done);
      });
    }
    nlohmann::json j = {{"task", r.task}, {"items", r.items}, {"acc", r.acc}, {"acc_stderr", r.acc_stderr},
                        {"seconds", r.seconds}, {"items_per_s", double(r.items) / r.seconds}};
    if (r.acc_norm >= 0) j["acc_norm"] = r.acc_norm, j["acc_norm_stderr"] = r.acc_norm_stderr;
    if (r.ppl >= 0) j["ppl"] = r.ppl;
    if (o.per_item) {
      nlohmann::json items = nlohmann::json::array();
      for (const auto& item : r.scores) {
        nlohmann::json choices = nlohmann::json::array();
        for (const auto& c : item) choices.push_back({{"loglik", c.loglik}, {"greedy", c.greedy}, {"tokens", c.tokens}});
        items.push_back(choices);
      }
      j["per_item"] = items;
    }
    results.push_back(j);
    if (!o.common.json) {
      char norm[32] = "-", ppl[32] = "-";
      if (r.acc_norm >= 0) std::snprintf(norm, sizeof norm, "%.4f ± %.4f", r.acc_norm, r.acc_norm_stderr);
      if (r.ppl >= 0) std::snprintf(ppl, sizeof ppl, "%.2f", r.ppl);
      std::printf("%-15s %7lld  %.4f ± %.4f %16s %10s %9.1f\n", r.task.c_str(), static_cast<long long>(r.items), r.acc,
                  r.acc_stderr, norm, ppl, double(r.items) / r.seconds);
    }
  }
  if (o.common.json) print_json({{"model", o.common.model}, {"device", backend->name()}, {"results", results}});
}

void eval(const EvalOptions& o) {
  apply_threads(o.common);
  require(!o.ppl_file.empty() || !o.tasks.empty(), "", "--ppl", "give a text file to score (--ppl) or tasks (--task)");
  if (!o.tasks.empty()) return eval_tasks(o);
  const Tokenizer tok = Tokenizer::from_file(tokenizer_path(o.common.model, o.tokenizer, true));
  const std::string text = read_text_file(o.ppl_file);
  std::vector<int32_t> ids;
  try {
    ids = tok.encode(text);
  } catch (const Error& e) {
    throw Error(o.ppl_file, e.field(), e.message());
  }
  if (o.max_tokens > 0 && int64_t(ids.size()) > o.max_tokens) ids.resize(size_t(o.max_tokens));
  require(ids.size() >= 2, o.ppl_file, "", "holds fewer than 2 tokens: nothing to score");
  // Bits per byte over the bytes the scored tokens stand for (the first token is context only).
  const double bytes = double(tok.decode(ids).size() - tok.decode_one(ids[0]).size());

  auto backend = make_backend(o.common.device, o.common.precision);
  LoadedModel lm = load_model(o.common.model, *backend, o.common.seed);
  PerplexityResult r;
  {
    std::optional<Progress> bar;
    r = perplexity(*lm.model, ids, o.ppl, [&](int64_t done, int64_t total) {
      if (!bar) bar.emplace("perplexity", total, "tokens");
      bar->update(done);
    });
  }
  const double bpb = r.nll_sum / std::log(2.0) / bytes;
  if (o.common.json) {
    print_json({{"model", o.common.model}, {"file", o.ppl_file}, {"ppl", r.ppl()},
                {"mean_nll", r.mean_nll()}, {"tokens", r.tokens}, {"windows", r.windows},
                {"bits_per_byte", bpb}, {"ctx", o.ppl.ctx}, {"stride", o.ppl.stride},
                {"seconds", r.seconds}, {"tokens_per_s", double(r.tokens) / r.seconds}});
  } else {
    std::printf("perplexity %.4f  (mean NLL %.5f nats, %.4f bits/byte) over %lld tokens in %lld windows "
                "(ctx %d, stride %d), %.1f s\n",
                r.ppl(), r.mean_nll(), bpb, static_cast<long long>(r.tokens),
                static_cast<long long>(r.windows), o.ppl.ctx, o.ppl.stride, r.seconds);
  }
}
}  // namespace

void register_eval(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  auto* cmd = app.add_subcommand("eval", "Perplexity of a text file, or zero-shot task accuracy");
  add_model_options(*cmd, o->common);
  add_device_option(*cmd, o->common);
  cmd->add_option("--ppl", o->ppl_file, "Text file to score");
  cmd->add_option("--task", o->tasks, "Zero-shot tasks, comma-separated, or all: lambada_openai, piqa, arc_easy, hellaswag, winogrande");
  cmd->add_option("--data-dir", o->data_dir, "Directory of the zero-shot task files");
  cmd->add_option("--limit", o->limit, "Score only the first N items of each task")->check(CLI::Range(int64_t(0), int64_t(1) << 40));
  cmd->add_flag("--per-item", o->per_item, "With --json: every choice's log-likelihood");
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.json (default: the model directory's)");
  cmd->add_option("--ctx", o->ppl.ctx, "Window length in tokens")->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--stride", o->ppl.stride, "Window step in tokens (<= ctx)")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--batch", o->ppl.batch, "Windows per forward")->check(CLI::Range(1, 4096));
  cmd->add_option("--max-tokens", o->max_tokens, "Score only the first N tokens of the file")->check(CLI::Range(int64_t(0), int64_t(1) << 40));
  cmd->callback([o] { eval(*o); });
}

}  // namespace perfmamba::cli
