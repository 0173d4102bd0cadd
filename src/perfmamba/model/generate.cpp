#include "perfmamba/model/generate.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace perfmamba {

Sampler::Sampler(SamplingOptions o) : opt_(o), rng_(o.seed) {}

int32_t Sampler::sample(const float* logits, int vocab) {
  if (opt_.temperature <= 0.0f) return int32_t(std::max_element(logits, logits + vocab) - logits);
  scratch_.resize(size_t(vocab));
  for (int i = 0; i < vocab; ++i) scratch_[size_t(i)] = {logits[i] / opt_.temperature, i};
  size_t keep = size_t(vocab);
  if (opt_.top_k > 0 && size_t(opt_.top_k) < keep) keep = size_t(opt_.top_k);
  std::partial_sort(scratch_.begin(), scratch_.begin() + keep, scratch_.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  // softmax over the kept candidates, then cut the tail beyond top_p of the mass
  const float mx = scratch_[0].first;
  double total = 0;
  for (size_t i = 0; i < keep; ++i) total += (scratch_[i].first = std::exp(scratch_[i].first - mx));
  if (opt_.top_p < 1.0f) {
    double mass = 0;
    size_t n = 0;
    while (n < keep && mass < opt_.top_p * total) mass += scratch_[n++].first;
    keep = std::max<size_t>(n, 1);
    total = mass;
  }
  double r = std::uniform_real_distribution<double>(0.0, total)(rng_);
  for (size_t i = 0; i < keep; ++i) {
    r -= scratch_[i].first;
    if (r <= 0) return scratch_[i].second;
  }
  return scratch_[keep - 1].second;
}

GenerationStats generate(MambaLM& model, const std::vector<int32_t>& prompt, int max_new,
                         Sampler& sampler, int32_t stop_id,
                         const std::function<void(int32_t)>& on_token) {
  using clock = std::chrono::steady_clock;
  GenerationStats st;
  st.prompt_tokens = int(prompt.size());
  const int V = model.config().vocab_size;
  InferenceState state = model.new_state(1);
  auto t0 = clock::now();
  Tensor logits = model.prefill(prompt.data(), 1, int(prompt.size()), state, false);
  st.prefill_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  t0 = clock::now();
  int32_t next = max_new > 0 ? sampler.sample(logits.f32(), V) : 0;
  for (int i = 0; i < max_new; ++i) {
    ++st.generated_tokens;
    if (next == stop_id) {
      st.stopped_at_eos = true;
      break;
    }
    on_token(next);
    if (i + 1 == max_new) break;
    if (sampler.greedy()) {  // chosen on the device: only the id comes back
      next = model.decode_greedy(&next, state, 1)[0];
    } else {
      logits = model.decode(&next, state);
      next = sampler.sample(logits.f32(), V);
    }
  }
  st.decode_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  return st;
}

}  // namespace perfmamba
