// Logits of perfmamba vs Hugging Face transformers (fixtures from tools/fixtures/make_golden.py)
// for whole-sequence prefill, prompt prefill + decode steps, and prefill continued in pieces.
// Tolerance: relative L2 error <= 1e-4 in f32.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "perfmamba/io/safetensors.hpp"
#include "perfmamba/model/load.hpp"
#include "testing.hpp"

namespace perfmamba {
namespace {
constexpr double kTol = 1e-4;

struct Reference {
  int batch = 0, len = 0, prompt_len = 0, vocab = 0;
  std::vector<int32_t> ids;  // [batch, len]
  Tensor logits, decode_logits;
};

Reference read_reference(const std::string& dir) {
  SafetensorsFile f(dir + "/reference.safetensors");
  Reference r;
  const TensorEntry* ids = f.find("input_ids");
  r.batch = int(ids->shape[0]);
  r.len = int(ids->shape[1]);
  Tensor ids64 = entry_to_tensor(*ids);
  for (int64_t i = 0; i < ids64.numel(); ++i) r.ids.push_back(int32_t(static_cast<const int64_t*>(ids64.raw())[i]));
  Tensor pl = entry_to_tensor(*f.find("prompt_len"));
  r.prompt_len = int(*static_cast<const int64_t*>(pl.raw()));
  r.logits = entry_to_f32(*f.find("logits"));
  r.decode_logits = entry_to_f32(*f.find("decode_logits"));
  r.vocab = int(r.logits.dim(2));
  return r;
}

// ids[:, t0:t1] as a contiguous [batch, t1 - t0] block
std::vector<int32_t> columns(const Reference& r, int t0, int t1) {
  std::vector<int32_t> out;
  for (int b = 0; b < r.batch; ++b)
    for (int t = t0; t < t1; ++t) out.push_back(r.ids[size_t(b) * r.len + t]);
  return out;
}

// logits[:, t0:t1, :] of the reference, contiguous
std::vector<float> ref_slice(const Tensor& logits, int batch, int len, int t0, int t1, int V) {
  std::vector<float> out;
  for (int b = 0; b < batch; ++b)
    for (int t = t0; t < t1; ++t) {
      const float* row = logits.f32() + (size_t(b) * len + t) * V;
      out.insert(out.end(), row, row + V);
    }
  return out;
}

class Golden : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = testing::fixtures_dir() + "/golden/" + GetParam();
    ref_ = read_reference(dir_);
    backend_ = make_cpu_backend();
    loaded_ = load_model(dir_, *backend_);
  }
  MambaLM& model() { return *loaded_.model; }
  std::string dir_;
  Reference ref_;
  std::unique_ptr<Backend> backend_;
  LoadedModel loaded_;
};

TEST_P(Golden, PrefillWholeSequence) {
  InferenceState st = model().new_state(ref_.batch);
  Tensor logits = model().prefill(ref_.ids.data(), ref_.batch, ref_.len, st, true);
  ASSERT_EQ(logits.numel(), ref_.logits.numel());
  const double err = testing::rel_error(logits.f32(), ref_.logits.f32(), size_t(logits.numel()));
  std::printf("[ measured ] %s prefill: relative error %.2e\n", GetParam().c_str(), err);
  EXPECT_LT(err, kTol);
}

TEST_P(Golden, PromptPrefillThenDecodeSteps) {
  const int P = ref_.prompt_len, B = ref_.batch, V = ref_.vocab;
  InferenceState st = model().new_state(B);
  auto prompt = columns(ref_, 0, P);
  Tensor last = model().prefill(prompt.data(), B, P, st, false);
  const auto want_last = ref_slice(ref_.logits, B, ref_.len, P - 1, P, V);
  EXPECT_LT(testing::rel_error(last.f32(), want_last.data(), want_last.size()), kTol);
  double worst = 0;
  for (int t = P; t < ref_.len; ++t) {
    auto tok = columns(ref_, t, t + 1);
    Tensor step = model().decode(tok.data(), st);
    const auto want = ref_slice(ref_.decode_logits, B, ref_.len - P, t - P, t - P + 1, V);
    const double err = testing::rel_error(step.f32(), want.data(), want.size());
    worst = std::max(worst, err);
    EXPECT_LT(err, kTol) << "step at t=" << t;
  }
  EXPECT_EQ(st.position, ref_.len);
  std::printf("[ measured ] %s decode (%d steps): worst relative error %.2e\n", GetParam().c_str(), ref_.len - P, worst);
}

TEST_P(Golden, PrefillContinuedInPieces) {
  const int B = ref_.batch, V = ref_.vocab;
  InferenceState st = model().new_state(B);
  const int cuts[] = {0, ref_.len / 3, ref_.len / 3 + 1, ref_.len};
  for (int i = 0; i + 1 < 4; ++i) {
    const int t0 = cuts[i], t1 = cuts[i + 1];
    if (t1 == t0) continue;
    auto ids = columns(ref_, t0, t1);
    Tensor logits = model().prefill(ids.data(), B, t1 - t0, st, true);
    const auto want = ref_slice(ref_.logits, B, ref_.len, t0, t1, V);
    EXPECT_LT(testing::rel_error(logits.f32(), want.data(), want.size()), kTol) << "piece " << i;
  }
}

const std::vector<std::string> kCases = {"m1_basic", "m1_odd",    "m1_bf16_sharded",
                                         "m2_basic", "m2_groups", "m2_f16_sharded"};
INSTANTIATE_TEST_SUITE_P(Fixtures, Golden, ::testing::ValuesIn(kCases),
                         [](const auto& param_info) { return param_info.param; });

TEST(GoldenFixtures, EveryFixtureDirectoryIsTested) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(testing::fixtures_dir() + "/golden")) {
    EXPECT_NE(std::find(kCases.begin(), kCases.end(), e.path().filename().string()), kCases.end())
        << e.path();
    ++n;
  }
  EXPECT_EQ(n, kCases.size());
}

}  // namespace
}  // namespace perfmamba
