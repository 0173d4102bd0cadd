#include "perfmamba/model/mamba_lm.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "perfmamba/core/error.hpp"

namespace perfmamba {

MambaLM::MambaLM(MambaConfig config, ModelWeights weights, Backend& backend)
    : config_(std::move(config)), weights_(std::move(weights)), backend_(&backend) {
  if (backend_->device() != Device::CPU) move_weights(config_, weights_, backend_->device());
}

namespace {
// kind as DeviceMemoryOps::copy (0 to the device, 2 within it); plain memory on the CPU.
void copy_on(Device dev, void* dst, const void* src, size_t bytes, int kind) {
  if (dev == Device::CPU)
    std::memcpy(dst, src, bytes);
  else
    device_memory(dev).copy(dst, src, bytes, kind);
}
}  // namespace

void MambaLM::check_ids(const int32_t* ids, size_t n) const {
  for (size_t i = 0; i < n; ++i)
    require(ids[i] >= 0 && ids[i] < config_.vocab_size, "", "input ids",
            "token id " + std::to_string(ids[i]) + " is outside the vocabulary [0, " +
                std::to_string(config_.vocab_size) + ")");
}

Tensor MambaLM::prefill(const int32_t* ids, int batch, int len, InferenceState& state,
                        bool all_logits) {
  return forward(ids, batch, len, state, all_logits, /*step=*/false);
}

void MambaLM::check_state(const InferenceState& state, int batch) const {
  require(state.batch == batch && state.layers.size() == size_t(config_.n_layer), "",
          "inference state", "was made for batch " + std::to_string(state.batch));
}

StepKey MambaLM::prepare_step(const int32_t* ids, InferenceState& state, int kind) {
  const Device dev = backend_->device();
  require(state.batch > 0, "", "inference state", "has no sequences");
  check_state(state, state.batch);
  check_ids(ids, size_t(state.batch));
  // The step reads its ids from and writes its logits to buffers that stay with the state, so
  // that a recorded step finds them at the same addresses.
  if (!state.step_ids.defined() || state.step_ids.device() != dev) {
    state.step_ids = Tensor::empty({state.batch}, DType::I32, dev);
    state.step_logits = Tensor::empty({state.batch, config_.vocab_size}, DType::F32, dev);
  }
  copy_on(dev, state.step_ids.raw(), ids, sizeof(int32_t) * size_t(state.batch), 0);
  StepKey key{this, state.batch, kind, {state.step_ids.raw(), state.step_logits.raw()}};
  for (const LayerState& l : state.layers)
    key.buffers.insert(key.buffers.end(), {l.conv_state.raw(), l.ssm_state.raw()});
  return key;
}

void MambaLM::step_ops(InferenceState& state, bool choose_next) {
  auto* ids = static_cast<int32_t*>(state.step_ids.raw());
  forward_device(ids, state.batch, 1, state, true, true, state.step_logits);
  if (choose_next)  // the next step's input, in place of this one's
    backend_->argmax_rows({state.batch, config_.vocab_size, state.step_logits.f32(),
                           config_.vocab_size, ids});
}

Tensor MambaLM::decode(const int32_t* ids, InferenceState& state) {
  const StepKey key = prepare_step(ids, state, /*kind=*/0);
  backend_->run_step(key, [&] { step_ops(state, false); });
  backend_->synchronize();
  state.position += 1;
  // a copy, not the state's buffer (on the CPU, to() would hand back that buffer itself)
  return backend_->device() == Device::CPU ? state.step_logits.clone()
                                           : state.step_logits.to(Device::CPU);
}

std::vector<int32_t> MambaLM::decode_greedy(const int32_t* ids, InferenceState& state, int steps) {
  require(steps >= 1, "", "steps", "need at least one decode step");
  const Device dev = backend_->device();
  const StepKey key = prepare_step(ids, state, /*kind=*/1);
  const size_t row = sizeof(int32_t) * size_t(state.batch);
  Tensor chosen = Tensor::empty({steps, state.batch}, DType::I32, dev);
  for (int i = 0; i < steps; ++i) {
    backend_->run_step(key, [&] { step_ops(state, true); });
    // queued behind the step (a copy within the device does not wait for it on the host)
    copy_on(dev, static_cast<char*>(chosen.raw()) + size_t(i) * row, state.step_ids.raw(), row, 2);
  }
  backend_->synchronize();
  state.position += steps;
  const Tensor host = chosen.to(Device::CPU);
  const auto* p = static_cast<const int32_t*>(host.raw());
  return std::vector<int32_t>(p, p + size_t(steps) * size_t(state.batch));
}

Tensor MambaLM::forward(const int32_t* ids, int batch, int len, InferenceState& state,
                        bool all_logits, bool step) {
  require(batch > 0 && len > 0, "", "input ids", "need at least one token per sequence");
  check_state(state, batch);
  const int T = batch * len;
  check_ids(ids, size_t(T));
  Tensor ids_host = Tensor::empty({T}, DType::I32);
  std::memcpy(ids_host.raw(), ids, sizeof(int32_t) * size_t(T));
  const Tensor ids_dev = ids_host.to(backend_->device());
  Tensor logits = Tensor::empty({all_logits ? T : batch, config_.vocab_size}, DType::F32,
                                backend_->device());
  forward_device(static_cast<const int32_t*>(ids_dev.raw()), batch, len, state, all_logits, step,
                 logits);
  state.position += len;
  backend_->synchronize();
  return logits.to(Device::CPU);
}

void MambaLM::forward_device(const int32_t* ids_dev, int batch, int len, InferenceState& state,
                             bool all_logits, bool step, Tensor& logits) {
  const int T = batch * len, D = config_.d_model, V = config_.vocab_size;
  const Device dev = backend_->device();
  Tensor h = Tensor::empty({T, D}, DType::F32, dev);    // residual stream
  // normalised input of the current mixer (its in_proj's) and of lm_head: GEMM input alone
  Tensor u = Tensor::empty({T, D}, backend_->gemm_input_dtype(), dev);
  Tensor out = Tensor::empty({T, D}, DType::F32, dev);  // mixer output, added to h by the next norm
  backend_->set_component(Component::Embedding, -1);
  backend_->embedding({T, D, V, ids_dev, weights_.embedding.f32(), h.f32()});
  const float eps = float(config_.norm_eps);
  // A batch-1 step: all layers as one op where the backend has it.
  bool fused = false;
  if (step && batch == 1 && len == 1) {
    const auto params = [&](auto make) {
      std::vector<decltype(make(config_, config_.layers[0], weights_.layers[0], h.f32(), nullptr,
                                state.layers[0], out.f32()))>
          layers;
      for (int i = 0; i < config_.n_layer; ++i)
        layers.push_back(make(config_, config_.layers[i], weights_.layers[i], h.f32(),
                              i ? out.f32() : nullptr, state.layers[i], out.f32()));
      return layers;
    };
    backend_->set_component(Component::Norm, 0);  // where the fused layers are counted
    if (config_.arch == Arch::Mamba1)
      fused = backend_->mamba1_layers_step(params(mamba1_step_params).data(), config_.n_layer);
    else
      fused = backend_->mamba2_layers_step(params(mamba2_step_params).data(), config_.n_layer);
  }
  for (int i = 0; i < config_.n_layer && !fused; ++i) {
    const LayerWeights& w = weights_.layers[i];
    backend_->set_component(Component::Norm, i);
    backend_->add_rmsnorm({T, D, h.f32(), i ? out.f32() : nullptr, w.norm.f32(), eps, act(u)});
    auto mixer = config_.arch == Arch::Mamba1 ? mamba1_mixer : mamba2_mixer;
    mixer(config_, config_.layers[i], w, *backend_, act(u), batch, len, state.layers[i], out.f32(),
          step, i);
  }
  backend_->set_component(Component::NormF, -1);
  backend_->add_rmsnorm({T, D, h.f32(), out.f32(), weights_.norm_f.f32(), eps, act(u)});

  ActIn head_in = act(u);
  int rows = T;
  if (!all_logits && len > 1) {
    // The last row of each sequence: rows len-1, 2 len-1, ... of u, a strided view.
    head_in = act(u, size_t(len - 1) * D);
    rows = batch;
  }
  require(logits.numel() == int64_t(rows) * V, "", "logits", "wrong size for this forward");
  backend_->set_component(Component::LmHead, -1);
  backend_->gemm({rows, V, D, head_in, len > 1 && !all_logits ? len * D : D, weights_.lm_head.f32(),
                  nullptr, logits.f32(), V, false});
}

}  // namespace perfmamba
