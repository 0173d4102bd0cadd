// perfmamba run: prefill a prompt of token ids and decode greedily with the state cache.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "perfmamba/cli/common.hpp"
#include "perfmamba/core/error.hpp"
#include "perfmamba/model/load.hpp"

namespace perfmamba::cli {
namespace {
struct RunOptions {
  CommonOptions common;
  std::string ids;
  int n_new = 16;
  bool ignore_eos = false;
};

int32_t argmax(const float* row, int n) { return int32_t(std::max_element(row, row + n) - row); }

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void run(const RunOptions& o) {
  apply_threads(o.common);
  const std::vector<int32_t> prompt = parse_ids(o.ids);
  auto backend = make_cpu_backend();
  LoadedModel lm = load_model(o.common.model, *backend, o.common.seed);
  MambaLM& model = *lm.model;
  const int V = model.config().vocab_size;

  InferenceState state = model.new_state(1);
  auto t0 = std::chrono::steady_clock::now();
  Tensor logits = model.prefill(prompt.data(), 1, int(prompt.size()), state, false);
  const double prefill_s = seconds_since(t0);

  std::vector<int32_t> generated;
  t0 = std::chrono::steady_clock::now();
  int32_t next = argmax(logits.f32(), V);
  for (int i = 0; i < o.n_new; ++i) {
    generated.push_back(next);
    if (!o.common.json) {
      std::printf("%s%d", i ? " " : "", next);
      std::fflush(stdout);
    }
    if (!o.ignore_eos && next == model.config().eos_token_id) break;
    if (i + 1 == o.n_new) break;
    logits = model.decode(&next, state);
    next = argmax(logits.f32(), V);
  }
  const double decode_s = seconds_since(t0);
  const double prefill_tps = prompt.size() / prefill_s;
  const double decode_tps = generated.size() > 1 ? (generated.size() - 1) / decode_s : 0.0;
  if (o.common.json) {
    print_json({{"model", o.common.model},
                {"prompt_ids", prompt},
                {"generated_ids", generated},
                {"load_seconds", lm.load_seconds},
                {"prefill_tokens_per_s", prefill_tps},
                {"decode_tokens_per_s", decode_tps}});
  } else {
    std::printf("\n");
    std::fprintf(stderr, "load %.2f s | prefill %zu tokens, %.1f tokens/s | decode %zu tokens, %.1f tokens/s\n",
                 lm.load_seconds, prompt.size(), prefill_tps, generated.size(), decode_tps);
  }
}
}  // namespace

void register_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "Generate greedily from a prompt of token ids");
  add_model_options(*cmd, o->common);
  cmd->add_option("--ids", o->ids, "Prompt token ids, comma-separated")->required();
  cmd->add_option("-n,--n-new", o->n_new, "Tokens to generate")->check(CLI::Range(1, 1 << 20));
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating after the end-of-text token");
  cmd->callback([o] { run(*o); });
}

}  // namespace perfmamba::cli
