// config.json of the state-spaces checkpoints (mamba_ssm's MambaConfig dataclass):
// {d_model, n_layer, vocab_size, ssm_cfg: {layer, d_state, d_conv, expand, ...}, rms_norm,
//  residual_in_fp32, fused_add_norm, pad_vocab_size_multiple, tie_embeddings}.
#include <cmath>
#include <limits>

#include "perfmamba/core/error.hpp"
#include "perfmamba/io/config.hpp"
#include "perfmamba/io/json_fields.hpp"

namespace perfmamba {
using nlohmann::json;

MambaConfig parse_state_spaces_config(const json& j, const std::string& file) {
  JsonFields f(j, file);
  MambaConfig c;
  c.layout = Layout::StateSpaces;
  c.d_model = int(f.integer("d_model", 1, 1 << 17));
  c.n_layer = int(f.integer("n_layer", 1, 1 << 12));
  int64_t vocab = f.integer("vocab_size", 1, 1 << 23);
  const int64_t multiple = f.integer_or("pad_vocab_size_multiple", 8, 1, 1 << 16);
  if (vocab % multiple) vocab += multiple - vocab % multiple;  // the embedding is padded so
  c.vocab_size = int(vocab);
  if (f.integer_or("d_intermediate", 0, 0, 1 << 20) != 0)
    f.fail("d_intermediate", "MLP blocks between mixers are not supported");
  if (f.has("attn_layer_idx") && !f.at("attn_layer_idx").empty())
    f.fail("attn_layer_idx", "hybrid attention layers are not supported");
  if (!f.boolean_or("rms_norm", true)) f.fail("rms_norm", "LayerNorm models are not supported");
  c.residual_in_fp32 = f.boolean_or("residual_in_fp32", true);
  c.tie_embeddings = f.boolean_or("tie_embeddings", true);
  c.norm_eps = 1e-5;  // mamba_ssm's RMSNorm and gated norm default

  static const json kEmpty = json::object();
  const json& ssm = f.has("ssm_cfg") ? f.at("ssm_cfg") : kEmpty;
  JsonFields s(ssm, file, "ssm_cfg.");
  const std::string layer = s.string_or("layer", "Mamba1");
  if (layer != "Mamba1" && layer != "Mamba2")
    s.fail("layer", "expected \"Mamba1\" or \"Mamba2\", found \"" + layer + "\"");
  c.arch = layer == "Mamba1" ? Arch::Mamba1 : Arch::Mamba2;
  c.d_conv = int(s.integer_or("d_conv", 4, 1, 64));
  c.use_bias = s.boolean_or("bias", false);
  c.use_conv_bias = s.boolean_or("conv_bias", true);
  const double expand = s.number_or("expand", 2.0, 1e-3, 1024.0);
  LayerDims l;
  l.d_inner = int(expand * c.d_model);
  if (c.arch == Arch::Mamba1) {
    l.d_state = int(s.integer_or("d_state", 16, 1, 1 << 12));
    if (s.has("dt_rank") && s.at("dt_rank").is_string()) {
      if (s.at("dt_rank") != "auto") s.fail("dt_rank", "expected an integer or \"auto\"");
      c.dt_rank = (c.d_model + 15) / 16;
    } else {
      c.dt_rank = int(s.integer_or("dt_rank", (c.d_model + 15) / 16, 1, 1 << 17));
    }
  } else {
    l.d_state = int(s.integer_or("d_state", 128, 1, 1 << 12));
    l.head_dim = int(s.integer_or("headdim", 64, 1, 1 << 16));
    c.n_groups = int(s.integer_or("ngroups", 1, 1, 1 << 16));
    c.chunk_size = int(s.integer_or("chunk_size", 256, 1, 1 << 16));
    if (!s.boolean_or("rmsnorm", true)) s.fail("rmsnorm", "false is not supported");
    if (s.boolean_or("norm_before_gate", false)) s.fail("norm_before_gate", "true is not supported");
    if (s.boolean_or("D_has_hdim", false)) s.fail("D_has_hdim", "true is not supported");
    if (s.has("d_ssm") && s.integer("d_ssm", 1, 1 << 20) != l.d_inner)
      s.fail("d_ssm", "an SSM over part of the channels is not supported");
    if (l.d_inner % l.head_dim) s.fail("headdim", "does not divide expand * d_model");
    l.n_heads = l.d_inner / l.head_dim;
    if (l.n_heads % c.n_groups) s.fail("ngroups", "does not divide the number of heads");
    if (s.has("dt_limit")) {
      const json& lim = s.at("dt_limit");
      if (!lim.is_array() || lim.size() != 2) s.fail("dt_limit", "expected [min, max]");
      c.dt_limit_min = json_number(lim[0], file, "ssm_cfg.dt_limit[0]");
      c.dt_limit_max = json_number(lim[1], file, "ssm_cfg.dt_limit[1]");
    } else {
      c.dt_limit_max = std::numeric_limits<double>::infinity();
    }
  }
  c.layers.assign(size_t(c.n_layer), l);
  check_model_size(c, file);
  return c;
}

}  // namespace perfmamba
