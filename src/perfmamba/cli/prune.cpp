// perfmamba prune: Δ-guided (or baseline) structured pruning of the SSM state dimension, written
// as an ordinary checkpoint that perfmamba (and, for uniform pruning, transformers) loads.
#include <cstdio>
#include <filesystem>

#include "perfmamba/cli/common.hpp"
#include "perfmamba/core/error.hpp"
#include "perfmamba/io/mapped_file.hpp"
#include "perfmamba/model/export.hpp"
#include "perfmamba/model/inference_state.hpp"
#include "perfmamba/model/load.hpp"
#include "perfmamba/model/model_stats.hpp"
#include "perfmamba/prune/state_pruning.hpp"
#include "perfmamba/tokenizer/tokenizer.hpp"

namespace perfmamba::cli {
namespace {
struct PruneOptions {
  CommonOptions common;
  std::string method = "delta-state", calib, out, dtype = "bf16", tokenizer;
  double ratio = 0.25;
  bool global = false, force = false;
  int64_t calib_tokens = 32768;
  int calib_window = 1024;
  uint64_t prune_seed = 0;
};

void prune(const PruneOptions& o) {
  apply_threads(o.common);
  const auto method = parse_prune_method(o.method);
  require(method.has_value(), "", "--method", "expected delta-state, magnitude or random, found '" + o.method + "'");
  require(o.ratio >= 0.0 && o.ratio < 1.0, "", "--ratio", "must be in [0, 1), found " + std::to_string(o.ratio));
  require(!std::filesystem::exists(o.out) || std::filesystem::weakly_canonical(o.out) !=
                                                  std::filesystem::weakly_canonical(o.common.model),
          o.out, "--out", "is the input model; choose another directory");
  auto backend = make_cpu_backend();
  LoadedModel lm = load_model(o.common.model, *backend, o.common.seed);
  MambaLM& model = *lm.model;
  const std::string tok_path = tokenizer_path(o.common.model, o.tokenizer, *method == PruneMethod::DeltaState);
  std::optional<Calibration> cal;
  if (*method == PruneMethod::DeltaState) {
    require(!o.calib.empty(), "", "--calib", "delta-state needs calibration text");
    const Tokenizer tok = Tokenizer::from_file(tok_path);
    auto ids = tok.encode(read_text_file(o.calib));
    require(int64_t(ids.size()) >= std::min<int64_t>(o.calib_tokens, 256), o.calib, "",
            "holds " + std::to_string(ids.size()) + " tokens; calibration needs at least " +
                std::to_string(std::min<int64_t>(o.calib_tokens, 256)));
    if (int64_t(ids.size()) > o.calib_tokens) ids.resize(size_t(o.calib_tokens));
    cal = calibrate(model, ids, o.calib_window);
  }
  MambaConfig c = model.config();
  const auto before = model_stats(c);
  const auto scores = state_scores(*method, c, model.weights(), cal ? &*cal : nullptr, o.prune_seed);
  const auto keep = select_states(scores, o.ratio, o.global);
  ModelWeights& w = model.mutable_weights();
  prune_states(c, w, keep);
  ExportOptions e;
  e.dtype = o.dtype == "f32" ? DType::F32 : o.dtype == "f16" ? DType::F16 : DType::BF16;
  e.overwrite = o.force;
  e.tokenizer_from = tokenizer_path(o.common.model, o.tokenizer, false);
  export_hf(c, w, o.out, e);
  const auto after = model_stats(c);
  std::vector<int> kept;
  for (const auto& k : keep) kept.push_back(int(k.size()));
  if (o.common.json) {
    print_json({{"model", o.common.model}, {"out", o.out}, {"method", o.method}, {"ratio", o.ratio},
                {"global", o.global}, {"d_state_per_layer", kept}, {"params_before", before.total_params},
                {"params_after", after.total_params}, {"ssm_state_bytes_before", before.ssm_state_bytes},
                {"ssm_state_bytes_after", after.ssm_state_bytes}, {"calibration_tokens", cal ? cal->tokens : 0}});
  } else {
    std::printf("pruned %s with %s at ratio %.2f (%s): d_state per layer", o.common.model.c_str(), o.method.c_str(),
                o.ratio, o.global ? "global" : "uniform");
    for (int k : kept) std::printf(" %d", k);
    std::printf("\nparameters %lld -> %lld, SSM state per sequence %zu -> %zu bytes; wrote %s\n",
                static_cast<long long>(before.total_params), static_cast<long long>(after.total_params),
                before.ssm_state_bytes, after.ssm_state_bytes, o.out.c_str());
  }
}
}  // namespace

void register_prune(CLI::App& app) {
  auto o = std::make_shared<PruneOptions>();
  auto* cmd = app.add_subcommand("prune", "Remove low-activity SSM states and write the smaller model");
  add_model_options(*cmd, o->common);
  cmd->add_option("--method", o->method, "delta-state (calibrated), magnitude or random");
  cmd->add_option("--ratio", o->ratio, "Fraction of states to remove, in [0, 1)");
  cmd->add_flag("--global", o->global, "Rank states across layers (normalised scores) instead of per layer");
  cmd->add_option("--calib", o->calib, "Calibration text file (delta-state)");
  cmd->add_option("--calib-tokens", o->calib_tokens, "Calibration tokens to use")->check(CLI::Range(int64_t(2), int64_t(1) << 32));
  cmd->add_option("--calib-window", o->calib_window, "Tokens per calibration window")->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.json (default: the model directory's)");
  cmd->add_option("--prune-seed", o->prune_seed, "Seed of the random baseline");
  cmd->add_option("--out,-o", o->out, "Output directory")->required();
  cmd->add_option("--dtype", o->dtype, "Weight storage type of the output")->check(CLI::IsMember({"f32", "bf16", "f16"}));
  cmd->add_flag("--force", o->force, "Replace files that already exist in the output directory");
  cmd->callback([o] { prune(*o); });
}

}  // namespace perfmamba::cli
