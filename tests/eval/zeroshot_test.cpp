// Zero-shot tasks: the harness formatting and per-choice log-likelihoods equal transformers'
// (fixtures from tools/fixtures/make_zeroshot_refs.py, 1e-3 absolute), and malformed task files
// are refused naming the file and line.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "perfmamba/eval/zeroshot.hpp"
#include "perfmamba/io/mapped_file.hpp"
#include "perfmamba/model/load.hpp"
#include "testing.hpp"
#include "testing_files.hpp"

namespace perfmamba {
namespace {
std::string zeroshot_dir() { return testing::shared_data_dir() + "/zeroshot"; }

class ZeroShotReference : public ::testing::TestWithParam<std::string> {};

TEST_P(ZeroShotReference, LogLikelihoodsMatchTransformers) {
  if (!std::filesystem::exists(zeroshot_dir())) GTEST_SKIP() << "no task data";
  const std::string name = GetParam();
  const auto ref = nlohmann::json::parse(read_text_file(testing::fixtures_dir() + "/zeroshot/" + name + ".json"));
  const std::string dir = name == "tiny-m2" ? testing::fixtures_dir() + "/zeroshot/tiny-m2" : testing::models_dir() + "/" + name;
  const Tokenizer tok = Tokenizer::from_file(testing::models_dir() + "/mamba2-victorian/tokenizer.json");
  auto be = make_cpu_backend();
  LoadedModel lm = load_model(dir, *be);
  double worst = 0;
  for (auto it = ref.begin(); it != ref.end(); ++it) {
    const Task task = load_task(it.key(), zeroshot_dir());
    for (size_t i = 0; i < it->size(); ++i) {
      SCOPED_TRACE(it.key() + " item " + std::to_string(i));
      const auto& want = (*it)[i];
      const TaskItem& item = task.items[i];
      ASSERT_EQ(item.label, want["label"].get<int>());
      ASSERT_EQ(item.choices.size(), want["choices"].size());
      const auto scores = score_item(*lm.model, tok, item);
      for (size_t c = 0; c < item.choices.size(); ++c) {
        const auto& w = want["choices"][c];
        EXPECT_EQ(item.choices[c].context, w["context"].get<std::string>());
        EXPECT_EQ(item.choices[c].continuation, w["continuation"].get<std::string>());
        EXPECT_EQ(scores[c].tokens, w["tokens"].get<int>());
        EXPECT_NEAR(scores[c].loglik, w["loglik"].get<double>(), 1e-3);
        EXPECT_EQ(scores[c].greedy, w["greedy"].get<bool>());
        worst = std::max(worst, std::fabs(scores[c].loglik - w["loglik"].get<double>()));
      }
    }
  }
  std::printf("[ measured ] %s: worst |loglik - transformers| %.2e\n", name.c_str(), worst);
}

INSTANTIATE_TEST_SUITE_P(Models, ZeroShotReference, ::testing::Values("mamba1-victorian", "mamba2-victorian", "tiny-m2"),
                         [](const auto& param_info) {
                           std::string s = param_info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

TEST(ZeroShotTasks, EveryTaskLoadsWithItsFullSize) {
  if (!std::filesystem::exists(zeroshot_dir())) GTEST_SKIP() << "no task data";
  const std::pair<const char*, size_t> sizes[] = {{"lambada_openai", 5153}, {"piqa", 1838}, {"arc_easy", 2376},
                                                  {"hellaswag", 10042}, {"winogrande", 1267}};
  for (const auto& [name, n] : sizes) EXPECT_EQ(load_task(name, zeroshot_dir()).items.size(), n) << name;
}

TEST(ZeroShotTasks, MalformedFilesNameFileAndLine) {
  testing::TempDir d;
  for (const char* sub : {"piqa", "arc_easy", "winogrande", "lambada_openai", "hellaswag"})
    std::filesystem::create_directories(d.path() / sub);
  const auto put = [&](const std::string& rel, const std::string& text) { testing::write_bytes(d.file(rel), text); };
  put("piqa/valid.jsonl", "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\"}\n{\"goal\": \"g\", \"sol1\": \"a\"}\n");
  put("piqa/valid-labels.lst", "0\n1\n");
  testing::expect_error([&] { load_task("piqa", d.path().string()); }, {"piqa/valid.jsonl:2", "sol2"});
  put("piqa/valid.jsonl", "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\"}\n");
  put("piqa/valid-labels.lst", "7\n");
  testing::expect_error([&] { load_task("piqa", d.path().string()); }, {"valid-labels.lst:1", "label"});
  put("arc_easy/ARC-Easy-Test.jsonl", "{\"question\": {\"stem\": \"q\", \"choices\": []}, \"answerKey\": \"A\"}\n");
  testing::expect_error([&] { load_task("arc_easy", d.path().string()); }, {"ARC-Easy-Test.jsonl:1", "choices"});
  put("arc_easy/ARC-Easy-Test.jsonl",
      "{\"question\": {\"stem\": \"q\", \"choices\": [{\"text\": \"a\", \"label\": \"A\"}, {\"text\": \"b\", \"label\": \"B\"}]}, \"answerKey\": \"E\"}\n");
  testing::expect_error([&] { load_task("arc_easy", d.path().string()); }, {"ARC-Easy-Test.jsonl:1", "answerKey"});
  put("winogrande/dev.json", "[{\"sentence\": \"no blank here\", \"option1\": \"a\", \"option2\": \"b\", \"correct_option\": \"1\"}]");
  testing::expect_error([&] { load_task("winogrande", d.path().string()); }, {"dev.json", "item 0.sentence", "blank"});
  put("lambada_openai/lambada_test.jsonl", "{\"text\": \"oneword\"}\n");
  testing::expect_error([&] { load_task("lambada_openai", d.path().string()); }, {"lambada_test.jsonl:1", "last word"});
  put("lambada_openai/lambada_test.jsonl", "not json\n");
  testing::expect_error([&] { load_task("lambada_openai", d.path().string()); }, {"lambada_test.jsonl:1", "JSON"});
  put("hellaswag/hellaswag_val_full.txt.bz2", "not bzip2");
  testing::expect_error([&] { load_task("hellaswag", d.path().string()); }, {"hellaswag_val_full.txt.bz2", "bzip2"});
  testing::expect_error([&] { load_task("boolq", d.path().string()); }, {"--task", "unknown task"});
}

}  // namespace
}  // namespace perfmamba
