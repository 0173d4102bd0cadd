#include "perfmamba/model/mamba_lm.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "perfmamba/core/error.hpp"

namespace perfmamba {

MambaLM::MambaLM(MambaConfig config, ModelWeights weights, Backend& backend)
    : config_(std::move(config)), weights_(std::move(weights)), backend_(&backend) {
  if (backend_->device() != Device::CPU) move_weights(config_, weights_, backend_->device());
}

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

// A recorded decode step for one inference state (its buffers' addresses are in the graph).
struct MambaLM::DecodeGraph {
  const Backend* backend = nullptr;  // the backend that records and replays it
  std::vector<const void*> state_buffers;
  int batch = 0;
  std::unique_ptr<DeviceGraph> graph;  // null until the second step; stays null if recording failed
  bool failed = false;
  Tensor ids, logits;  // device buffers the graph reads and writes
};

Tensor MambaLM::decode(const int32_t* ids, InferenceState& state) {
  Tensor logits;
  if (decode_with_graph(ids, state, logits)) return logits;
  return forward(ids, state.batch, 1, state, /*all_logits=*/true, /*step=*/true);
}

bool MambaLM::decode_with_graph(const int32_t* ids, InferenceState& state, Tensor& logits) {
  static const bool env_off = [] {
    const char* v = std::getenv("PERFMAMBA_CUDA_GRAPHS");
    return v && std::string(v) == "0";
  }();
  if (!graphs_on_ || env_off || backend_->device() == Device::CPU) return false;
  require(state.batch > 0 && state.layers.size() == size_t(config_.n_layer), "", "inference state",
          "does not belong to this model");
  check_ids(ids, size_t(state.batch));
  std::vector<const void*> buffers;
  for (const LayerState& l : state.layers)
    buffers.insert(buffers.end(), {l.conv_state.raw(), l.ssm_state.raw()});
  std::shared_ptr<DecodeGraph> g;
  for (auto& c : graphs_)
    if (c->backend == backend_ && c->batch == state.batch && c->state_buffers == buffers) g = c;
  if (!g) {  // first step on this state: run it plainly (it also warms the GEMM heuristics)
    g = std::make_shared<DecodeGraph>();
    g->backend = backend_;
    g->state_buffers = buffers;
    g->batch = state.batch;
    if (graphs_.size() >= 8) graphs_.erase(graphs_.begin());
    graphs_.push_back(g);
    return false;
  }
  if (g->failed) return false;
  const Device dev = backend_->device();
  const size_t id_bytes = sizeof(int32_t) * size_t(state.batch);
  if (!g->graph) {
    g->ids = Tensor::empty({state.batch}, DType::I32, dev);
    device_memory(dev).copy(g->ids.raw(), ids, id_bytes, 0);
    if (backend_->begin_capture()) {
      try {
        g->logits = forward_device(static_cast<const int32_t*>(g->ids.raw()), state.batch, 1, state,
                                   true, true);
      } catch (...) {
        backend_->end_capture();  // ends the recording and hands back what it reserved
        g->failed = true;
        throw;
      }
      g->graph = backend_->end_capture();
    }
    if (!g->graph) {
      g->failed = true;
      return false;
    }
  } else {
    device_memory(dev).copy(g->ids.raw(), ids, id_bytes, 0);
  }
  g->graph->launch();
  backend_->synchronize();
  state.position += 1;
  logits = g->logits.to(Device::CPU);
  return true;
}

Tensor MambaLM::forward(const int32_t* ids, int batch, int len, InferenceState& state,
                        bool all_logits, bool step) {
  require(batch > 0 && len > 0, "", "input ids", "need at least one token per sequence");
  require(state.batch == batch && state.layers.size() == size_t(config_.n_layer), "",
          "inference state", "was made for batch " + std::to_string(state.batch));
  const int T = batch * len;
  check_ids(ids, size_t(T));
  Tensor ids_host = Tensor::empty({T}, DType::I32);
  std::memcpy(ids_host.raw(), ids, sizeof(int32_t) * size_t(T));
  const Tensor ids_dev = ids_host.to(backend_->device());
  Tensor logits = forward_device(static_cast<const int32_t*>(ids_dev.raw()), batch, len, state,
                                 all_logits, step);
  state.position += len;
  backend_->synchronize();
  return logits.to(Device::CPU);
}

Tensor MambaLM::forward_device(const int32_t* ids_dev, int batch, int len, InferenceState& state,
                               bool all_logits, bool step) {
  const int T = batch * len, D = config_.d_model, V = config_.vocab_size;
  const Device dev = backend_->device();
  Tensor h = Tensor::empty({T, D}, DType::F32, dev);    // residual stream
  Tensor u = Tensor::empty({T, D}, DType::F32, dev);    // normalised input of the current mixer
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
    // u goes to the mixer's in_proj alone
    backend_->add_rmsnorm({T, D, h.f32(), i ? out.f32() : nullptr, w.norm.f32(), eps, u.f32(),
                           /*only_gemm_reads_out=*/true});
    auto mixer = config_.arch == Arch::Mamba1 ? mamba1_mixer : mamba2_mixer;
    mixer(config_, config_.layers[i], w, *backend_, u.f32(), batch, len, state.layers[i], out.f32(),
          step, i);
  }
  backend_->set_component(Component::NormF, -1);
  backend_->add_rmsnorm({T, D, h.f32(), out.f32(), weights_.norm_f.f32(), eps, u.f32()});

  const float* head_in = u.f32();
  int rows = T;
  if (!all_logits && len > 1) {
    // The last row of each sequence: rows len-1, 2 len-1, ... of u, a strided view.
    head_in = u.f32() + size_t(len - 1) * D;
    rows = batch;
  }
  Tensor logits = Tensor::empty({rows, V}, DType::F32, dev);
  backend_->set_component(Component::LmHead, -1);
  backend_->gemm({rows, V, D, head_in, len > 1 && !all_logits ? len * D : D, weights_.lm_head.f32(),
                  nullptr, logits.f32(), V, false});
  return logits;
}

}  // namespace perfmamba
