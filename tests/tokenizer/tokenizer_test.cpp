// Token ids identical to Hugging Face `tokenizers` (fixtures from
// tools/fixtures/make_tokenizer_refs.py) on the whole WikiText-2 test text and a Unicode /
// emoji / whitespace / special-token torture file, for GPT-NeoX-20B and our trained 8k BPE.
#include <gtest/gtest.h>

#include <filesystem>

#include "perfmamba/io/mapped_file.hpp"
#include "perfmamba/io/safetensors.hpp"
#include "perfmamba/tokenizer/tokenizer.hpp"
#include "perfmamba/tokenizer/unicode.hpp"
#include "testing.hpp"
#include "testing_files.hpp"

namespace perfmamba {
namespace {

struct Case {
  std::string name, tokenizer;
};

std::vector<int32_t> reference_ids(const std::string& name, const std::string& text) {
  SafetensorsFile f(testing::fixtures_dir() + "/tokenizer/" + name + ".safetensors");
  Tensor t = entry_to_tensor(*f.find(text));
  const auto* p = static_cast<const int32_t*>(t.raw());
  return std::vector<int32_t>(p, p + t.numel());
}

size_t first_difference(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

class TokenizerMatchesReference : public ::testing::TestWithParam<Case> {};

TEST_P(TokenizerMatchesReference, OnWikitextAndTortureText) {
  const Tokenizer tok = Tokenizer::from_file(GetParam().tokenizer);
  const std::pair<std::string, std::string> texts[] = {
      {"wiki", testing::shared_data_dir() + "/wikitext-2-raw/wiki.test.raw"},
      {"torture", testing::fixtures_dir() + "/tokenizer/torture.txt"}};
  for (const auto& [key, path] : texts) {
    SCOPED_TRACE(key);
    const std::string text = read_text_file(path);
    const auto want = reference_ids(GetParam().name, key);
    const auto got = tok.encode(text);
    const size_t d = first_difference(got, want);
    EXPECT_EQ(got.size(), want.size());
    if (d < std::min(got.size(), want.size()))
      ADD_FAILURE() << "first difference at token " << d << ": got " << got[d] << " ('"
                    << tok.decode_one(got[d]) << "') want " << want[d] << " ('" << tok.decode_one(want[d]) << "')";
    EXPECT_EQ(tok.decode(got), nfc(text));  // round trip, up to NFC normalisation
  }
}

INSTANTIATE_TEST_SUITE_P(
    Tokenizers, TokenizerMatchesReference,
    ::testing::Values(Case{"gpt-neox-20b", testing::shared_data_dir() + "/tokenizer/gpt-neox-20b/tokenizer.json"},
                      Case{"victorian-8k", testing::models_dir() + "/mamba1-victorian/tokenizer.json"}),
    [](const auto& param_info) { return param_info.param.name == "gpt-neox-20b" ? std::string("GptNeox") : std::string("Victorian8k"); });

TEST(Tokenizer, SpecialTokensAndRoundTripOfArbitraryText) {
  const Tokenizer tok = Tokenizer::from_file(testing::shared_data_dir() + "/tokenizer/gpt-neox-20b/tokenizer.json");
  EXPECT_EQ(tok.token_id("<|endoftext|>"), 0);
  EXPECT_EQ(tok.vocab_size(), 50277);
  const auto ids = tok.encode("a<|endoftext|>b");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[1], 0);
  testing::Rng rng(3);
  for (int trial = 0; trial < 50; ++trial) {  // random printable ASCII and whitespace
    std::string s;
    for (int i = rng.integer(0, 200); i > 0; --i) s += char(rng.integer(0, 3) == 0 ? " \n\t"[rng.integer(0, 2)] : rng.integer(32, 126));
    EXPECT_EQ(tok.decode(tok.encode(s)), s);
  }
}

TEST(Tokenizer, BadInputsGiveOneLineErrors) {
  const std::string neox = testing::shared_data_dir() + "/tokenizer/gpt-neox-20b/tokenizer.json";
  const Tokenizer tok = Tokenizer::from_file(neox);
  testing::expect_error([&] { tok.encode("ok \xff\xfe bad"); }, {"invalid UTF-8", "offset 3"});
  testing::expect_error([&] { tok.encode("truncated \xe2\x82"); }, {"invalid UTF-8", "offset 10"});
  testing::expect_error([&] { tok.decode({1 << 20}); }, {"not in the vocabulary"});
  testing::expect_error([] { Tokenizer::from_file("/nonexistent/tokenizer.json"); }, {"/nonexistent/tokenizer.json"});
  testing::TempDir dir;
  const std::pair<std::string, std::string> bad[] = {
      {R"({"model": {"type": "WordPiece", "vocab": {}}, "pre_tokenizer": null})", "model.type"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Whitespace"}})", "pre_tokenizer"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}, "pre_tokenizer": {"type": "ByteLevel"}})", "model.merges[0]"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "Lowercase"}, "pre_tokenizer": {"type": "ByteLevel"}})", "normalizer"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}})", "invalid JSON"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})", "pre_tokenizer"},
  };
  for (const auto& [json, field] : bad) {
    testing::write_bytes(dir.file("tokenizer.json"), json);
    testing::expect_error([&] { Tokenizer::from_file(dir.file("tokenizer.json")); }, {"tokenizer.json", field});
  }
}

}  // namespace
}  // namespace perfmamba
