#include "perfmamba/model/model_stats.hpp"

#include <algorithm>

#include "perfmamba/model/inference_state.hpp"
#include "perfmamba/model/weights.hpp"

namespace perfmamba {

ModelStats model_stats(const MambaConfig& c) {
  ModelStats s;
  ModelWeights unused;  // weight_slots only needs somewhere to point
  for (const WeightSlot& slot : weight_slots(c, unused)) {
    auto& comp = s.components[slot.component];
    comp.params += shape_numel(slot.shape);
    comp.tensors += 1;
    s.total_params += shape_numel(slot.shape);
  }
  size_t widest = 0;
  for (const auto& l : c.layers) {
    s.conv_state_bytes += 4ull * (c.d_conv - 1) * c.conv_dim(l);
    s.ssm_state_bytes += 4ull * l.d_inner * l.d_state;
    // Per token, the buffers a mixer holds at once (see mamba1_mixer / mamba2_mixer).
    const size_t floats = c.arch == Arch::Mamba1
                              ? size_t(2 * l.d_inner + l.d_inner + c.dt_rank + 2 * l.d_state +
                                       3 * l.d_inner)
                              : size_t(c.in_proj_dim(l) + c.conv_dim(l) + 2 * l.d_inner);
    widest = std::max(widest, floats);
  }
  s.activation_bytes_per_token = 4 * (widest + 3 * size_t(c.d_model));
  return s;
}

}  // namespace perfmamba
