// perfmamba inspect: architecture, shapes, parameters and memory per component.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "perfmamba/cli/common.hpp"
#include "perfmamba/io/checkpoint.hpp"
#include "perfmamba/model/load.hpp"
#include "perfmamba/model/model_stats.hpp"
#include "perfmamba/model/presets.hpp"

namespace perfmamba::cli {
namespace {

nlohmann::json describe(const std::string& spec, const MambaConfig& c) {
  const ModelStats st = model_stats(c);
  nlohmann::json j;
  j["model"] = spec;
  j["preset"] = preset_config(spec).has_value();
  j["arch"] = arch_name(c.arch);
  j["layout"] = c.layout == Layout::HuggingFace ? "huggingface" : "state-spaces";
  j["d_model"] = c.d_model;
  j["n_layer"] = c.n_layer;
  j["vocab_size"] = c.vocab_size;
  j["d_inner"] = c.d_inner();
  j["d_state"] = c.d_state();
  j["d_conv"] = c.d_conv;
  if (c.arch == Arch::Mamba1) {
    j["dt_rank"] = c.dt_rank;
  } else {
    j["n_heads"] = c.layers[0].n_heads;
    j["head_dim"] = c.layers[0].head_dim;
    j["n_groups"] = c.n_groups;
    j["chunk_size"] = c.chunk_size;
  }
  j["tie_embeddings"] = c.tie_embeddings;
  j["uniform_layers"] = c.uniform_layers();
  j["params"] = st.total_params;
  j["bytes_f32"] = st.total_params * 4;
  j["bytes_bf16"] = st.total_params * 2;
  for (const auto& [name, comp] : st.components)
    j["components"][name] = {{"params", comp.params},
                             {"tensors", comp.tensors},
                             {"share", double(comp.params) / double(st.total_params)}};
  j["state_bytes_per_sequence"] = {{"conv", st.conv_state_bytes},
                                   {"ssm", st.ssm_state_bytes},
                                   {"total", st.conv_state_bytes + st.ssm_state_bytes}};
  // Unlike a KV cache, the state does not grow with the context.
  j["state_bytes_per_token"] = 0;
  j["prefill_activation_bytes_per_token"] = st.activation_bytes_per_token;
  return j;
}

void print_text(const nlohmann::json& j) {
  std::printf("model        %s%s\n", j["model"].get<std::string>().c_str(),
              j["preset"].get<bool>() ? " (preset, random weights)" : "");
  std::printf("arch         %s   d_model %d   n_layer %d   vocab %d\n",
              j["arch"].get<std::string>().c_str(), j["d_model"].get<int>(),
              j["n_layer"].get<int>(), j["vocab_size"].get<int>());
  std::printf("mixer        d_inner %d   d_state %d   d_conv %d", j["d_inner"].get<int>(),
              j["d_state"].get<int>(), j["d_conv"].get<int>());
  if (j.contains("dt_rank")) std::printf("   dt_rank %d\n", j["dt_rank"].get<int>());
  else
    std::printf("   n_heads %d   head_dim %d   n_groups %d   chunk_size %d\n",
                j["n_heads"].get<int>(), j["head_dim"].get<int>(), j["n_groups"].get<int>(),
                j["chunk_size"].get<int>());
  const double total = j["params"].get<double>();
  std::printf("parameters   %s  (%s f32, %s bf16)%s\n", human_count(total).c_str(),
              human_bytes(total * 4).c_str(), human_bytes(total * 2).c_str(),
              j["tie_embeddings"].get<bool>() ? "  lm_head tied to embedding" : "");
  std::printf("\n  %-12s %14s %8s %12s\n", "component", "params", "share", "bytes f32");
  for (auto it = j["components"].begin(); it != j["components"].end(); ++it)
    std::printf("  %-12s %14s %7.2f%% %12s\n", it.key().c_str(),
                human_count((*it)["params"].get<double>()).c_str(),
                100.0 * (*it)["share"].get<double>(),
                human_bytes((*it)["params"].get<double>() * 4).c_str());
  const auto& s = j["state_bytes_per_sequence"];
  std::printf("\nstate/seq    %s  (conv %s + ssm %s), constant in the context length\n",
              human_bytes(s["total"].get<double>()).c_str(),
              human_bytes(s["conv"].get<double>()).c_str(),
              human_bytes(s["ssm"].get<double>()).c_str());
  if (j.contains("checkpoint")) {
    const auto& k = j["checkpoint"];
    std::string dtypes;
    for (auto it = k["dtypes"].begin(); it != k["dtypes"].end(); ++it)
      dtypes += (dtypes.empty() ? "" : ", ") + it.key() + " x" + std::to_string(it->get<int>());
    std::printf("checkpoint   %d file(s), %s, %d tensors (%s), all shapes as config.json says\n",
                k["files"].get<int>(), human_bytes(k["file_bytes"].get<double>()).c_str(),
                k["tensors"].get<int>(), dtypes.c_str());
  }
  std::printf("activations  %s per prefill token (one layer's buffers + residual stream)\n",
              human_bytes(j["prefill_activation_bytes_per_token"].get<double>()).c_str());
}
}  // namespace

void register_inspect(CLI::App& app) {
  auto opts = std::make_shared<CommonOptions>();
  auto* cmd = app.add_subcommand("inspect", "Architecture, parameters and memory per component");
  add_model_options(*cmd, *opts);
  cmd->callback([opts] {
    const MambaConfig c = load_config(opts->model);
    nlohmann::json j = describe(opts->model, c);
    if (!j["preset"].get<bool>()) {
      const CheckpointSummary s = check_checkpoint(c, Checkpoint(opts->model, c.layout));
      j["checkpoint"] = {{"files", s.files}, {"file_bytes", s.file_bytes}, {"tensors", s.tensors},
                         {"tensor_bytes", s.tensor_bytes}, {"dtypes", s.dtypes}};
    }
    if (opts->json) print_json(j);
    else print_text(j);
  });
}

}  // namespace perfmamba::cli
