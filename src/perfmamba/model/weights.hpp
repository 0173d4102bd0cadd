#pragma once
// Weights of a Mamba-1 or Mamba-2 language model in f32, and the table that maps each one to
// its Hugging Face tensor name, shape and component. That table is the single place where the
// checkpoint layout is described: loading, export and `inspect` all walk it.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "perfmamba/core/tensor.hpp"
#include "perfmamba/io/config.hpp"

namespace perfmamba {

class Checkpoint;

struct LayerWeights {
  Tensor norm;                      // [d_model]
  Tensor in_proj, in_proj_bias;     // [in_proj_dim, d_model], [in_proj_dim]
  Tensor conv_weight, conv_bias;    // [conv_dim, 1, d_conv], [conv_dim]
  Tensor x_proj;                    // Mamba-1: [dt_rank + 2 d_state, d_inner]
  Tensor dt_proj;                   // Mamba-1: [d_inner, dt_rank]
  Tensor dt_bias;                   // [d_inner] (Mamba-1, dt_proj.bias) or [n_heads]
  Tensor A_log;                     // [d_inner, d_state] or [n_heads]
  Tensor D;                         // [d_inner] or [n_heads]
  Tensor gated_norm;                // Mamba-2: [d_inner]
  Tensor out_proj, out_proj_bias;   // [d_model, d_inner], [d_model]
  Tensor A;                         // derived at load: -exp(A_log)
};

struct ModelWeights {
  Tensor embedding;  // [vocab, d_model]
  std::vector<LayerWeights> layers;
  Tensor norm_f;   // [d_model]
  Tensor lm_head;  // [vocab, d_model]; shares the embedding's buffer when tied
};

struct WeightSlot {
  std::string name;       // Hugging Face tensor name
  Shape shape;            // expected shape
  const char* component;  // embedding, norm, in_proj, conv1d, x_proj, dt_proj, ssm, ...
  int layer;              // -1 outside the layers
  Tensor* tensor;
};

// Every tensor the checkpoint holds for this config, in a stable order. lm_head is listed
// only when the embeddings are not tied.
std::vector<WeightSlot> weight_slots(const MambaConfig& c, ModelWeights& w);

struct CheckpointSummary {
  int tensors = 0, files = 0;
  size_t tensor_bytes = 0, file_bytes = 0;
  std::map<std::string, int> dtypes;  // storage dtype -> tensor count
};
// Checks that every expected tensor is present with its shape, without converting anything.
CheckpointSummary check_checkpoint(const MambaConfig& c, const Checkpoint& ckpt);

// Loads and validates all tensors; warns (stderr) about tensors the checkpoint has that the
// model does not use.
ModelWeights load_weights(const MambaConfig& c, const Checkpoint& ckpt);

// Fills derived tensors (A = -exp(A_log)) and ties lm_head; call after weights change.
void finalize_weights(const MambaConfig& c, ModelWeights& w);
// Moves every tensor (derived ones too) to a device, keeping lm_head tied.
void move_weights(const MambaConfig& c, ModelWeights& w, Device device);

}  // namespace perfmamba
