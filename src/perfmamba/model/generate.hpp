#pragma once
// Token sampling and the prefill + decode loop of text generation.
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "perfmamba/model/mamba_lm.hpp"

namespace perfmamba {

struct SamplingOptions {
  float temperature = 0.0f;  // 0: greedy
  int top_k = 0;             // 0: no limit
  float top_p = 1.0f;        // nucleus mass; 1: no limit
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(SamplingOptions o);
  int32_t sample(const float* logits, int vocab);
  bool greedy() const { return opt_.temperature <= 0.0f; }

 private:
  SamplingOptions opt_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> scratch_;
};

struct GenerationStats {
  int prompt_tokens = 0, generated_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
  bool stopped_at_eos = false;
};

// Prefills the prompt, then samples up to max_new tokens, calling on_token for each as it
// comes (before the next decode step). Stops early at stop_id (>= 0) unless it is -1.
GenerationStats generate(MambaLM& model, const std::vector<int32_t>& prompt, int max_new,
                         Sampler& sampler, int32_t stop_id,
                         const std::function<void(int32_t)>& on_token);

}  // namespace perfmamba
