// The profiler: analytic costs against hand counts, a profile of a tiny model (schema, sums,
// sections), and the schema validator's errors.
#include <gtest/gtest.h>

#include "perfmamba/profile/ncu_import.hpp"
#include "perfmamba/profile/report.hpp"
#include "testing.hpp"
#include "testing_files.hpp"

namespace perfmamba {
namespace {

TEST(OpCost, HandCounts) {
  // gemm 2x3x4 with bias: 2*m*n*k + m*n flops; reads a (2x4), w (3x4), bias (3), writes c (2x3)
  GemmParams g;
  g.m = 2, g.n = 3, g.k = 4, g.bias = reinterpret_cast<const float*>(16);
  EXPECT_EQ(g.cost().flops, 54);
  EXPECT_EQ(g.cost().bytes, 4 * (8 + 12 + 6 + 3));
  // conv1d, 5 tokens x 3 channels, width 4, SiLU, no state: (2*4 + 5) flops per output;
  // reads x and writes out (15 each), reads weight (3x4) and bias (3)
  Conv1dParams c;
  c.batch = 1, c.len = 5, c.channels = 3, c.width = 4, c.silu = true;
  EXPECT_EQ(c.cost().flops, 15 * 13);
  EXPECT_EQ(c.cost().bytes, 4 * (30 + 15));
  // selective scan, 2 tokens, 3 channels, 2 states: 7 flops per (t, e, n), 12 per (t, e);
  // x, dt, y per (t, e) (and z where gated: not here); B and C per (t, n); A; the state read and
  // written; dt_bias and D
  SelectiveScanParams s;
  s.batch = 1, s.len = 2, s.d_inner = 3, s.d_state = 2;
  EXPECT_EQ(s.cost().flops, 12 * 7 + 6 * 12);
  EXPECT_EQ(s.cost().bytes, 4 * (18 + 8 + 6 + 12 + 6));
  // rmsnorm with residual add, 2 x 5: 5 flops per element; h and delta read, h and out written, weight
  AddRmsNormParams n;
  n.rows = 2, n.cols = 5, n.delta = reinterpret_cast<const float*>(16);
  EXPECT_EQ(n.cost().flops, 50);
  EXPECT_EQ(n.cost().bytes, 4 * (40 + 5));
}

class TinyProfile : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    backend_ = make_cpu_backend().release();
    LoadedModel lm = load_model(testing::fixtures_dir() + "/golden/m2_groups", *backend_);
    ProfileOptions o;
    o.seqlens = {8, 16, 32};
    o.decode_positions = {0, 5};
    o.repeats = 2;
    json_ = new nlohmann::json(profile_to_json(run_profile(lm, *backend_, o)));
  }
  static Backend* backend_;
  static nlohmann::json* json_;
};
Backend* TinyProfile::backend_ = nullptr;
nlohmann::json* TinyProfile::json_ = nullptr;

TEST_F(TinyProfile, JsonIsValidAndCoversEveryComponent) {
  const nlohmann::json& j = *json_;
  EXPECT_NO_THROW(validate_profile_json(j, "profile.json"));
  ASSERT_EQ(j["phases"].size(), 5u);
  for (const char* c : {"embedding", "norm", "in_proj", "conv1d", "ssd", "gated_norm", "out_proj", "norm_f", "lm_head"})
    EXPECT_TRUE(j["phases"][0]["components"].contains(c)) << c;
  double share = 0;
  for (const auto& c : j["phases"][2]["components"]) share += c["share"].get<double>();
  EXPECT_NEAR(share, 1.0, 1e-9);
  // in_proj of L=32: 2 layers x (2 x 32 x in_proj_dim x d_model + the bias, 32 x in_proj_dim)
  const double proj = 60 + (60 + 2 * 3 * 9) + 6;
  const double want = 2.0 * (2 * 32 * proj * 30 + 32 * proj);
  EXPECT_EQ(j["phases"][2]["components"]["in_proj"]["flops"].get<double>(), want);
  EXPECT_EQ(j["phases"][2]["components"]["in_proj"]["calls"], 2);
  EXPECT_TRUE(j["scaling_exponents"].contains("1/ssd"));
  EXPECT_GT(j["peaks"]["copy_bytes_per_s"].get<double>(), 1e8);
}

TEST_F(TinyProfile, HtmlAndCsvHaveEverySection) {
  const std::string html = profile_to_html(*json_);
  for (const char* id : {"id='shares'", "id='scaling'", "id='roofline'", "id='memory'", "id='prefill-decode'", "id='counters'",
                         "id='tables'", "<svg"})
    EXPECT_NE(html.find(id), std::string::npos) << id;
  EXPECT_EQ(html.find("http"), std::string::npos);  // self-contained: nothing fetched
  const std::string csv = profile_to_csv(*json_);
  EXPECT_EQ(csv.rfind("mode,batch,len,position,component", 0), 0u);
  EXPECT_GT(std::count(csv.begin(), csv.end(), '\n'), 30);
  EXPECT_NE(profile_summary(*json_).find("in_proj"), std::string::npos);
}

TEST_F(TinyProfile, CompareMatchesPhasesAndReportsSpeedups) {
  nlohmann::json b = *json_;
  for (auto& p : b["phases"]) p["uninstrumented_s"] = p["uninstrumented_s"].get<double>() / 2;
  const std::string text = profile_compare_text(*json_, b);
  EXPECT_NE(text.find("prefill batch 1 L 32"), std::string::npos);
  EXPECT_NE(text.find("2.00x as fast"), std::string::npos) << text;
  const std::string html = profile_compare_html(*json_, b);
  EXPECT_NE(html.find("id='phases'"), std::string::npos);
  EXPECT_NE(html.find("id='components'"), std::string::npos);
}

TEST_F(TinyProfile, ValidatorNamesTheBadField) {
  nlohmann::json j = *json_;
  j["schema"] = "other/9";
  testing::expect_error([&] { validate_profile_json(j, "p.json"); }, {"p.json", "schema"});
  j = *json_;
  j["phases"][1]["components"]["ssd"]["bound"] = "fast";
  testing::expect_error([&] { validate_profile_json(j, "p.json"); }, {"phases[1].components.ssd.bound"});
  j = *json_;
  j["phases"][0].erase("tokens_per_s");
  testing::expect_error([&] { validate_profile_json(j, "p.json"); }, {"phases[0].tokens_per_s"});
}

// CPU counters either count (then they are plausible) or the profile says why not.
TEST_F(TinyProfile, CpuCountersOrANote) {
  const nlohmann::json& hw = (*json_)["hardware_counters"];
  const std::string cpu = hw["cpu"].get<std::string>();
  const nlohmann::json& scan = (*json_)["phases"][2]["components"]["ssd"];
  if (cpu.rfind("not available: ", 0) == 0) {
    EXPECT_GT(cpu.size(), 20u) << cpu;  // carries the reason
    EXPECT_FALSE(scan.contains("counters"));
  } else {
    ASSERT_TRUE(scan.contains("counters")) << cpu;
    EXPECT_GT(scan["counters"]["instructions"].get<double>(), 1e3);
    EXPECT_GT(scan["counters"]["ipc"].get<double>(), 0.01);
  }
}

// A CSV as `ncu --csv --page raw --print-units base --nvtx` writes it: a header, a units row,
// kernels whose NVTX path ends in a component range, one kernel outside any, quoted numbers with
// thousands separators.
TEST(NcuImport, ParsesAndAttributesKernels) {
  const std::string csv =
      "==PROF== Connected to process 123\n"
      "\"ID\",\"Kernel Name\",\"thread_domain:push_pop_ranges\",\"dram__bytes_read.sum\",\"dram__bytes_write.sum\","
      "\"gpu__time_duration.sum\",\"sm__warps_active.avg.pct_of_peak_sustained_active\"\n"
      "\"\",\"\",\"\",\"Kbyte\",\"byte\",\"usecond\",\"%\"\n"
      "\"0\",\"sgemm_128x64\",\"<default domain>:pm_measure:pm:in_proj\",\"1,000\",\"500\",\"10\",\"50\"\n"
      "\"1\",\"sgemm_128x64\",\"<default domain>:pm_measure:pm:in_proj\",\"2,000\",\"500\",\"30\",\"90\"\n"
      "\"2\",\"pm:scan\",\"\",\"4\",\"0\",\"5\",\"25\"\n"
      "\"3\",\"memset\",\"<default domain>:pm_measure\",\"1\",\"1\",\"1\",\"1\"\n";
  int dropped = 0;
  const NcuImport imp = parse_ncu_csv(csv, "ncu.csv", &dropped);
  const NcuComponent& in = imp.components[size_t(Component::InProj)];
  EXPECT_EQ(in.kernels, 2);
  EXPECT_DOUBLE_EQ(in.dram_bytes, 3e6 + 1000);
  EXPECT_NEAR(in.duration_s, 40e-6, 1e-12);
  EXPECT_NEAR(in.occupancy_pct, (50 * 10 + 90 * 30) / 40.0, 1e-9);  // time-weighted
  EXPECT_EQ(imp.components[size_t(Component::Scan)].kernels, 1);   // renamed kernel (--print-nvtx-rename)
  EXPECT_EQ(dropped, 1);
  testing::expect_error([] { parse_ncu_csv("no csv here\n", "ncu.csv"); }, {"ncu.csv", "ncu CSV header"});
}

}  // namespace
}  // namespace perfmamba
