// perfmamba compare: a base model and its pruned version side by side — perplexity, zero-shot
// accuracy, prefill/decode speed and memory — measured in one run on the same machine.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "perfmamba/cli/common.hpp"
#include "perfmamba/core/error.hpp"
#include "perfmamba/eval/perplexity.hpp"
#include "perfmamba/eval/zeroshot.hpp"
#include "perfmamba/io/atomic_file.hpp"
#include "perfmamba/io/mapped_file.hpp"
#include "perfmamba/model/model_stats.hpp"
#include "perfmamba/profile/report.hpp"

namespace perfmamba::cli {
namespace {
struct CompareOptions {
  CommonOptions common;  // common.model unused: --base and --pruned name the models
  std::string base, pruned, ppl_file, tasks, data_dir = "../shared/data/zeroshot", seqlens = "256,1024", out, tokenizer;
  int64_t max_tokens = 16385, limit = 200;
  bool force = false;
};

nlohmann::json measure(const CompareOptions& o, const std::string& model, const std::string& tok_path) {
  auto backend = make_backend(o.common.device, o.common.precision);
  LoadedModel lm = load_model(model, *backend, o.common.seed);
  nlohmann::json j;
  const ModelStats st = model_stats(lm.model->config());
  j["model"] = model;
  j["params"] = st.total_params;
  j["ssm_state_bytes_per_sequence"] = st.ssm_state_bytes;
  if (!o.ppl_file.empty()) {
    const Tokenizer tok = Tokenizer::from_file(tok_path);
    auto ids = tok.encode(read_text_file(o.ppl_file));
    if (int64_t(ids.size()) > o.max_tokens) ids.resize(size_t(o.max_tokens));
    const PerplexityResult r = perplexity(*lm.model, ids, {1025, 1024, 8});
    j["ppl"] = r.ppl();
    j["ppl_tokens"] = r.tokens;
  }
  if (!o.tasks.empty()) {
    const Tokenizer tok = Tokenizer::from_file(tok_path);
    const std::vector<std::string> names = o.tasks == "all" ? task_names() : std::vector<std::string>{o.tasks};
    for (const std::string& name : names) {
      const TaskResult r = evaluate_task(*lm.model, tok, load_task(name, o.data_dir), o.limit);
      j["tasks"][name] = {{"acc", r.acc}, {"acc_stderr", r.acc_stderr}, {"items", r.items}};
    }
  }
  ProfileOptions po;
  po.seqlens.clear();
  for (int32_t v : parse_ids(o.seqlens)) po.seqlens.push_back(v);
  po.decode_positions = {0};
  po.repeats = 3;
  j["profile"] = profile_to_json(run_profile(lm, *backend, po));
  return j;
}

void compare(const CompareOptions& o) {
  apply_threads(o.common);
  const std::string tok_path = tokenizer_path(o.base, o.tokenizer, !o.ppl_file.empty() || !o.tasks.empty());
  const nlohmann::json a = measure(o, o.base, tok_path), b = measure(o, o.pruned, tok_path);
  nlohmann::json j = {{"base", a}, {"pruned", b}, {"device", a["profile"]["device"]}};
  std::printf("%-34s %16s %16s %9s\n", "", "base", "pruned", "change");
  auto row = [](const char* what, double x, double y, bool ratio) {
    std::printf("%-34s %16.4g %16.4g %+8.1f%%\n", what, x, y, ratio ? 100.0 * (y / x - 1.0) : 100.0 * (y - x));
  };
  row("parameters", a["params"].get<double>(), b["params"].get<double>(), true);
  row("SSM state per sequence (bytes)", a["ssm_state_bytes_per_sequence"].get<double>(), b["ssm_state_bytes_per_sequence"].get<double>(), true);
  if (a.contains("ppl")) row("perplexity", a["ppl"].get<double>(), b["ppl"].get<double>(), true);
  if (a.contains("tasks"))
    for (auto it = a["tasks"].begin(); it != a["tasks"].end(); ++it)
      row((it.key() + " acc (points)").c_str(), (*it)["acc"].get<double>(), b["tasks"][it.key()]["acc"].get<double>(), false);
  const auto& pa = a["profile"]["phases"];
  const auto& pb = b["profile"]["phases"];
  for (size_t i = 0; i < pa.size() && i < pb.size(); ++i) {
    const std::string what = pa[i]["mode"].get<std::string>() + (pa[i]["mode"] == "prefill" ? " L=" + std::to_string(pa[i]["len"].get<int>()) : "");
    row((what + " tokens/s").c_str(), pa[i]["tokens_per_s"].get<double>(), pb[i]["tokens_per_s"].get<double>(), true);
    row((what + " peak activations (B)").c_str(), pa[i]["peak_activation_bytes"].get<double>(), pb[i]["peak_activation_bytes"].get<double>(), true);
  }
  if (!o.out.empty()) {
    std::filesystem::create_directories(o.out);
    write_file_atomic((std::filesystem::path(o.out) / "compare.json").string(), j.dump(1) + "\n", o.force);
    write_file_atomic((std::filesystem::path(o.out) / "compare.html").string(), profile_compare_html(a["profile"], b["profile"]), o.force);
  }
  if (o.common.json) print_json(j);
}
}  // namespace

void register_compare(CLI::App& app) {
  auto o = std::make_shared<CompareOptions>();
  auto* cmd = app.add_subcommand("compare", "A model and its pruned version side by side: accuracy, speed, memory");
  cmd->add_option("--base", o->base, "The original model")->required();
  cmd->add_option("--pruned", o->pruned, "The pruned model")->required();
  cmd->add_option("--ppl", o->ppl_file, "Text file for perplexity (first --max-tokens tokens, windows of 1025 every 1024)");
  cmd->add_option("--max-tokens", o->max_tokens, "Tokens of the perplexity file to score");
  cmd->add_option("--task", o->tasks, "A zero-shot task, or all");
  cmd->add_option("--limit", o->limit, "Items per task");
  cmd->add_option("--data-dir", o->data_dir, "Directory of the zero-shot task files");
  cmd->add_option("--seqlen", o->seqlens, "Prefill lengths to time");
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.json (default: the base model's)");
  cmd->add_option("--out", o->out, "Directory for compare.json and compare.html");
  cmd->add_flag("--force", o->force, "Replace existing files");
  cmd->add_option("--threads,-t", o->common.threads, "CPU threads");
  cmd->add_flag("--json", o->common.json, "Print JSON");
  add_device_option(*cmd, o->common);
  cmd->callback([o] { compare(*o); });
}

}  // namespace perfmamba::cli
