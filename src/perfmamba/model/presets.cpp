#include "perfmamba/model/presets.hpp"

#include <cmath>
#include <cstring>

namespace perfmamba {
namespace {
struct PresetShape {
  const char* name;
  Arch arch;
  int d_model, n_layer;
};
// Sizes of state-spaces/mamba-* and state-spaces/mamba2-* (config.json of each checkpoint).
constexpr PresetShape kPresets[] = {
    {"mamba-130m", Arch::Mamba1, 768, 24},   {"mamba-370m", Arch::Mamba1, 1024, 48},
    {"mamba-790m", Arch::Mamba1, 1536, 48},  {"mamba-1.4b", Arch::Mamba1, 2048, 48},
    {"mamba-2.8b", Arch::Mamba1, 2560, 64},  {"mamba2-130m", Arch::Mamba2, 768, 24},
    {"mamba2-370m", Arch::Mamba2, 1024, 48}, {"mamba2-780m", Arch::Mamba2, 1536, 48},
    {"mamba2-1.3b", Arch::Mamba2, 2048, 48}, {"mamba2-2.7b", Arch::Mamba2, 2560, 64},
};

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t hash_name(const std::string& s, uint64_t seed) {
  uint64_t h = seed ^ 0xcbf29ce484222325ull;
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ull;
  return h;
}

// Uniform in [lo, hi): blocks of 4096 elements get their own stream, so threads agree.
void fill_uniform(Tensor& t, uint64_t seed, float lo, float hi) {
  float* p = t.f32();
  const int64_t n = t.numel(), blocks = (n + 4095) / 4096;
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t b = 0; b < blocks; ++b) {
    uint64_t s = seed + uint64_t(b) * 0x632be59bd9b4e019ull;
    for (int64_t i = b * 4096; i < std::min(n, (b + 1) * 4096); ++i)
      p[i] = lo + (hi - lo) * float(splitmix64(s) >> 40) * (1.0f / 16777216.0f);
  }
}

void fill_const(Tensor& t, float v) {
  float* p = t.f32();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = v;
}

float inverse_softplus(float y) { return y + std::log(-std::expm1(-y)); }
}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> out;
  for (const auto& p : kPresets) out.push_back(p.name);
  return out;
}

std::optional<MambaConfig> preset_config(const std::string& name) {
  for (const auto& p : kPresets) {
    if (name != p.name) continue;
    MambaConfig c;
    c.arch = p.arch;
    c.d_model = p.d_model;
    c.n_layer = p.n_layer;
    c.d_conv = 4;
    c.use_bias = false;
    c.use_conv_bias = true;
    c.tie_embeddings = true;
    c.eos_token_id = 0;
    LayerDims l;
    l.d_inner = 2 * p.d_model;
    if (p.arch == Arch::Mamba1) {
      c.vocab_size = 50280;
      c.dt_rank = (p.d_model + 15) / 16;
      l.d_state = 16;
    } else {
      c.vocab_size = 50288;
      c.n_groups = 1;
      c.chunk_size = 256;
      l.d_state = 128;
      l.head_dim = 64;
      l.n_heads = l.d_inner / 64;
    }
    c.layers.assign(size_t(c.n_layer), l);
    return c;
  }
  return std::nullopt;
}

ModelWeights random_weights(const MambaConfig& c, uint64_t seed) {
  ModelWeights w;
  const float a = 0.02f * std::sqrt(3.0f);  // uniform with the std of N(0, 0.02)
  for (WeightSlot& slot : weight_slots(c, w)) {
    Tensor& t = *slot.tensor;
    t = Tensor::empty(slot.shape);
    const uint64_t s = hash_name(slot.name, seed);
    const std::string comp = slot.component;
    auto ends_with = [&](const char* suffix) {
      const size_t n = std::strlen(suffix);
      return slot.name.size() >= n && slot.name.compare(slot.name.size() - n, n, suffix) == 0;
    };
    if (comp == "norm" || comp == "norm_f" || comp == "gated_norm" || ends_with(".D")) {
      fill_const(t, 1.0f);
    } else if (comp == "conv1d") {
      const float b = 1.0f / std::sqrt(float(c.d_conv));
      fill_uniform(t, s, -b, b);
    } else if (ends_with("A_log")) {
      // S4D-real: A = -(1..N) per state (Mamba-1); per head, A in [1, 16] (Mamba-2)
      float* p = t.f32();
      if (c.arch == Arch::Mamba1) {
        const int64_t N = t.dim(1);
        for (int64_t i = 0; i < t.numel(); ++i) p[i] = std::log(float(i % N + 1));
      } else {
        fill_uniform(t, s, 1.0f, 16.0f);
        for (int64_t i = 0; i < t.numel(); ++i) p[i] = std::log(p[i]);
      }
    } else if (ends_with("dt_proj.bias") || ends_with("dt_bias")) {
      // dt log-uniform in [1e-3, 1e-1], stored as softplus^-1(dt)
      fill_uniform(t, s, std::log(1e-3f), std::log(1e-1f));
      float* p = t.f32();
      for (int64_t i = 0; i < t.numel(); ++i) p[i] = inverse_softplus(std::exp(p[i]));
    } else if (ends_with("dt_proj.weight")) {
      const float b = 1.0f / std::sqrt(float(c.dt_rank));
      fill_uniform(t, s, -b, b);
    } else if (ends_with(".bias")) {
      fill_const(t, 0.0f);
    } else {
      fill_uniform(t, s, -a, a);
    }
  }
  finalize_weights(c, w);
  return w;
}

}  // namespace perfmamba
