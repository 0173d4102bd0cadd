#pragma once
// Model configuration in perfmamba's own terms (d_model, d_inner, d_state, ...), read from and
// written to Hugging Face config.json (MambaForCausalLM / Mamba2ForCausalLM).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace perfmamba {

enum class Arch { Mamba1, Mamba2 };
// Where a checkpoint comes from: Hugging Face transformers (MambaForCausalLM / Mamba2ForCausalLM,
// safetensors) or the authors' state-spaces layout (d_model + ssm_cfg, torch.save).
enum class Layout { HuggingFace, StateSpaces };
const char* arch_name(Arch a);  // "mamba1" / "mamba2"

// Sizes that may differ from layer to layer (pruned models). d_inner = n_heads * head_dim for
// Mamba-2; n_heads = 0 for Mamba-1.
struct LayerDims {
  int d_inner = 0;
  int d_state = 0;
  int n_heads = 0;
  int head_dim = 0;
  bool operator==(const LayerDims&) const = default;
};

struct MambaConfig {
  Arch arch = Arch::Mamba1;
  Layout layout = Layout::HuggingFace;
  int d_model = 0;
  int n_layer = 0;
  int vocab_size = 0;
  int d_conv = 4;
  int dt_rank = 0;  // Mamba-1 only
  bool use_bias = false;
  bool use_conv_bias = true;
  bool residual_in_fp32 = true;
  bool tie_embeddings = true;
  double norm_eps = 1e-5;
  // Mamba-2 only
  int n_groups = 1;
  int chunk_size = 256;
  bool norm_before_gate = false;
  double dt_limit_min = 0.0;
  double dt_limit_max = 0.0;  // 0 and +inf both mean "no clamp"; see dt_clamped()
  int eos_token_id = -1;
  int bos_token_id = -1;
  int pad_token_id = -1;
  std::vector<LayerDims> layers;  // n_layer entries

  // Sizes of the unpruned layout (uniform layers), as config.json states them.
  int d_inner() const { return layers.empty() ? 0 : layers[0].d_inner; }
  int d_state() const { return layers.empty() ? 0 : layers[0].d_state; }
  bool uniform_layers() const;
  bool dt_clamped() const;
  // Mamba-2: width of the conv1d input (x, B, C) and of in_proj's output for a layer.
  int conv_dim(const LayerDims& l) const;
  int in_proj_dim(const LayerDims& l) const;
};

// Reads and validates config.json of either layout. Errors name the file and the field.
MambaConfig read_config(const std::string& path);
MambaConfig parse_hf_config(const nlohmann::json& j, const std::string& file);
MambaConfig parse_state_spaces_config(const nlohmann::json& j, const std::string& file);
nlohmann::json to_hf_config(const MambaConfig& c);
// Refuses sizes that describe an absurd model (over 1e12 parameters).
void check_model_size(const MambaConfig& c, const std::string& file);

}  // namespace perfmamba
