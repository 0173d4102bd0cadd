#include "perfmamba/model/weights.hpp"

#include <cmath>
#include <cstdio>
#include <set>

#include "perfmamba/core/error.hpp"
#include "perfmamba/io/checkpoint.hpp"

namespace perfmamba {

std::vector<WeightSlot> weight_slots(const MambaConfig& c, ModelWeights& w) {
  std::vector<WeightSlot> s;
  const int64_t D = c.d_model, K = c.d_conv;
  s.push_back({"backbone.embeddings.weight", {c.vocab_size, D}, "embedding", -1, &w.embedding});
  w.layers.resize(size_t(c.n_layer));
  for (int i = 0; i < c.n_layer; ++i) {
    const LayerDims& l = c.layers[i];
    LayerWeights& lw = w.layers[i];
    const std::string p = "backbone.layers." + std::to_string(i) + ".";
    const std::string m = p + "mixer.";
    const int64_t E = l.d_inner, N = l.d_state, P = c.in_proj_dim(l), C = c.conv_dim(l);
    s.push_back({p + "norm.weight", {D}, "norm", i, &lw.norm});
    s.push_back({m + "in_proj.weight", {P, D}, "in_proj", i, &lw.in_proj});
    if (c.use_bias) s.push_back({m + "in_proj.bias", {P}, "in_proj", i, &lw.in_proj_bias});
    s.push_back({m + "conv1d.weight", {C, 1, K}, "conv1d", i, &lw.conv_weight});
    if (c.use_conv_bias) s.push_back({m + "conv1d.bias", {C}, "conv1d", i, &lw.conv_bias});
    if (c.arch == Arch::Mamba1) {
      s.push_back({m + "x_proj.weight", {c.dt_rank + 2 * N, E}, "x_proj", i, &lw.x_proj});
      s.push_back({m + "dt_proj.weight", {E, c.dt_rank}, "dt_proj", i, &lw.dt_proj});
      s.push_back({m + "dt_proj.bias", {E}, "dt_proj", i, &lw.dt_bias});
      s.push_back({m + "A_log", {E, N}, "ssm", i, &lw.A_log});
      s.push_back({m + "D", {E}, "ssm", i, &lw.D});
    } else {
      const int64_t H = l.n_heads;
      s.push_back({m + "dt_bias", {H}, "ssm", i, &lw.dt_bias});
      s.push_back({m + "A_log", {H}, "ssm", i, &lw.A_log});
      s.push_back({m + "D", {H}, "ssm", i, &lw.D});
      s.push_back({m + "norm.weight", {E}, "gated_norm", i, &lw.gated_norm});
    }
    s.push_back({m + "out_proj.weight", {D, E}, "out_proj", i, &lw.out_proj});
    if (c.use_bias) s.push_back({m + "out_proj.bias", {D}, "out_proj", i, &lw.out_proj_bias});
  }
  s.push_back({"backbone.norm_f.weight", {D}, "norm_f", -1, &w.norm_f});
  if (!c.tie_embeddings) s.push_back({"lm_head.weight", {c.vocab_size, D}, "lm_head", -1, &w.lm_head});
  return s;
}

void finalize_weights(const MambaConfig& c, ModelWeights& w) {
  for (auto& lw : w.layers) {
    lw.A = Tensor::empty(lw.A_log.shape());
    const float* src = lw.A_log.f32();
    float* dst = lw.A.f32();
    for (int64_t i = 0; i < lw.A.numel(); ++i) dst[i] = -std::exp(src[i]);
  }
  if (c.tie_embeddings) w.lm_head = w.embedding;
}

namespace {
const TensorEntry& find_checked(const Checkpoint& ckpt, const WeightSlot& slot) {
  const TensorEntry* e = ckpt.find(slot.name);
  require(e != nullptr, ckpt.dir(), "tensor '" + slot.name + "'",
          "missing from the checkpoint (expected shape " + shape_str(slot.shape) + ")");
  require(e->shape == slot.shape, *e->file, "tensor '" + slot.name + "'",
          "shape " + shape_str(e->shape) + " does not match config.json, which implies " +
              shape_str(slot.shape));
  return *e;
}
}  // namespace

CheckpointSummary check_checkpoint(const MambaConfig& c, const Checkpoint& ckpt) {
  CheckpointSummary s;
  ModelWeights unused;
  for (const WeightSlot& slot : weight_slots(c, unused)) {
    const TensorEntry& e = find_checked(ckpt, slot);
    s.tensors += 1;
    s.tensor_bytes += e.nbytes;
    s.dtypes[dtype_name(e.dtype)] += 1;
  }
  s.files = int(ckpt.files().size());
  s.file_bytes = ckpt.total_bytes();
  return s;
}

void move_weights(const MambaConfig& c, ModelWeights& w, Device device) {
  for (WeightSlot& s : weight_slots(c, w)) *s.tensor = s.tensor->to(device);
  for (auto& lw : w.layers) lw.A = lw.A.to(device);
  if (c.tie_embeddings) w.lm_head = w.embedding;
}

ModelWeights load_weights(const MambaConfig& c, const Checkpoint& ckpt) {
  ModelWeights w;
  std::set<std::string> used;
  for (const WeightSlot& slot : weight_slots(c, w)) {
    *slot.tensor = entry_to_f32(find_checked(ckpt, slot));
    used.insert(slot.name);
  }
  // A tied checkpoint may still carry lm_head.weight (an explicit copy): accepted, unused.
  if (c.tie_embeddings) used.insert("lm_head.weight");
  std::string unknown;
  int n_unknown = 0;
  for (const auto& name : ckpt.names())
    if (!used.count(name) && n_unknown++ < 8) unknown += (unknown.empty() ? "" : ", ") + name;
  if (n_unknown)
    std::fprintf(stderr, "perfmamba: warning: %s: %d tensor(s) not used by the model: %s%s\n",
                 ckpt.dir().c_str(), n_unknown, unknown.c_str(), n_unknown > 8 ? ", ..." : "");
  finalize_weights(c, w);
  return w;
}

}  // namespace perfmamba
