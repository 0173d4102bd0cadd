#pragma once
// One entry point for `--model M`: a preset name or a Hugging Face model directory.
#include <memory>
#include <string>

#include "perfmamba/model/mamba_lm.hpp"

namespace perfmamba {

struct LoadedModel {
  std::string spec;         // what the user passed
  bool is_preset = false;
  size_t checkpoint_bytes = 0;
  double load_seconds = 0;  // open + validate + convert
  std::unique_ptr<MambaLM> model;
};

LoadedModel load_model(const std::string& spec, Backend& backend, uint64_t seed = 0);
// Config only (cheap): for `inspect` without materialising weights.
MambaConfig load_config(const std::string& spec);

}  // namespace perfmamba
