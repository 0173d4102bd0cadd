#pragma once
// The language model: embedding, n_layer residual blocks (RMSNorm + Mamba-1 or Mamba-2 mixer),
// final RMSNorm and lm_head. Written once against the Backend interface.
#include <cstdint>
#include <memory>
#include <vector>

#include "perfmamba/backend/backend.hpp"
#include "perfmamba/io/config.hpp"
#include "perfmamba/model/inference_state.hpp"
#include "perfmamba/model/weights.hpp"

namespace perfmamba {

class MambaLM {
 public:
  MambaLM(MambaConfig config, ModelWeights weights, Backend& backend);

  const MambaConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  ModelWeights& mutable_weights() { return weights_; }
  Backend& backend() { return *backend_; }
  // Runs later calls through another backend on the same device (the profiler's wrapper).
  void set_backend(Backend& b) { backend_ = &b; }
  InferenceState new_state(int batch) const {
    return InferenceState::zeros(config_, batch, backend_->device());
  }

  // Runs `len` tokens of each of `batch` sequences (ids row-major [batch, len], host memory) on
  // top of `state`, which it advances. Logits (host memory): [batch * len, vocab] when
  // all_logits, else [batch, vocab] for the last position. Prefill uses the chunked/parallel
  // scan forms.
  Tensor prefill(const int32_t* ids, int batch, int len, InferenceState& state, bool all_logits);
  // One token per sequence through the recurrent step kernels: logits [batch, vocab]. On a
  // backend that records graphs, the step is recorded on its second call for a given state and
  // replayed as one launch afterwards (PERFMAMBA_CUDA_GRAPHS=0 or set_graphs(false) turns that
  // off).
  Tensor decode(const int32_t* ids, InferenceState& state);
  // The profiler times decode op by op, so it compares against steps without graphs.
  void set_graphs(bool on) { graphs_on_ = on; }

 private:
  struct DecodeGraph;
  Tensor forward(const int32_t* ids, int batch, int len, InferenceState& state, bool all_logits,
                 bool step);
  // The forward on device ids; returns device logits and leaves state.position alone.
  Tensor forward_device(const int32_t* ids_dev, int batch, int len, InferenceState& state,
                        bool all_logits, bool step);
  bool decode_with_graph(const int32_t* ids, InferenceState& state, Tensor& logits);
  void check_ids(const int32_t* ids, size_t n) const;

  MambaConfig config_;
  ModelWeights weights_;
  Backend* backend_;
  bool graphs_on_ = true;
  std::vector<std::shared_ptr<DecodeGraph>> graphs_;  // destroyed before the weights they read
};

// Mixers: u [batch*len, d_model] (normalised input) -> out [batch*len, d_model].
void mamba1_mixer(const MambaConfig& c, const LayerDims& l, const LayerWeights& w, Backend& be,
                  const float* u, int batch, int len, LayerState& state, float* out, bool step,
                  int layer);
// A batch-1 decode step of a whole Mamba-1 layer (residual += delta, then norm and mixer into
// out) as the parameters of the backend's fused op (Backend::mamba1_layers_step).
Mamba1StepParams mamba1_step_params(const MambaConfig& c, const LayerDims& l, const LayerWeights& w,
                                    float* residual, const float* delta, LayerState& state,
                                    float* out);
void mamba2_mixer(const MambaConfig& c, const LayerDims& l, const LayerWeights& w, Backend& be,
                  const float* u, int batch, int len, LayerState& state, float* out, bool step,
                  int layer);
// The same for a Mamba-2 layer (Backend::mamba2_layers_step).
Mamba2StepParams mamba2_step_params(const MambaConfig& c, const LayerDims& l, const LayerWeights& w,
                                    float* residual, const float* delta, LayerState& state,
                                    float* out);

}  // namespace perfmamba
