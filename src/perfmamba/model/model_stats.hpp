#pragma once
// Parameter counts and memory of a config, per component: what `inspect` prints and the
// profiler's memory breakdown starts from. Derived from weight_slots(), the checkpoint table.
#include <map>
#include <string>

#include "perfmamba/io/config.hpp"

namespace perfmamba {

struct ComponentParams {
  int64_t params = 0;
  int tensors = 0;
};

struct ModelStats {
  std::map<std::string, ComponentParams> components;  // summed over layers
  int64_t total_params = 0;   // each stored tensor once (a tied lm_head is not counted twice)
  size_t conv_state_bytes = 0;  // per sequence, f32
  size_t ssm_state_bytes = 0;   // per sequence, f32
  size_t activation_bytes_per_token = 0;  // prefill temporaries of one layer + residual stream
};

ModelStats model_stats(const MambaConfig& c);

}  // namespace perfmamba
