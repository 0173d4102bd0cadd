#include "perfmamba/io/config.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

#include "perfmamba/core/error.hpp"
#include "perfmamba/io/json_fields.hpp"
#include "perfmamba/io/mapped_file.hpp"

namespace perfmamba {
namespace {
using nlohmann::json;

// Bounds well beyond any published model; larger values are corruption or a typo.
constexpr int64_t kMaxDModel = 1 << 17, kMaxLayers = 1 << 12, kMaxVocab = 1 << 23;
constexpr int64_t kMaxState = 1 << 12, kMaxConv = 64, kMaxInner = 1 << 20;
constexpr double kMaxParams = 1e12;

// Keys config.json may carry that do not change the computation.
const std::set<std::string> kIgnoredKeys = {
    "architectures", "model_type", "torch_dtype", "dtype", "transformers_version",
    "initializer_range", "time_step_scale", "time_step_min", "time_step_max",
    "time_step_init_scheme", "time_step_floor", "rescale_prenorm_residual", "use_cache",
    "use_mambapy", "hidden_act", "_name_or_path", "output_hidden_states", "return_dict",
    "layer_norm_epsilon", "expand", "intermediate_size", "pad_token_id", "bos_token_id",
    "eos_token_id", "num_hidden_layers", "hidden_size", "vocab_size", "state_size",
    "conv_kernel", "time_step_rank", "use_bias", "use_conv_bias", "residual_in_fp32",
    "tie_word_embeddings", "num_heads", "head_dim", "n_groups", "chunk_size",
    "norm_before_gate", "rms_norm", "time_step_limit", "perfmamba_layers", "use_return_dict",
    "output_attentions", "is_encoder_decoder", "tokenizer_class", "mamba_expand",
    "max_position_embeddings", "use_associative_scan"};

Arch detect_arch(const JsonFields& f) {
  std::string name;
  if (f.has("architectures")) {
    const auto& a = f.at("architectures");
    if (!a.is_array() || a.empty() || !a[0].is_string())
      f.fail("architectures", "expected a list of class names");
    name = a[0].get<std::string>();
  }
  const std::string type = f.string_or("model_type", "");
  if (name == "MambaForCausalLM" || (name.empty() && type == "mamba")) return Arch::Mamba1;
  if (name == "Mamba2ForCausalLM" || (name.empty() && type == "mamba2")) return Arch::Mamba2;
  if (name.empty() && type.empty())
    f.fail("architectures", "missing (and no model_type): cannot tell Mamba-1 from Mamba-2");
  f.fail(name.empty() ? "model_type" : "architectures",
         "unsupported model '" + (name.empty() ? type : name) +
             "' (expected MambaForCausalLM or Mamba2ForCausalLM)");
}

int read_dt_rank(const JsonFields& f, int d_model) {
  if (!f.has("time_step_rank")) return (d_model + 15) / 16;
  const auto& v = f.at("time_step_rank");
  if (v.is_string()) {
    if (v != "auto") f.fail("time_step_rank", "expected an integer or \"auto\", found " + v.dump());
    return (d_model + 15) / 16;
  }
  return int(f.integer("time_step_rank", 1, kMaxDModel));
}

// Optional per-layer sizes written by `perfmamba prune` (see docs/decisions.md).
void read_layer_overrides(const JsonFields& f, MambaConfig& c) {
  if (!f.has("perfmamba_layers")) return;
  const auto& arr = f.at("perfmamba_layers");
  if (!arr.is_array() || arr.size() != size_t(c.n_layer))
    f.fail("perfmamba_layers", "expected a list of " + std::to_string(c.n_layer) + " objects");
  for (size_t i = 0; i < arr.size(); ++i) {
    JsonFields lf(arr[i], f.file(), "perfmamba_layers[" + std::to_string(i) + "].");
    LayerDims& l = c.layers[i];
    l.d_state = int(lf.integer_or("state_size", l.d_state, 1, kMaxState));
    if (c.arch == Arch::Mamba1) {
      l.d_inner = int(lf.integer_or("intermediate_size", l.d_inner, 1, kMaxInner));
    } else {
      l.n_heads = int(lf.integer_or("num_heads", l.n_heads, 1, kMaxInner));
      l.d_inner = l.n_heads * l.head_dim;
    }
  }
}

}  // namespace

void check_model_size(const MambaConfig& c, const std::string& file) {
  double params = 2.0 * c.vocab_size * c.d_model;
  for (const auto& l : c.layers) {
    const double proj = c.arch == Arch::Mamba1 ? 2.0 * l.d_inner : c.in_proj_dim(l);
    params += (proj + l.d_inner) * c.d_model + double(l.d_inner) * l.d_state * 3;
  }
  require(params <= kMaxParams, file, "(model size)",
          "the sizes describe " + std::to_string(params) + " parameters, which is absurd");
}

const char* arch_name(Arch a) { return a == Arch::Mamba1 ? "mamba1" : "mamba2"; }

bool MambaConfig::uniform_layers() const {
  for (const auto& l : layers)
    if (!(l == layers[0])) return false;
  return true;
}

bool MambaConfig::dt_clamped() const {
  return dt_limit_min > 0.0 || (dt_limit_max > 0.0 && dt_limit_max < 1e30);
}

int MambaConfig::conv_dim(const LayerDims& l) const {
  return arch == Arch::Mamba1 ? l.d_inner : l.d_inner + 2 * n_groups * l.d_state;
}

int MambaConfig::in_proj_dim(const LayerDims& l) const {
  return arch == Arch::Mamba1 ? 2 * l.d_inner : l.d_inner + conv_dim(l) + l.n_heads;
}

MambaConfig parse_hf_config(const json& j, const std::string& file) {
  JsonFields f(j, file);
  MambaConfig c;
  c.arch = detect_arch(f);
  c.d_model = int(f.integer("hidden_size", 1, kMaxDModel));
  c.n_layer = int(f.integer("num_hidden_layers", 1, kMaxLayers));
  c.vocab_size = int(f.integer("vocab_size", 1, kMaxVocab));
  c.d_conv = int(f.integer_or("conv_kernel", 4, 1, kMaxConv));
  c.use_bias = f.boolean_or("use_bias", false);
  c.use_conv_bias = f.boolean_or("use_conv_bias", true);
  c.residual_in_fp32 = f.boolean_or("residual_in_fp32", true);
  c.tie_embeddings = f.boolean_or("tie_word_embeddings", true);
  c.norm_eps = f.number_or("layer_norm_epsilon", 1e-5, 1e-30, 1.0);
  if (f.string_or("hidden_act", "silu") != "silu")
    f.fail("hidden_act", "only \"silu\" is supported, found \"" + f.string_or("hidden_act", "") + "\"");
  c.eos_token_id = int(f.integer_or("eos_token_id", -1, -1, kMaxVocab));
  c.bos_token_id = int(f.integer_or("bos_token_id", -1, -1, kMaxVocab));
  c.pad_token_id = int(f.integer_or("pad_token_id", -1, -1, kMaxVocab));
  const double expand = f.number_or("expand", 2.0, 1e-3, 1024.0);
  const int d_state = int(f.integer("state_size", 1, kMaxState));

  LayerDims l;
  l.d_state = d_state;
  if (c.arch == Arch::Mamba1) {
    c.dt_rank = read_dt_rank(f, c.d_model);
    l.d_inner = int(f.integer_or("intermediate_size", int64_t(expand * c.d_model), 1, kMaxInner));
  } else {
    l.n_heads = int(f.integer("num_heads", 1, kMaxInner));
    l.head_dim = int(f.integer("head_dim", 1, kMaxInner));
    l.d_inner = l.n_heads * l.head_dim;
    c.n_groups = int(f.integer_or("n_groups", 1, 1, kMaxInner));
    c.chunk_size = int(f.integer_or("chunk_size", 256, 1, 1 << 16));
    c.norm_before_gate = f.boolean_or("norm_before_gate", false);
    if (c.norm_before_gate)
      f.fail("norm_before_gate", "true is not supported (the published models use false)");
    if (!f.boolean_or("rms_norm", true))
      f.fail("rms_norm", "false is not supported (the published models use true)");
    if (int64_t(expand * c.d_model) != l.d_inner)
      f.fail("num_heads", "num_heads * head_dim = " + std::to_string(l.d_inner) +
                              " but expand * hidden_size = " +
                              std::to_string(int64_t(expand * c.d_model)));
    if (l.n_heads % c.n_groups != 0)
      f.fail("n_groups", std::to_string(c.n_groups) + " groups do not divide " +
                             std::to_string(l.n_heads) + " heads");
    if (f.has("time_step_limit")) {
      const auto& lim = f.at("time_step_limit");
      if (!lim.is_array() || lim.size() != 2) f.fail("time_step_limit", "expected [min, max]");
      c.dt_limit_min = json_number(lim[0], file, "time_step_limit[0]");
      c.dt_limit_max = json_number(lim[1], file, "time_step_limit[1]");
      if (std::isnan(c.dt_limit_min) || std::isnan(c.dt_limit_max) || c.dt_limit_min < 0 ||
          c.dt_limit_max < c.dt_limit_min)
        f.fail("time_step_limit", "expected 0 <= min <= max, found " + lim.dump());
    }
  }
  c.layers.assign(size_t(c.n_layer), l);
  read_layer_overrides(f, c);
  check_model_size(c, file);

  std::string unknown;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!kIgnoredKeys.count(it.key())) unknown += (unknown.empty() ? "" : ", ") + it.key();
  if (!unknown.empty())
    std::fprintf(stderr, "perfmamba: warning: %s: ignoring unknown config keys: %s\n",
                 file.c_str(), unknown.c_str());
  return c;
}

MambaConfig read_config(const std::string& path) {
  const json j = parse_json_lenient(read_text_file(path), path);
  // The authors' layout names the width d_model and nests the mixer settings in ssm_cfg.
  if (j.is_object() && j.contains("d_model") && !j.contains("hidden_size"))
    return parse_state_spaces_config(j, path);
  return parse_hf_config(j, path);
}

json to_hf_config(const MambaConfig& c) {
  json j;
  const LayerDims& l0 = c.layers.at(0);
  j["hidden_size"] = c.d_model;
  j["num_hidden_layers"] = c.n_layer;
  j["vocab_size"] = c.vocab_size;
  j["state_size"] = l0.d_state;
  j["conv_kernel"] = c.d_conv;
  j["use_bias"] = c.use_bias;
  j["use_conv_bias"] = c.use_conv_bias;
  j["residual_in_fp32"] = c.residual_in_fp32;
  j["tie_word_embeddings"] = c.tie_embeddings;
  j["layer_norm_epsilon"] = c.norm_eps;
  j["hidden_act"] = "silu";
  if (c.eos_token_id >= 0) j["eos_token_id"] = c.eos_token_id;
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.pad_token_id >= 0) j["pad_token_id"] = c.pad_token_id;
  // transformers' config classes type `expand` as int: write it as one when it is whole.
  if (l0.d_inner % c.d_model == 0) j["expand"] = l0.d_inner / c.d_model;
  else j["expand"] = double(l0.d_inner) / c.d_model;
  if (c.arch == Arch::Mamba1) {
    j["architectures"] = {"MambaForCausalLM"};
    j["model_type"] = "mamba";
    j["intermediate_size"] = l0.d_inner;
    j["time_step_rank"] = c.dt_rank;
  } else {
    j["architectures"] = {"Mamba2ForCausalLM"};
    j["model_type"] = "mamba2";
    j["num_heads"] = l0.n_heads;
    j["head_dim"] = l0.head_dim;
    j["n_groups"] = c.n_groups;
    j["chunk_size"] = c.chunk_size;
    j["norm_before_gate"] = c.norm_before_gate;
    j["rms_norm"] = true;
    // JSON has no infinity; an absent limit means (0, inf) to transformers and to us.
    if (c.dt_clamped())
      j["time_step_limit"] = {c.dt_limit_min,
                              std::isfinite(c.dt_limit_max) ? c.dt_limit_max : 1e30};
  }
  if (!c.uniform_layers()) {
    json layers = json::array();
    for (const auto& l : c.layers) {
      json e = {{"state_size", l.d_state}};
      if (c.arch == Arch::Mamba1) e["intermediate_size"] = l.d_inner;
      else e["num_heads"] = l.n_heads;
      layers.push_back(e);
    }
    j["perfmamba_layers"] = layers;
  }
  return j;
}

}  // namespace perfmamba
