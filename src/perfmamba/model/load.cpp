#include "perfmamba/model/load.hpp"

#include <chrono>
#include <filesystem>

#include "perfmamba/io/checkpoint.hpp"
#include "perfmamba/model/presets.hpp"

namespace perfmamba {

MambaConfig load_config(const std::string& spec) {
  if (auto c = preset_config(spec)) return *c;
  return read_hf_config((std::filesystem::path(spec) / "config.json").string());
}

LoadedModel load_model(const std::string& spec, Backend& backend, uint64_t seed) {
  const auto t0 = std::chrono::steady_clock::now();
  LoadedModel out;
  out.spec = spec;
  if (auto preset = preset_config(spec)) {
    out.is_preset = true;
    out.model = std::make_unique<MambaLM>(*preset, random_weights(*preset, seed), backend);
  } else {
    Checkpoint ckpt(spec);
    MambaConfig c = read_hf_config(ckpt.config_path());
    out.checkpoint_bytes = ckpt.total_bytes();
    out.model = std::make_unique<MambaLM>(c, load_weights(c, ckpt), backend);
  }
  out.load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace perfmamba
