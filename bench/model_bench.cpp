// Whole-model CPU throughput on the built-in presets (random weights, real shapes):
// prefill of L tokens and single-token decode, batch 1. Counter tokens_per_s is per second.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "perfmamba/model/load.hpp"

namespace {
using namespace perfmamba;

MambaLM& model(const std::string& preset) {
  static auto backend = make_cpu_backend();
  static std::map<std::string, LoadedModel> cache;
  auto it = cache.find(preset);
  if (it == cache.end()) it = cache.emplace(preset, load_model(preset, *backend, 1)).first;
  return *it->second.model;
}

std::vector<int32_t> ids(int n) {
  std::vector<int32_t> v(n);
  for (int i = 0; i < n; ++i) v[i] = (i * 7919 + 13) % 50000;
  return v;
}

void BM_Prefill(benchmark::State& state, const std::string& preset) {
  MambaLM& m = model(preset);
  const int len = int(state.range(0));
  const auto prompt = ids(len);
  for (auto _ : state) {
    InferenceState st = m.new_state(1);
    Tensor logits = m.prefill(prompt.data(), 1, len, st, false);
    benchmark::DoNotOptimize(logits.f32());
  }
  state.counters["tokens_per_s"] =
      benchmark::Counter(double(len) * state.iterations(), benchmark::Counter::kIsRate);
}

void BM_Decode(benchmark::State& state, const std::string& preset) {
  MambaLM& m = model(preset);
  const int context = int(state.range(0));
  const auto prompt = ids(context);
  InferenceState st = m.new_state(1);
  m.prefill(prompt.data(), 1, context, st, false);
  int32_t tok = 42;
  for (auto _ : state) {
    Tensor logits = m.decode(&tok, st);
    benchmark::DoNotOptimize(logits.f32());
  }
  state.counters["tokens_per_s"] =
      benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(BM_Prefill, mamba_130m, std::string("mamba-130m"))->Arg(128)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Prefill, mamba2_130m, std::string("mamba2-130m"))->Arg(128)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Decode, mamba_130m, std::string("mamba-130m"))->Arg(128)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Decode, mamba2_130m, std::string("mamba2-130m"))->Arg(128)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
}  // namespace

BENCHMARK_MAIN();
