// Encoding speed of the byte-level BPE tokenizer on WikiText-2 (test split, 1.29 MB), in MB/s.
// A fresh Tokenizer per iteration: the word cache starts empty each time, as for a new file.
#include <benchmark/benchmark.h>

#include <string>

#include "perfmamba/io/mapped_file.hpp"
#include "perfmamba/tokenizer/tokenizer.hpp"

namespace {
const std::string kData = PERFMAMBA_SHARED_DATA;

void BM_Encode(benchmark::State& state, const std::string& tokenizer) {
  const std::string text = perfmamba::read_text_file(kData + "/wikitext-2-raw/wiki.test.raw");
  size_t ids = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto tok = perfmamba::Tokenizer::from_file(tokenizer);
    state.ResumeTiming();
    ids = tok.encode(text).size();
    benchmark::DoNotOptimize(ids);
  }
  state.SetBytesProcessed(int64_t(text.size()) * state.iterations());
  state.counters["ids"] = double(ids);
}

BENCHMARK_CAPTURE(BM_Encode, gpt_neox_20b, kData + "/tokenizer/gpt-neox-20b/tokenizer.json")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Encode, victorian_8k, std::string(PERFMAMBA_MODELS) + "/mamba1-victorian/tokenizer.json")->Unit(benchmark::kMillisecond)->UseRealTime();
}  // namespace

BENCHMARK_MAIN();
