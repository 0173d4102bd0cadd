#pragma once
// The recurrent state that replaces a KV cache: per layer, the last d_conv-1 conv inputs and
// the SSM state. Its size is fixed per sequence, whatever the context length.
#include <cstdint>
#include <vector>

#include "perfmamba/core/tensor.hpp"
#include "perfmamba/io/config.hpp"

namespace perfmamba {

struct LayerState {
  Tensor conv_state;  // [batch, d_conv - 1, conv_dim]
  Tensor ssm_state;   // Mamba-1: [batch, d_inner, d_state]; Mamba-2: [batch, n_heads, head_dim, d_state]
};

struct InferenceState {
  int batch = 0;
  int64_t position = 0;  // tokens consumed so far
  std::vector<LayerState> layers;
  // Device buffers of MambaLM::decode (made on its first step): the step's input ids [batch] and
  // logits [batch, vocab], kept at fixed addresses for a recorded step.
  Tensor step_ids, step_logits;

  static InferenceState zeros(const MambaConfig& c, int batch, Device device = Device::CPU);
  size_t bytes() const;
};

// Bytes of conv + SSM state of one sequence (batch 1) for a config.
size_t state_bytes_per_sequence(const MambaConfig& c);

}  // namespace perfmamba
