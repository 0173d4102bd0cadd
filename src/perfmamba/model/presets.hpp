#pragma once
// Built-in architecture presets: the shapes of the public state-spaces checkpoints, with
// seeded random weights — enough to measure the speed and memory of real model sizes.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "perfmamba/io/config.hpp"
#include "perfmamba/model/weights.hpp"

namespace perfmamba {

std::vector<std::string> preset_names();
std::optional<MambaConfig> preset_config(const std::string& name);
// Deterministic for a given seed, whatever the thread count.
ModelWeights random_weights(const MambaConfig& c, uint64_t seed);

}  // namespace perfmamba
