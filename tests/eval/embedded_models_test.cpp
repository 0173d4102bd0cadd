// The shipped models: perfmamba's held-out perplexity equals transformers' (reference numbers in
// tests/fixtures/embedded_models_ppl.json) within 0.1% relative, through perfmamba's own
// tokenizer, loader and engine.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "perfmamba/eval/perplexity.hpp"
#include "perfmamba/io/mapped_file.hpp"
#include "perfmamba/model/load.hpp"
#include "perfmamba/tokenizer/tokenizer.hpp"
#include "testing.hpp"

namespace perfmamba {
namespace {

class EmbeddedModel : public ::testing::TestWithParam<std::string> {};

TEST_P(EmbeddedModel, HeldOutPerplexityMatchesTransformers) {
  const std::string valid = testing::shared_data_dir() + "/corpus/gutenberg-victorian/valid.txt";
  if (!std::filesystem::exists(valid)) GTEST_SKIP() << valid << " not present";
  const std::string dir = testing::models_dir() + "/" + GetParam();
  const auto ref = nlohmann::json::parse(read_text_file(testing::fixtures_dir() + "/embedded_models_ppl.json"))[GetParam()];
  const Tokenizer tok = Tokenizer::from_file(dir + "/tokenizer.json");
  auto ids = tok.encode(read_text_file(valid));
  ids.resize(4097);
  auto backend = make_cpu_backend();
  LoadedModel lm = load_model(dir, *backend);
  const PerplexityResult r = perplexity(*lm.model, ids, {513, 256, 4});
  EXPECT_EQ(r.tokens, ref["tokens"].get<int64_t>());
  EXPECT_EQ(r.windows, ref["windows"].get<int64_t>());
  const double want = ref["ppl"].get<double>();
  EXPECT_NEAR(r.ppl(), want, 1e-3 * want) << "perfmamba " << r.ppl() << " vs transformers " << want;
}

INSTANTIATE_TEST_SUITE_P(Shipped, EmbeddedModel, ::testing::Values("mamba1-victorian", "mamba2-victorian"),
                         [](const auto& param_info) { return param_info.param.substr(0, 6); });

}  // namespace
}  // namespace perfmamba
