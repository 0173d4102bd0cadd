#include "perfmamba/model/inference_state.hpp"

namespace perfmamba {
namespace {
Shape ssm_shape(const MambaConfig& c, const LayerDims& l, int batch) {
  if (c.arch == Arch::Mamba1) return {batch, l.d_inner, l.d_state};
  return {batch, l.n_heads, l.head_dim, l.d_state};
}
}  // namespace

InferenceState InferenceState::zeros(const MambaConfig& c, int batch, Device device) {
  InferenceState s;
  s.batch = batch;
  for (const auto& l : c.layers)
    s.layers.push_back({Tensor::zeros({batch, c.d_conv - 1, c.conv_dim(l)}, DType::F32, device),
                        Tensor::zeros(ssm_shape(c, l, batch), DType::F32, device)});
  return s;
}

size_t InferenceState::bytes() const {
  size_t n = 0;
  for (const auto& l : layers) n += l.conv_state.nbytes() + l.ssm_state.nbytes();
  return n;
}

size_t state_bytes_per_sequence(const MambaConfig& c) {
  size_t n = 0;
  for (const auto& l : c.layers)
    n += 4 * size_t(shape_numel(ssm_shape(c, l, 1)) + int64_t(c.d_conv - 1) * c.conv_dim(l));
  return n;
}

}  // namespace perfmamba
