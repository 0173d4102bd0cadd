// The perfmamba binary end to end: output formats, exit codes and one-line errors.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <set>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "perfmamba/io/safetensors.hpp"
#include "testing.hpp"
#include "testing_files.hpp"

namespace perfmamba {
namespace {

struct Result {
  int code;
  std::string out, err;
};

Result run(const std::string& args) {
  testing::TempDir tmp;
  const std::string cmd = std::string(PERFMAMBA_BIN) + " " + args + " 2>" + tmp.file("err");
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  std::ifstream ef(tmp.file("err"));
  std::string err((std::istreambuf_iterator<char>(ef)), std::istreambuf_iterator<char>());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out, err};
}

const std::string kM1 = testing::fixtures_dir() + "/golden/m1_basic";

TEST(Cli, InspectPresetAsTextAndJson) {
  Result r = run("inspect --model mamba-130m");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("129.14M"), std::string::npos) << r.out;
  r = run("inspect --model mamba2-130m --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["arch"], "mamba2");
  EXPECT_EQ(j["n_heads"], 24);
  EXPECT_EQ(j["state_bytes_per_token"], 0);
}

TEST(Cli, InspectModelDirectory) {
  Result r = run("inspect --model " + kM1 + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["d_inner"], 72);
  EXPECT_EQ(j["checkpoint"]["tensors"], 22);  // embedding + 2 x 10 per layer + norm_f
}

TEST(Cli, RunGreedyStartsAtTheReferenceArgmax) {
  // Prompt = the fixture's first row up to prompt_len; first generated id = argmax of the
  // transformers logits at the prompt's last position.
  SafetensorsFile ref(kM1 + "/reference.safetensors");
  Tensor ids = entry_to_tensor(*ref.find("input_ids"));
  Tensor logits = entry_to_f32(*ref.find("logits"));
  const int64_t P = static_cast<const int64_t*>(entry_to_tensor(*ref.find("prompt_len")).raw())[0];
  const int64_t V = logits.dim(2);
  std::string prompt;
  for (int64_t t = 0; t < P; ++t)
    prompt.append(t ? "," : "").append(std::to_string(static_cast<const int64_t*>(ids.raw())[t]));
  const float* row = logits.f32() + (P - 1) * V;
  const int want = int(std::max_element(row, row + V) - row);

  Result r = run("run --model " + kM1 + " --ids " + prompt + " -n 4 --ignore-eos --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["generated_ids"].size(), 4u);
  EXPECT_EQ(j["generated_ids"][0], want);
  r = run("run --model " + kM1 + " --ids " + prompt + " -n 4 --ignore-eos");
  ASSERT_EQ(r.code, 0) << r.err;
  std::string text;
  for (const auto& v : j["generated_ids"]) text.append(text.empty() ? "" : " ").append(std::to_string(v.get<int>()));
  EXPECT_EQ(r.out, text + "\n");
  EXPECT_NE(r.err.find("tokens/s"), std::string::npos);
}

TEST(Cli, BadInputsExitNonZeroWithOneLine) {
  const std::pair<std::string, std::string> cases[] = {
      {"run --model /no/such/dir --ids 1", "/no/such/dir"},
      {"run --model " + kM1 + " --ids 1,x", "--ids"},
      {"run --model " + kM1 + " --ids 5000", "outside the vocabulary"},
      {"inspect --model " + testing::fixtures_dir(), "config.json"},
      {"inspect", "--model"},
      {"frobnicate", "subcommand"},
  };
  for (const auto& [args, fragment] : cases) {
    SCOPED_TRACE(args);
    Result r = run(args);
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
    if (args.find("--model") != std::string::npos) {
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
  }
}

const std::string kM2Text = testing::models_dir() + "/mamba2-victorian";

TEST(Cli, TextGenerationAndItsBadInputs) {
  testing::TempDir tmp;
  // Greedy text is deterministic; stdin works as the prompt file.
  Result a = run("run -m " + kM2Text + " -p 'It was a dark night' -n 12 --json");
  ASSERT_EQ(a.code, 0) << a.err;
  const auto ja = nlohmann::json::parse(a.out);
  testing::write_bytes(tmp.file("prompt.txt"), "It was a dark night");
  Result b = run("run -m " + kM2Text + " --prompt-file - -n 12 --json < " + tmp.file("prompt.txt"));
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(nlohmann::json::parse(b.out)["text"], ja["text"]);
  EXPECT_FALSE(ja["text"].get<std::string>().empty());
  // An empty prompt starts from end-of-text (documented), so it generates.
  Result e = run("run -m " + kM2Text + " -p '' -n 5 --json");
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_EQ(nlohmann::json::parse(e.out)["prompt_ids"], nlohmann::json::array({0}));

  testing::write_bytes(tmp.file("bad.txt"), "caf\xc3 ok");
  testing::write_bytes(tmp.file("tokenizer.json"), R"({"model": {"type": "Unigram", "vocab": []}, "pre_tokenizer": null})");
  const std::pair<std::string, std::string> bad[] = {
      {"run -m mamba-130m -p hello", "tokenizer.json"},
      {"run -m " + kM2Text + " --tokenizer " + tmp.file("tokenizer.json") + " -p hi", "model.type"},
      {"run -m " + kM2Text + " --prompt-file " + tmp.file("bad.txt"), "invalid UTF-8 at byte offset 3"},
      {"run -m " + kM2Text + " -p 'a long prompt of many words' --ctx 2", "longer than --ctx 2"},
      {"eval -m " + kM2Text + " --ppl " + tmp.file("bad.txt"), "bad.txt"},
      {"eval -m " + kM2Text + " --ppl " + tmp.file("missing.txt"), "missing.txt"},
  };
  for (const auto& [args, fragment] : bad) {
    SCOPED_TRACE(args);
    Result r = run(args);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

TEST(Cli, BenchKernelsAtAModelsShapes) {
  for (const auto& [dir, scan] : {std::pair{kM1, "selective_scan"}, {testing::fixtures_dir() + "/golden/m2_basic", "ssd"}}) {
    Result r = run("bench --kernels --model " + dir + " --seqlen 1,9 --batch 2 --repeats 1 --threads 1 --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    // at each length: conv1d, the projections, the lm head (decode-sized inputs) and the scan
    const std::set<std::string> ops = std::string(scan) == "ssd"
                                          ? std::set<std::string>{"conv1d", "in_proj", "out_proj", "lm_head", "ssd"}
                                          : std::set<std::string>{"conv1d", "in_proj", "x_proj", "dt_proj", "out_proj",
                                                                  "lm_head", "selective_scan"};
    ASSERT_EQ(j["kernels"].size(), 2 * ops.size());
    for (const auto& k : j["kernels"]) {
      EXPECT_TRUE(ops.count(k["op"].get<std::string>())) << k;
      EXPECT_EQ(k["batch"], 2);
      EXPECT_GT(k["seconds"].get<double>(), 0.0);
      EXPECT_GT(k["min_bytes"].get<double>(), 0.0);
    }
  }
  Result bad = run("bench --kernels --model /nonexistent/model");
  EXPECT_NE(bad.code, 0);
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
}

TEST(Cli, ConvertRefusesToOverwrite) {
  testing::TempDir tmp;
  const std::string ss = testing::fixtures_dir() + "/state_spaces/m1_f32";
  Result r = run("convert -m " + ss + " -o " + tmp.file("out"));
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("convert -m " + ss + " -o " + tmp.file("out"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
  r = run("convert -m " + ss + " -o " + tmp.file("out") + " --force --dtype bf16");
  EXPECT_EQ(r.code, 0) << r.err;
  r = run("inspect -m " + tmp.file("out") + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["checkpoint"]["dtypes"]["BF16"], 22);
}

TEST(Cli, ProfileOfTheEmbeddedModelWritesTheReport) {
  testing::TempDir tmp;
  Result r = run("profile -m " + testing::models_dir() + "/mamba1-victorian --seqlen 32,64,128 --decode-positions 0,64 "
                 "--repeats 2 --out " + tmp.file("report"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("scan"), std::string::npos);
  std::ifstream f(tmp.file("report/report.html"));
  const std::string html((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  for (const char* id : {"id='shares'", "id='scaling'", "id='roofline'", "id='memory'", "id='prefill-decode'", "id='tables'"})
    EXPECT_NE(html.find(id), std::string::npos) << id;
  EXPECT_TRUE(std::filesystem::exists(tmp.file("report/profile.json")));
  EXPECT_TRUE(std::filesystem::exists(tmp.file("report/profile.csv")));
  r = run("profile -m " + testing::models_dir() + "/mamba1-victorian --seqlen 32 --repeats 1 --out " + tmp.file("report"));
  EXPECT_EQ(r.code, 1);  // existing reports are not replaced without --force
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace perfmamba

namespace perfmamba {
namespace {
TEST(Cli, PruneBadInputs) {
  testing::TempDir tmp;
  testing::write_bytes(tmp.file("short.txt"), "Too short.");
  const std::string m2 = testing::models_dir() + "/mamba2-victorian";
  const std::pair<std::string, std::string> bad[] = {
      {"prune -m " + m2 + " --ratio 1 --method magnitude -o " + tmp.file("o1"), "--ratio"},
      {"prune -m " + m2 + " --ratio 0.999 --method magnitude -o " + tmp.file("o2"), "keeps no state"},
      {"prune -m " + m2 + " --ratio 0.5 --calib " + tmp.file("short.txt") + " -o " + tmp.file("o3"), "short.txt"},
      {"prune -m " + testing::fixtures_dir() + "/golden/m1_basic --ratio 0.5 --calib " + tmp.file("short.txt") + " -o " + tmp.file("o4"), "tokenizer.json"},
      {"prune -m " + m2 + " --method fisher -o " + tmp.file("o5"), "--method"},
      {"prune -m " + m2 + " --method delta-channel --axis state -o " + tmp.file("o6"), "--axis"},
      {"prune -m " + m2 + " --method magnitude --bridge lsq -o " + tmp.file("o7"), "--calib"},
      {"prune -m " + m2 + " --method magnitude --bridge average -o " + tmp.file("o8"), "--bridge"},
      {"prune -m " + m2 + " --method magnitude --max-ppl-increase lots -o " + tmp.file("o9"), "--max-ppl-increase"},
      {"prune -m " + m2 + " --method magnitude --axis channel --ratio 0.999 -o " + tmp.file("o10"), "keeps no head"},
      {"prune -m " + m2 + " --method magnitude --layer-ratios 0.5,0.5 -o " + tmp.file("o11"), "8 ratios"},
  };
  for (const auto& [args, fragment] : bad) {
    SCOPED_TRACE(args);
    Result r = run(args);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
  }
  Result ok = run("prune -m " + m2 + " --ratio 0.5 --method magnitude -o " + tmp.file("ok") + " --json");
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(nlohmann::json::parse(ok.out)["d_state_per_layer"][0], 32);
}

// Channel pruning with a bridge, and budget mode, end to end on the embedded Mamba-2 (small
// calibration so that it stays quick).
TEST(Cli, PruneChannelsWithBridgeAndBudget) {
  const std::string text = testing::shared_data_dir() + "/corpus/gutenberg-victorian/valid.txt";
  if (!std::filesystem::exists(text)) GTEST_SKIP() << "no corpus";
  testing::TempDir tmp;
  const std::string m2 = testing::models_dir() + "/mamba2-victorian";
  Result r = run("prune -m " + m2 + " --method delta-channel --ratio 0.25 --bridge lsq --calib " + text +
                 " --calib-tokens 512 --calib-window 256 -o " + tmp.file("ch") + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["axis"], "channel");
  EXPECT_EQ(j["channels_per_layer"][0], 9);  // 12 heads -> 9
  for (size_t i = 0; i < j["bridge_error_after"].size(); ++i)
    EXPECT_LT(j["bridge_error_after"][i].get<double>(), j["bridge_error_before"][i].get<double>());
  ASSERT_EQ(run("eval -m " + tmp.file("ch") + " --ppl " + text + " --max-tokens 300 --ctx 257 --stride 256").code, 0);
  r = run("prune -m " + m2 + " --method delta-state --max-ppl-increase 5% --calib " + text +
          " --calib-tokens 512 --budget-tokens 256 --calib-window 256 -o " + tmp.file("budget") + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_LE(j["budget"]["predicted_ppl_increase"].get<double>(), 0.05);
  EXPECT_EQ(j["budget"]["ratios"].size(), 8u);
  EXPECT_GE(j["budget"]["predicted_speedup"].get<double>(), 1.0);
}
}  // namespace
}  // namespace perfmamba

namespace perfmamba {
namespace {
TEST(Cli, ZeroShotTasksAsJson) {
  const std::string data = testing::shared_data_dir() + "/zeroshot";
  if (!std::filesystem::exists(data)) GTEST_SKIP() << "no task data";
  Result r = run("eval -m " + testing::models_dir() + "/mamba2-victorian --task piqa,winogrande --limit 5 --json --per-item --data-dir " + data);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_EQ(j["results"][0]["task"], "piqa");
  EXPECT_EQ(j["results"][0]["items"], 5);
  EXPECT_TRUE(j["results"][0].contains("acc_norm"));
  EXPECT_FALSE(j["results"][1].contains("acc_norm"));
  EXPECT_EQ(j["results"][1]["per_item"].size(), 5u);
  r = run("eval -m " + testing::models_dir() + "/mamba2-victorian --task boolq --data-dir " + data);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("unknown task 'boolq'"), std::string::npos) << r.err;
}
}  // namespace
}  // namespace perfmamba

namespace perfmamba {
namespace {
TEST(Cli, CompareBaseAndPruned) {
  testing::TempDir tmp;
  const std::string m2 = testing::models_dir() + "/mamba2-victorian";
  ASSERT_EQ(run("prune -m " + m2 + " --method magnitude --ratio 0.5 -o " + tmp.file("p")).code, 0);
  testing::write_bytes(tmp.file("text.txt"), std::string(3000, 'a') + " The end of the story was near, and she knew it.");
  Result r = run("compare --base " + m2 + " --pruned " + tmp.file("p") + " --ppl " + tmp.file("text.txt") +
                 " --seqlen 64 --json --out " + tmp.file("cmp"));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  EXPECT_EQ(j["pruned"]["ssm_state_bytes_per_sequence"].get<double>() * 2, j["base"]["ssm_state_bytes_per_sequence"].get<double>());
  EXPECT_TRUE(j["base"].contains("ppl"));
  EXPECT_TRUE(std::filesystem::exists(tmp.file("cmp/compare.html")));
}
}  // namespace
}  // namespace perfmamba
