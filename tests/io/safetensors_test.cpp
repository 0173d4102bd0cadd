#include <gtest/gtest.h>

#include <cmath>

#include "perfmamba/io/safetensors.hpp"
#include "testing.hpp"
#include "testing_files.hpp"

namespace perfmamba {
namespace {
using testing::expect_error;
using testing::safetensors_bytes;
using testing::TempDir;
using testing::write_bytes;

TEST(Safetensors, WriteThenReadRoundTripsAllFloatTypes) {
  TempDir dir;
  testing::Rng rng(11);
  Tensor a = Tensor::empty({3, 5}), b = Tensor::empty({7});
  auto va = rng.normals(15), vb = rng.normals(7);
  std::copy(va.begin(), va.end(), a.f32());
  std::copy(vb.begin(), vb.end(), b.f32());
  write_safetensors(dir.file("x.safetensors"),
                    {{"b", DType::BF16, &b}, {"a", DType::F32, &a}, {"c", DType::F16, &b}},
                    {{"format", "pt"}}, false);
  SafetensorsFile f(dir.file("x.safetensors"));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.find("a")->shape, (Shape{3, 5}));
  Tensor ra = entry_to_f32(*f.find("a"));
  EXPECT_EQ(testing::rel_error(ra.f32(), a.f32(), 15), 0.0);
  EXPECT_LT(testing::rel_error(entry_to_f32(*f.find("b")).f32(), b.f32(), 7), 4e-3);
  EXPECT_LT(testing::rel_error(entry_to_f32(*f.find("c")).f32(), b.f32(), 7), 1e-3);
}

TEST(Safetensors, RefusesToOverwriteUnlessAsked) {
  TempDir dir;
  Tensor a = Tensor::zeros({2});
  write_safetensors(dir.file("x.safetensors"), {{"a", DType::F32, &a}}, {}, false);
  expect_error([&] { write_safetensors(dir.file("x.safetensors"), {{"a", DType::F32, &a}}, {}, false); },
               {"x.safetensors", "already exists"});
  write_safetensors(dir.file("x.safetensors"), {{"a", DType::F32, &a}}, {}, true);
}

struct BadCase {
  const char* name;
  std::string bytes;
  std::vector<std::string> fragments;
};

TEST(Safetensors, BadFilesGiveOneLineErrorsNamingFileAndField) {
  const std::string ok_header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string data8(8, '\0');
  const BadCase cases[] = {
      {"empty", "", {"too short"}},
      {"short", "abc", {"too short"}},
      {"header_past_end", safetensors_bytes(ok_header, data8).substr(0, 30), {"header", "runs past"}},
      {"huge_header", std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}", {"exceeds"}},
      {"bad_json", safetensors_bytes("{\"w\": [1,", data8), {"header", "not valid JSON"}},
      {"not_object", safetensors_bytes("[1, 2]", data8), {"not a JSON object"}},
      {"unknown_dtype", safetensors_bytes(R"({"w":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}})", data8),
       {"tensor 'w'", "unknown dtype"}},
      {"negative_dim", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data8),
       {"tensor 'w'", "shape"}},
      {"absurd_shape",
       safetensors_bytes(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})", data8),
       {"tensor 'w'", "larger than the file"}},
      {"truncated_data", safetensors_bytes(ok_header, data8.substr(0, 5)), {"tensor 'w'", "truncated"}},
      {"size_mismatch", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data8),
       {"tensor 'w'", "needs 12"}},
      {"reversed_offsets", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", data8),
       {"begin after"}},
      {"missing_offsets", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2]}})", data8), {"data_offsets"}},
      {"overlap",
       safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                         data8),
       {"overlaps"}},
  };
  TempDir dir;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir.file(std::string(c.name) + ".safetensors");
    write_bytes(path, c.bytes);
    std::initializer_list<std::string> none{};
    (void)none;
    try {
      SafetensorsFile f(path);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path), std::string::npos) << what;
      for (const auto& frag : c.fragments) EXPECT_NE(what.find(frag), std::string::npos) << what;
    }
  }
}

TEST(Safetensors, NonFiniteWeightsAreRejectedOnConversion) {
  TempDir dir;
  Tensor a = Tensor::zeros({4});
  a.f32()[2] = NAN;
  write_safetensors(dir.file("nan.safetensors"), {{"w", DType::F32, &a}}, {}, false);
  SafetensorsFile f(dir.file("nan.safetensors"));
  expect_error([&] { entry_to_f32(*f.find("w")); }, {"nan.safetensors", "tensor 'w'", "non-finite", "index 2"});
}

TEST(Safetensors, MissingFileNamesThePath) {
  expect_error([] { SafetensorsFile f("/nonexistent/model.safetensors"); },
               {"/nonexistent/model.safetensors", "cannot open"});
}

}  // namespace
}  // namespace perfmamba
