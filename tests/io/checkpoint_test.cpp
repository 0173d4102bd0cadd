// Loading a model directory: every failure is one line naming the file and the tensor/field.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "perfmamba/io/checkpoint.hpp"
#include "perfmamba/model/load.hpp"
#include "testing.hpp"
#include "testing_files.hpp"

namespace perfmamba {
namespace {
namespace fs = std::filesystem;
using testing::expect_error;
using testing::TempDir;

// A copy of a golden fixture whose tensors can be edited before writing.
class EditableModel {
 public:
  explicit EditableModel(const std::string& fixture = "m1_basic") {
    const std::string src = testing::fixtures_dir() + "/golden/" + fixture;
    fs::copy_file(src + "/config.json", dir_.file("config.json"));
    SafetensorsFile f(src + "/model.safetensors");
    for (const auto& [name, e] : f.tensors()) tensors_[name] = entry_to_f32(e);
  }
  std::map<std::string, Tensor>& tensors() { return tensors_; }
  std::string write() {
    std::vector<TensorToWrite> out;
    for (auto& [name, t] : tensors_) out.push_back({name, DType::F32, &t});
    write_safetensors(dir_.file("model.safetensors"), out, {}, true);
    return dir_.path().string();
  }
  std::string file(const std::string& name) const { return dir_.file(name); }

 private:
  TempDir dir_;
  std::map<std::string, Tensor> tensors_;
};

LoadedModel load(const std::string& dir) {
  static auto backend = make_cpu_backend();
  return load_model(dir, *backend);
}

TEST(Checkpoint, LoadsAnEditedCopyUnchanged) {
  EditableModel m;
  EXPECT_NO_THROW(load(m.write()));
}

TEST(Checkpoint, MissingTensor) {
  EditableModel m;
  m.tensors().erase("backbone.layers.1.mixer.A_log");
  expect_error([&] { load(m.write()); }, {"tensor 'backbone.layers.1.mixer.A_log'", "missing"});
}

TEST(Checkpoint, WrongShape) {
  EditableModel m;
  m.tensors()["backbone.layers.0.mixer.D"] = Tensor::zeros({5});
  expect_error([&] { load(m.write()); },
               {"model.safetensors", "backbone.layers.0.mixer.D", "[5]", "[72]"});
}

TEST(Checkpoint, NanWeight) {
  EditableModel m;
  m.tensors()["backbone.norm_f.weight"].f32()[3] = NAN;
  expect_error([&] { load(m.write()); }, {"model.safetensors", "backbone.norm_f.weight", "non-finite"});
}

TEST(Checkpoint, UnknownTensorsWarnButLoad) {
  EditableModel m;
  m.tensors()["backbone.layers.0.mixer.surprise"] = Tensor::zeros({2});
  ::testing::internal::CaptureStderr();
  EXPECT_NO_THROW(load(m.write()));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("not used by the model: backbone.layers.0.mixer.surprise"), std::string::npos) << err;
}

TEST(Checkpoint, TruncatedWeightsFile) {
  EditableModel m;
  const std::string dir = m.write();
  fs::resize_file(m.file("model.safetensors"), fs::file_size(m.file("model.safetensors")) - 100);
  expect_error([&] { load(dir); }, {"model.safetensors", "truncated"});
}

TEST(Checkpoint, MissingFiles) {
  TempDir empty;
  expect_error([&] { load(empty.path().string()); }, {"config.json", "missing"});
  EditableModel m;
  const std::string dir = m.write();
  fs::remove(m.file("model.safetensors"));
  expect_error([&] { load(dir); }, {dir, "no model.safetensors"});
  expect_error([&] { load("/no/such/model"); }, {"/no/such/model", "not a model directory"});
}

TEST(Checkpoint, BadShardIndex) {
  EditableModel m;
  const std::string dir = m.write();
  fs::rename(m.file("model.safetensors"), m.file("shard-1.safetensors"));
  testing::write_bytes(m.file("model.safetensors.index.json"),
                       R"({"weight_map": {"backbone.norm_f.weight": "shard-1.safetensors", "backbone.embeddings.weight": "shard-2.safetensors"}})");
  expect_error([&] { Checkpoint c(dir); }, {"shard-2.safetensors", "cannot open"});
  testing::write_bytes(m.file("model.safetensors.index.json"),
                       R"({"weight_map": {"backbone.nothing": "shard-1.safetensors"}})");
  expect_error([&] { Checkpoint c(dir); }, {"shard-1.safetensors", "backbone.nothing", "listed in"});
  testing::write_bytes(m.file("model.safetensors.index.json"),
                       R"({"weight_map": {"backbone.norm_f.weight": "../etc/passwd"}})");
  expect_error([&] { Checkpoint c(dir); }, {"model.safetensors.index.json", "plain file name"});
  testing::write_bytes(m.file("model.safetensors.index.json"), R"({"weight_map": 3})");
  expect_error([&] { Checkpoint c(dir); }, {"model.safetensors.index.json", "weight_map"});
}

TEST(Checkpoint, ShardedFixtureIndexesEveryTensor) {
  Checkpoint c(testing::fixtures_dir() + "/golden/m2_f16_sharded");
  EXPECT_EQ(c.files().size(), 3u);
  EXPECT_NE(c.find("backbone.layers.1.mixer.dt_bias"), nullptr);
}

TEST(Checkpoint, BadConfigInsideAModelDirectory) {
  EditableModel m;
  const std::string dir = m.write();
  testing::write_bytes(m.file("config.json"), "{\"hidden_size\": ");
  expect_error([&] { load(dir); }, {"config.json", "invalid JSON"});
}

}  // namespace
}  // namespace perfmamba
