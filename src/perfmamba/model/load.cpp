#include "perfmamba/model/load.hpp"

#include <chrono>
#include <filesystem>

#include "perfmamba/core/error.hpp"
#include "perfmamba/io/checkpoint.hpp"
#include "perfmamba/model/presets.hpp"

namespace perfmamba {

namespace {
MambaConfig read_directory_config(const std::string& dir) {
  require(std::filesystem::is_directory(dir), dir, "", "not a model directory (or unknown preset name)");
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  require(std::filesystem::exists(path), path, "", "missing: a model directory needs config.json");
  return read_config(path);
}
}  // namespace

MambaConfig load_config(const std::string& spec) {
  if (auto c = preset_config(spec)) return *c;
  return read_directory_config(spec);
}

LoadedModel load_model(const std::string& spec, Backend& backend, uint64_t seed) {
  const auto t0 = std::chrono::steady_clock::now();
  LoadedModel out;
  out.spec = spec;
  if (auto preset = preset_config(spec)) {
    out.is_preset = true;
    out.model = std::make_unique<MambaLM>(*preset, random_weights(*preset, seed), backend);
  } else {
    MambaConfig c = read_directory_config(spec);
    Checkpoint ckpt(spec, c.layout);
    out.checkpoint_bytes = ckpt.total_bytes();
    out.model = std::make_unique<MambaLM>(c, load_weights(c, ckpt), backend);
  }
  out.load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace perfmamba
