#include <gtest/gtest.h>

#include <cmath>

#include "perfmamba/io/config.hpp"
#include "perfmamba/io/json_fields.hpp"
#include "testing_files.hpp"

namespace perfmamba {
namespace {
using nlohmann::json;
using testing::expect_error;

json mamba1() {
  return {{"architectures", {"MambaForCausalLM"}}, {"hidden_size", 36}, {"num_hidden_layers", 2},
          {"vocab_size", 101}, {"state_size", 16}, {"expand", 2}, {"conv_kernel", 4},
          {"time_step_rank", "auto"}};
}
json mamba2() {
  return {{"model_type", "mamba2"}, {"hidden_size", 32}, {"num_hidden_layers", 2}, {"vocab_size", 50},
          {"state_size", 16}, {"num_heads", 8}, {"head_dim", 8}, {"n_groups", 2}, {"chunk_size", 64},
          {"expand", 2}};
}

TEST(Config, ParsesMamba1WithDefaults) {
  const MambaConfig c = parse_hf_config(mamba1(), "config.json");
  EXPECT_EQ(c.arch, Arch::Mamba1);
  EXPECT_EQ(c.d_inner(), 72);
  EXPECT_EQ(c.dt_rank, 3);  // ceil(36 / 16)
  EXPECT_TRUE(c.use_conv_bias);
  EXPECT_FALSE(c.use_bias);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_EQ(c.in_proj_dim(c.layers[0]), 144);
}

TEST(Config, ParsesMamba2AndItsInfinityFormats) {
  for (const std::string inf : {R"({"__float__": "Infinity"})", "Infinity"}) {
    json j = mamba2();
    std::string text = j.dump();
    text.insert(text.size() - 1, R"(, "time_step_limit": [0.0, )" + inf + "]");
    const MambaConfig c = parse_hf_config(parse_json_lenient(text, "config.json"), "config.json");
    EXPECT_EQ(c.arch, Arch::Mamba2);
    EXPECT_TRUE(std::isinf(c.dt_limit_max));
    EXPECT_FALSE(c.dt_clamped());
    EXPECT_EQ(c.conv_dim(c.layers[0]), 64 + 2 * 2 * 16);
    EXPECT_EQ(c.in_proj_dim(c.layers[0]), 64 + 128 + 8);
  }
}

TEST(Config, WriteThenParseRoundTripsIncludingPerLayerSizes) {
  MambaConfig c = parse_hf_config(mamba2(), "config.json");
  c.layers[1].d_state = 5;
  c.layers[1].n_heads = 6;
  c.layers[1].d_inner = 48;
  const MambaConfig back = parse_hf_config(to_hf_config(c), "out.json");
  EXPECT_EQ(back.layers, c.layers);
  EXPECT_FALSE(back.uniform_layers());
}

struct Bad {
  const char* what;
  json config;
  std::vector<std::string> fragments;
};

TEST(Config, BadConfigsNameTheField) {
  auto with = [](json j, const std::string& k, json v) {
    if (v.is_null()) j.erase(k);
    else j[k] = v;
    return j;
  };
  const Bad cases[] = {
      {"missing", with(mamba1(), "hidden_size", nullptr), {"hidden_size", "missing"}},
      {"wrong type", with(mamba1(), "hidden_size", "big"), {"hidden_size", "integer"}},
      {"fraction", with(mamba1(), "num_hidden_layers", 2.5), {"num_hidden_layers", "integer"}},
      {"absurd", with(mamba1(), "hidden_size", 1LL << 40), {"hidden_size", "outside"}},
      {"zero", with(mamba1(), "state_size", 0), {"state_size", "outside"}},
      {"negative", with(mamba1(), "vocab_size", -3), {"vocab_size", "outside"}},
      {"unknown arch", with(mamba1(), "architectures", json{"LlamaForCausalLM"}), {"architectures", "unsupported"}},
      {"no arch", with(with(mamba1(), "architectures", nullptr), "model_type", nullptr), {"architectures"}},
      {"activation", with(mamba1(), "hidden_act", "gelu"), {"hidden_act"}},
      {"bool", with(mamba1(), "use_bias", "yes"), {"use_bias", "true or false"}},
      {"dt rank", with(mamba1(), "time_step_rank", "big"), {"time_step_rank"}},
      {"heads x dim", with(mamba2(), "head_dim", 7), {"num_heads", "expand"}},
      {"groups", with(mamba2(), "n_groups", 3), {"n_groups", "divide"}},
      {"limit", with(mamba2(), "time_step_limit", json{0.5, 0.1}), {"time_step_limit"}},
      {"eps", with(mamba1(), "layer_norm_epsilon", -1.0), {"layer_norm_epsilon"}},
      {"huge model", with(with(mamba1(), "hidden_size", 100000), "num_hidden_layers", 4000), {"absurd"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    try {
      parse_hf_config(c.config, "dir/config.json");
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind("dir/config.json: ", 0), 0u) << what;
      for (const auto& f : c.fragments) EXPECT_NE(what.find(f), std::string::npos) << what;
    }
  }
}

TEST(Config, InvalidJsonTextIsOneLineWithPosition) {
  expect_error([] { parse_json_lenient("{\"a\": 1,,}", "config.json"); }, {"config.json", "invalid JSON"});
  expect_error([] { read_config("/nonexistent/config.json"); }, {"/nonexistent/config.json", "cannot open"});
}

}  // namespace
}  // namespace perfmamba
