#pragma once
// The language model: embedding, n_layer residual blocks (RMSNorm + Mamba-1 or Mamba-2 mixer),
// final RMSNorm and lm_head. Written once against the Backend interface.
#include <cstdint>
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
  // Also drops the backend's recorded steps, which read the weights as they were.
  ModelWeights& mutable_weights() {
    backend_->forget_steps(this);
    return weights_;
  }
  ~MambaLM() { backend_->forget_steps(this); }
  MambaLM(const MambaLM&) = delete;
  MambaLM& operator=(const MambaLM&) = delete;
  MambaLM(MambaLM&&) = delete;
  MambaLM& operator=(MambaLM&&) = delete;
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
  // One token per sequence through the recurrent step kernels: logits [batch, vocab]. The step
  // goes through Backend::run_step over the state's buffers, so a backend that records graphs
  // (CUDA) replays it as one launch from the third step on.
  Tensor decode(const int32_t* ids, InferenceState& state);
  // Greedy decoding with the choice made on the device: `steps` steps, the first reading ids
  // ([batch], host memory), each next one the argmax of the logits before it. Returns the ids
  // chosen, [steps, batch] row-major; only they cross to the host, once at the end.
  std::vector<int32_t> decode_greedy(const int32_t* ids, InferenceState& state, int steps);

 private:
  Tensor forward(const int32_t* ids, int batch, int len, InferenceState& state, bool all_logits,
                 bool step);
  // The forward on device ids into device logits ([rows, vocab], allocated by the caller); leaves
  // state.position alone.
  void forward_device(const int32_t* ids_dev, int batch, int len, InferenceState& state,
                      bool all_logits, bool step, Tensor& logits);
  // A decode step's input ids into the state's step buffers, and the step's key (Backend::run_step).
  StepKey prepare_step(const int32_t* ids, InferenceState& state, int kind);
  // The ops of a decode step over the state's step buffers; choose_next: argmax into step_ids.
  void step_ops(InferenceState& state, bool choose_next);
  void check_ids(const int32_t* ids, size_t n) const;
  void check_state(const InferenceState& state, int batch) const;

  MambaConfig config_;
  ModelWeights weights_;
  Backend* backend_;
};

// Mixers: u [batch*len, d_model] (normalised input) -> out [batch*len, d_model].
void mamba1_mixer(const MambaConfig& c, const LayerDims& l, const LayerWeights& w, Backend& be,
                  ActIn u, int batch, int len, LayerState& state, float* out, bool step,
                  int layer);
// A batch-1 decode step of a whole Mamba-1 layer (residual += delta, then norm and mixer into
// out) as the parameters of the backend's fused op (Backend::mamba1_layers_step).
Mamba1StepParams mamba1_step_params(const MambaConfig& c, const LayerDims& l, const LayerWeights& w,
                                    float* residual, const float* delta, LayerState& state,
                                    float* out);
void mamba2_mixer(const MambaConfig& c, const LayerDims& l, const LayerWeights& w, Backend& be,
                  ActIn u, int batch, int len, LayerState& state, float* out, bool step,
                  int layer);
// The same for a Mamba-2 layer (Backend::mamba2_layers_step).
Mamba2StepParams mamba2_step_params(const MambaConfig& c, const LayerDims& l, const LayerWeights& w,
                                    float* residual, const float* delta, LayerState& state,
                                    float* out);

}  // namespace perfmamba
