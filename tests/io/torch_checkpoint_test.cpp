// state-spaces checkpoints (config.json with ssm_cfg + torch.save zip) and hostile torch.save
// files (tools/fixtures/make_state_spaces.py): same logits as transformers; refusals are one
// line and nothing is executed.
#include <gtest/gtest.h>

#include <filesystem>

#include "perfmamba/io/pickle.hpp"
#include "perfmamba/io/torch_checkpoint.hpp"
#include "perfmamba/model/export.hpp"
#include "perfmamba/model/load.hpp"
#include "testing.hpp"
#include "testing_files.hpp"

namespace perfmamba {
namespace {
const std::string kDir = testing::fixtures_dir() + "/state_spaces";

double logits_error(const std::string& model_dir, const std::string& ref_dir) {
  auto backend = make_cpu_backend();
  LoadedModel lm = load_model(model_dir, *backend);
  SafetensorsFile ref(ref_dir + "/reference.safetensors");
  Tensor ids64 = entry_to_tensor(*ref.find("input_ids"));
  Tensor want = entry_to_f32(*ref.find("logits"));
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < ids64.numel(); ++i) ids.push_back(int32_t(static_cast<const int64_t*>(ids64.raw())[i]));
  const int B = int(ids64.dim(0)), L = int(ids64.dim(1));
  InferenceState st = lm.model->new_state(B);
  Tensor got = lm.model->prefill(ids.data(), B, L, st, true);
  EXPECT_EQ(got.numel(), want.numel());
  return testing::rel_error(got.f32(), want.f32(), size_t(std::min(got.numel(), want.numel())));
}

class StateSpaces : public ::testing::TestWithParam<std::string> {};

TEST_P(StateSpaces, SameLogitsAsTransformers) {
  const std::string dir = kDir + "/" + GetParam();
  const MambaConfig c = load_config(dir);
  EXPECT_EQ(c.layout, Layout::StateSpaces);
  EXPECT_EQ(c.vocab_size, 64);  // 61 padded to a multiple of 8
  EXPECT_LT(logits_error(dir, dir), 1e-4);
}

TEST_P(StateSpaces, ConvertedToHuggingFaceGivesTheSameLogits) {
  const std::string dir = kDir + "/" + GetParam();
  testing::TempDir out;
  auto backend = make_cpu_backend();
  LoadedModel lm = load_model(dir, *backend);
  export_hf(lm.model->config(), lm.model->mutable_weights(), out.path().string(), {});
  EXPECT_EQ(load_config(out.path().string()).layout, Layout::HuggingFace);
  EXPECT_LT(logits_error(out.path().string(), dir), 1e-4);
  // A second export into the same place is refused unless asked.
  testing::expect_error([&] { export_hf(lm.model->config(), lm.model->mutable_weights(), out.path().string(), {}); },
                        {"model.safetensors", "already exists"});
  ExportOptions force;
  force.overwrite = true;
  force.dtype = DType::BF16;
  export_hf(lm.model->config(), lm.model->mutable_weights(), out.path().string(), force);
  EXPECT_LT(logits_error(out.path().string(), dir), 2e-2);  // bf16 weights
}

INSTANTIATE_TEST_SUITE_P(Fixtures, StateSpaces, ::testing::Values("m1_f32", "m2_bf16"));

TEST(TorchCheckpoint, HostileFilesAreRefused) {
  const std::pair<std::string, std::string> cases[] = {
      {"os_system.bin", "global 'posix.system' is not allowed"},
      {"eval_global.bin", "global 'builtins.eval' is not allowed"},
      {"short_storage.bin", "fewer than its 4 elements"},
      {"negative_stride.bin", "negative size or stride"},
      {"negative_offset.bin", "negative storage offset"},
      {"out_of_storage.bin", "view reaches element 5"},
      {"compressed.bin", "compressed"},
      {"deep_nesting.bin", "nesting deeper"},
      {"truncated.bin", "zip"},
      {"not_a_zip.bin", "not a zip-format"},
  };
  for (const auto& [file, fragment] : cases) {
    SCOPED_TRACE(file);
    testing::expect_error([&] { TorchCheckpointFile f(kDir + "/hostile/" + file); }, {file, fragment});
  }
  EXPECT_FALSE(std::filesystem::exists("/tmp/perfmamba-pwned"));
  TorchCheckpointFile good(kDir + "/hostile/good.bin");
  EXPECT_EQ(good.tensors().at("w").shape, (Shape{2, 2}));
}

TEST(Pickle, RandomBytesNeverCrash) {
  PM_SEED_TRACE();
  testing::Rng rng(9);
  const std::string ops = "(}])NKMJX\x8c" "cqrhjtlaesuQRb.\x85\x86\x87\x88\x89\x94\x93\x80";
  for (int trial = 0; trial < 20000; ++trial) {
    std::string bytes;
    for (int i = rng.integer(1, 40); i > 0; --i)
      bytes += rng.integer(0, 3) ? ops[size_t(rng.integer(0, int(ops.size()) - 1))] : char(rng.integer(0, 255));
    try {
      unpickle(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "fuzz");
    } catch (const Error&) {
    }
  }
}

}  // namespace
}  // namespace perfmamba
