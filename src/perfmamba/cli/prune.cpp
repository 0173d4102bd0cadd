// perfmamba prune: Δ-guided (or baseline) structured pruning of the SSM state dimension, written
// as an ordinary checkpoint that perfmamba (and, for uniform pruning, transformers) loads.
#include <cstdio>
#include <chrono>
#include <filesystem>

#include "perfmamba/cli/common.hpp"
#include "perfmamba/core/error.hpp"
#include "perfmamba/io/mapped_file.hpp"
#include "perfmamba/model/export.hpp"
#include "perfmamba/model/inference_state.hpp"
#include "perfmamba/model/load.hpp"
#include "perfmamba/model/model_stats.hpp"
#include "perfmamba/prune/bridge.hpp"
#include "perfmamba/prune/budget.hpp"
#include "perfmamba/prune/channel_pruning.hpp"
#include "perfmamba/prune/state_pruning.hpp"
#include "perfmamba/tokenizer/tokenizer.hpp"

namespace perfmamba::cli {
namespace {
std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out(1);
  for (char ch : text) {
    if (ch == sep) out.emplace_back();
    else out.back().push_back(ch);
  }
  return out;
}

// "2%" -> 0.02, "0.02" -> 0.02
double fraction(const std::string& text, const char* flag) {
  if (text.empty()) return 0.0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end && *end == '%') v /= 100.0, ++end;
  require(end && *end == 0 && v > 0 && v < 100, "", flag, "expected a positive fraction or percentage, found '" + text + "'");
  return v;
}

// Median seconds of a batch-1 prefill of `len` tokens, on a fresh model on `device`.
double time_forward(const MambaConfig& c, const ModelWeights& w, Backend& be, int len) {
  MambaLM m(c, w, be);
  std::vector<int32_t> ids(static_cast<size_t>(len));
  for (int i = 0; i < len; ++i) ids[size_t(i)] = int32_t((uint64_t(i) * 2654435761u + 17) % uint64_t(c.vocab_size));
  std::vector<double> t;
  for (int r = 0; r < 4; ++r) {
    InferenceState st = m.new_state(1);
    be.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    m.prefill(ids.data(), 1, len, st, false);
    be.synchronize();
    if (r > 0) t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}
struct PruneOptions {
  CommonOptions common;
  std::string method = "delta-state", calib, out, dtype = "bf16", tokenizer, axis, bridge = "none";
  double ratio = 0.25, ridge = 1e-2;
  bool global = false, force = false;
  int64_t calib_tokens = 32768;
  int calib_window = 1024;
  double target_speedup = 0;
  std::string max_ppl_increase, budget_ratios = "0.25,0.5,0.75", budget_device = "cpu";
  int budget_seqlen = 1024;
  std::string layer_ratios;
  int64_t budget_tokens = 4096;
  uint64_t prune_seed = 0;
};

void prune(const PruneOptions& o) {
  apply_threads(o.common);
  const auto method = parse_prune_method(o.method);
  require(method.has_value(), "", "--method",
          "expected delta-state, delta-channel, magnitude or random, found '" + o.method + "'");
  const std::string axis = !o.axis.empty() ? o.axis : *method == PruneMethod::DeltaChannel ? "channel" : "state";
  require(!(axis == "state" && *method == PruneMethod::DeltaChannel) && !(axis == "channel" && *method == PruneMethod::DeltaState),
          "", "--axis", o.method + " does not prune along --axis " + axis);
  const auto bridge = parse_bridge(o.bridge);
  require(bridge.has_value(), "", "--bridge", "expected none, fold, lsq or lsq+fold, found '" + o.bridge + "'");
  require(o.ratio >= 0.0 && o.ratio < 1.0, "", "--ratio", "must be in [0, 1), found " + std::to_string(o.ratio));
  require(!std::filesystem::exists(o.out) || std::filesystem::weakly_canonical(o.out) !=
                                                  std::filesystem::weakly_canonical(o.common.model),
          o.out, "--out", "is the input model; choose another directory");
  auto backend = make_cpu_backend();
  LoadedModel lm = load_model(o.common.model, *backend, o.common.seed);
  MambaLM& model = *lm.model;
  const bool calibrated = *method == PruneMethod::DeltaState || *method == PruneMethod::DeltaChannel;
  const double max_ppl = fraction(o.max_ppl_increase, "--max-ppl-increase");
  const bool budget = o.target_speedup > 0 || max_ppl > 0;
  require(!budget || (o.target_speedup > 1.0) != (max_ppl > 0), "", "--target-speedup",
          "give exactly one of --target-speedup (> 1) and --max-ppl-increase");
  std::vector<int32_t> held_out;
  const bool needs_text = calibrated || *bridge != BridgeKind::None || budget;
  const std::string tok_path = tokenizer_path(o.common.model, o.tokenizer, needs_text);
  std::optional<Calibration> cal;
  std::vector<int32_t> ids;
  if (needs_text) {
    require(!o.calib.empty(), "", "--calib", (calibrated ? o.method : "--bridge " + o.bridge) + " needs calibration text");
    const Tokenizer tok = Tokenizer::from_file(tok_path);
    ids = tok.encode(read_text_file(o.calib));
    require(int64_t(ids.size()) >= std::min<int64_t>(o.calib_tokens, 256), o.calib, "",
            "holds " + std::to_string(ids.size()) + " tokens; calibration needs at least " +
                std::to_string(std::min<int64_t>(o.calib_tokens, 256)));
    if (budget) {  // held-out tokens right after the calibration tokens score the sensitivity sweep
      require(int64_t(ids.size()) >= o.calib_tokens + o.budget_tokens, o.calib, "",
              "holds " + std::to_string(ids.size()) + " tokens; budget mode needs --calib-tokens + --budget-tokens = " +
                  std::to_string(o.calib_tokens + o.budget_tokens));
      held_out.assign(ids.begin() + o.calib_tokens, ids.begin() + o.calib_tokens + o.budget_tokens);
    }
    if (int64_t(ids.size()) > o.calib_tokens) ids.resize(size_t(o.calib_tokens));
    if (calibrated) cal = calibrate(model, ids, o.calib_window);
  }
  MambaConfig c = model.config();
  const auto before = model_stats(c);
  ModelWeights w = model.weights();  // tensors are replaced, not written: the loaded model stays whole
  std::vector<std::vector<int>> keep;
  const LayerScores scores = axis == "state" ? state_scores(*method, c, w, cal ? &*cal : nullptr, o.prune_seed)
                                             : channel_scores(*method, c, w, cal ? &*cal : nullptr, o.prune_seed);
  const auto keep_at = [&](int layer, double ratio) {
    const LayerScores one = {scores[size_t(layer)]};
    return axis == "state" ? select_states(one, ratio, false)[0] : select_channels(c, one, ratio, false)[0];
  };
  const auto apply = [&](MambaConfig& cc, ModelWeights& ww, const std::vector<std::vector<int>>& k) {
    if (axis == "state") prune_states(cc, ww, k);
    else prune_channels(cc, ww, k);
  };
  std::optional<BudgetPlan> plan;
  if (budget) {
    BudgetTarget t;
    t.speedup = o.target_speedup;
    t.max_ppl_increase = max_ppl;
    t.ratios.clear();
    for (const std::string& r : split(o.budget_ratios, ',')) {
      t.ratios.push_back(std::stod(r));
      require(t.ratios.back() > 0 && t.ratios.back() < 1, "", "--budget-ratios", "ratios must be in (0, 1)");
    }
    auto timing = make_backend(o.budget_device);
    BudgetProblem pb;
    pb.keep = keep_at;
    pb.apply = apply;
    pb.full_size = [&](int l) { return int(scores[size_t(l)].size()); };
    plan = plan_budget(model, pb, t, held_out, o.calib_window, [&](const MambaConfig& cc, const ModelWeights& ww) {
      return time_forward(cc, ww, *timing, o.budget_seqlen);
    });
    for (int i = 0; i < c.n_layer; ++i) {
      const double r = plan->ratios[size_t(i)];
      keep.push_back(r > 0 ? keep_at(i, r) : [&] {
        std::vector<int> all(scores[size_t(i)].size());
        for (size_t j = 0; j < all.size(); ++j) all[j] = int(j);
        return all;
      }());
    }
  } else if (!o.layer_ratios.empty()) {  // a plan given by hand (e.g. one found by budget mode)
    const auto parts = split(o.layer_ratios, ',');
    require(parts.size() == size_t(c.n_layer), "", "--layer-ratios",
            "expected " + std::to_string(c.n_layer) + " ratios (one per layer), found " + std::to_string(parts.size()));
    for (int i = 0; i < c.n_layer; ++i) {
      char* end = nullptr;
      const double r = std::strtod(parts[size_t(i)].c_str(), &end);
      require(end && *end == 0 && r >= 0 && r < 1, "", "--layer-ratios", "ratio " + std::to_string(i) + " must be in [0, 1), found '" + parts[size_t(i)] + "'");
      std::vector<int> all(scores[size_t(i)].size());
      for (size_t j = 0; j < all.size(); ++j) all[j] = int(j);
      keep.push_back(r > 0 ? keep_at(i, r) : all);
    }
  } else if (axis == "state") {
    keep = select_states(scores, o.ratio, o.global);
  } else {
    keep = select_channels(c, scores, o.ratio, o.global);
  }
  apply(c, w, keep);
  BridgeReport bridged;
  if (*bridge != BridgeKind::None) bridged = bridge_pruned(model, c, w, ids, o.calib_window, *bridge, o.ridge);
  ExportOptions e;
  e.dtype = o.dtype == "f32" ? DType::F32 : o.dtype == "f16" ? DType::F16 : DType::BF16;
  e.overwrite = o.force;
  e.tokenizer_from = tokenizer_path(o.common.model, o.tokenizer, false);
  export_hf(c, w, o.out, e);
  const auto after = model_stats(c);
  nlohmann::json budget_json;
  if (plan) {
    const double final_ppl = window_perplexity(c, w, *backend, held_out, o.calib_window);
    budget_json = {{"ratios", plan->ratios}, {"predicted_speedup", plan->predicted_speedup},
                   {"predicted_ppl_increase", plan->predicted_ppl_increase}, {"base_ppl", plan->base_ppl},
                   {"pruned_ppl", final_ppl}, {"ppl_increase", final_ppl / plan->base_ppl - 1.0},
                   {"forward_seconds_by_ratio", plan->seconds}, {"sensitivity", plan->ppl_cost},
                   {"device", o.budget_device}, {"seqlen", o.budget_seqlen}, {"held_out_tokens", held_out.size()}};
  }
  std::vector<int> kept;
  for (const auto& k : keep) kept.push_back(int(k.size()));
  if (o.common.json) {
    print_json({{"model", o.common.model}, {"out", o.out}, {"method", o.method}, {"axis", axis}, {"ratio", o.ratio},
                {"global", o.global}, {"bridge", o.bridge}, {"bridge_error_before", bridged.error_before}, {"bridge_error_after", bridged.error_after}, {"budget", budget_json},
                {axis == "state" ? "d_state_per_layer" : "channels_per_layer", kept}, {"params_before", before.total_params},
                {"params_after", after.total_params}, {"ssm_state_bytes_before", before.ssm_state_bytes},
                {"ssm_state_bytes_after", after.ssm_state_bytes}, {"calibration_tokens", cal ? cal->tokens : 0}});
  } else {
    std::printf("pruned %s with %s, %s (bridge %s): %s per layer", o.common.model.c_str(), o.method.c_str(),
                plan ? "budget mode" : !o.layer_ratios.empty() ? "per-layer ratios" : (std::to_string(o.ratio).substr(0, 5) + (o.global ? " global" : " uniform")).c_str(), o.bridge.c_str(),
                axis == "state" ? "d_state" : c.arch == Arch::Mamba1 ? "channels" : "heads");
    for (int k : kept) std::printf(" %d", k);
    if (plan)
      std::printf("\nbudget: predicted prefill speed-up %.3fx (%s, L=%d), perplexity on %zu held-out tokens %.3f -> %.3f (%+.2f%%, predicted %+.2f%%)",
                  plan->predicted_speedup, o.budget_device.c_str(), o.budget_seqlen, held_out.size(), plan->base_ppl,
                  budget_json["pruned_ppl"].get<double>(), 100 * budget_json["ppl_increase"].get<double>(),
                  100 * plan->predicted_ppl_increase);
    std::printf("\nparameters %lld -> %lld, SSM state per sequence %zu -> %zu bytes; wrote %s\n",
                static_cast<long long>(before.total_params), static_cast<long long>(after.total_params),
                before.ssm_state_bytes, after.ssm_state_bytes, o.out.c_str());
  }
}
}  // namespace

void register_prune(CLI::App& app) {
  auto o = std::make_shared<PruneOptions>();
  auto* cmd = app.add_subcommand("prune", "Remove low-activity SSM states or channels/heads and write the smaller model");
  add_model_options(*cmd, o->common);
  cmd->add_option("--method", o->method, "delta-state or delta-channel (calibrated), magnitude or random");
  cmd->add_option("--axis", o->axis, "What to remove: state (SSM state dimension) or channel (Mamba-1 channels / Mamba-2 heads); default from --method")
      ->check(CLI::IsMember({"state", "channel"}));
  cmd->add_option("--bridge", o->bridge, "Compensate through out_proj on the calibration text: none, fold, lsq or lsq+fold");
  cmd->add_option("--bridge-ridge", o->ridge, "Ridge strength of lsq, relative to the mean activation energy")
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--ratio", o->ratio, "Fraction of states (or channels / heads) to remove, in [0, 1)");
  cmd->add_flag("--global", o->global, "Rank states across layers (normalised scores) instead of per layer");
  cmd->add_option("--calib", o->calib, "Calibration text file (delta-state)");
  cmd->add_option("--calib-tokens", o->calib_tokens, "Calibration tokens to use")->check(CLI::Range(int64_t(2), int64_t(1) << 32));
  cmd->add_option("--calib-window", o->calib_window, "Tokens per calibration window")->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.json (default: the model directory's)");
  cmd->add_option("--prune-seed", o->prune_seed, "Seed of the random baseline");
  cmd->add_option("--layer-ratios", o->layer_ratios, "One ratio per layer, comma-separated (instead of --ratio)");
  cmd->add_option("--target-speedup", o->target_speedup, "Budget mode: per-layer ratios that reach this predicted prefill speed-up at least perplexity cost");
  cmd->add_option("--max-ppl-increase", o->max_ppl_increase, "Budget mode: the most speed within this relative perplexity increase (e.g. 2%)");
  cmd->add_option("--budget-ratios", o->budget_ratios, "Budget mode: candidate per-layer ratios");
  cmd->add_option("--budget-tokens", o->budget_tokens, "Budget mode: held-out calibration tokens scored per sensitivity point")
      ->check(CLI::Range(int64_t(64), int64_t(1) << 24));
  cmd->add_option("--budget-device", o->budget_device, "Budget mode: device the speed is measured on")->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--budget-seqlen", o->budget_seqlen, "Budget mode: prefill length timed")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--out,-o", o->out, "Output directory")->required();
  cmd->add_option("--dtype", o->dtype, "Weight storage type of the output")->check(CLI::IsMember({"f32", "bf16", "f16"}));
  cmd->add_flag("--force", o->force, "Replace files that already exist in the output directory");
  cmd->callback([o] { prune(*o); });
}

}  // namespace perfmamba::cli
