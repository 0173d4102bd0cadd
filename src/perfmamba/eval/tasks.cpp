#include "perfmamba/eval/tasks.hpp"

#include <bzlib.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "perfmamba/core/error.hpp"
#include "perfmamba/io/mapped_file.hpp"

namespace perfmamba {
using nlohmann::json;

namespace {
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

std::string where(const std::string& file, size_t line) { return file + ":" + std::to_string(line + 1); }

json parse_line(const std::string& file, size_t i, const std::string& line) {
  json j = json::parse(line, nullptr, false);
  require(!j.is_discarded() && j.is_object(), where(file, i), "", "not a JSON object");
  return j;
}

std::string field(const json& j, const std::string& file, size_t i, const char* key) {
  require(j.contains(key) && j[key].is_string() && !j[key].get<std::string>().empty(), where(file, i), key,
          "missing, empty or not a string");
  return j[key].get<std::string>();
}

std::string read_bz2(const std::string& path) {
  const std::string packed = read_text_file(path);
  std::string out(packed.size() * 5, '\0');
  for (int tries = 0; tries < 6; ++tries) {
    unsigned int len = unsigned(out.size());
    const int rc = BZ2_bzBuffToBuffDecompress(out.data(), &len, const_cast<char*>(packed.data()),
                                              unsigned(packed.size()), 0, 0);
    if (rc == BZ_OK) {
      out.resize(len);
      return out;
    }
    require(rc == BZ_OUTBUFF_FULL, path, "", "not a valid bzip2 file (error " + std::to_string(rc) + ")");
    out.resize(out.size() * 2);
  }
  throw Error(path, "", "decompressed size too large");
}

// lm-eval's lambada_openai: the target is the last word, with its leading space.
Task lambada(const std::string& dir) {
  const std::string file = dir + "/lambada_openai/lambada_test.jsonl";
  Task t{"lambada_openai", {}, false, true};
  const auto lines = lines_of(read_text_file(file));
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    const std::string text = field(parse_line(file, i, lines[i]), file, i, "text");
    const size_t sp = text.rfind(' ');
    require(sp != std::string::npos && sp > 0 && sp + 1 < text.size(), where(file, i), "text", "has no last word");
    t.items.push_back({{{text.substr(0, sp), text.substr(sp)}}, 0});
  }
  return t;
}

// "Question: {goal}\nAnswer:" + " {solution}"
Task piqa(const std::string& dir) {
  const std::string file = dir + "/piqa/valid.jsonl", labels_file = dir + "/piqa/valid-labels.lst";
  Task t{"piqa", {}, true, false};
  const auto lines = lines_of(read_text_file(file)), labels = lines_of(read_text_file(labels_file));
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    const json j = parse_line(file, i, lines[i]);
    require(i < labels.size() && (labels[i] == "0" || labels[i] == "1"), where(labels_file, i), "",
            "expected a label 0 or 1 for every line of " + file);
    const std::string ctx = "Question: " + field(j, file, i, "goal") + "\nAnswer:";
    t.items.push_back({{{ctx, " " + field(j, file, i, "sol1")}, {ctx, " " + field(j, file, i, "sol2")}}, labels[i][0] - '0'});
  }
  return t;
}

// "Question: {stem}\nAnswer:" + " {choice}"; answer keys A-E or 1-5
Task arc_easy(const std::string& dir) {
  const std::string file = dir + "/arc_easy/ARC-Easy-Test.jsonl";
  Task t{"arc_easy", {}, true, false};
  const auto lines = lines_of(read_text_file(file));
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    const json j = parse_line(file, i, lines[i]);
    require(j.contains("question") && j["question"].is_object(), where(file, i), "question", "missing");
    const json& q = j["question"];
    const std::string ctx = "Question: " + field(q, file, i, "stem") + "\nAnswer:";
    require(q.contains("choices") && q["choices"].is_array() && q["choices"].size() >= 2, where(file, i),
            "question.choices", "needs at least two choices");
    const std::string key = field(j, file, i, "answerKey");
    TaskItem item;
    item.label = -1;
    for (size_t c = 0; c < q["choices"].size(); ++c) {
      const json& ch = q["choices"][c];
      item.choices.push_back({ctx, " " + field(ch, file, i, "text")});
      if (ch.contains("label") && ch["label"] == key) item.label = int(c);
    }
    require(item.label >= 0, where(file, i), "answerKey", "'" + key + "' names no choice");
    t.items.push_back(std::move(item));
  }
  return t;
}

// The given 6-line layout: context, gold label, 4 endings (already preprocessed); " {ending}".
Task hellaswag(const std::string& dir) {
  const std::string file = dir + "/hellaswag/hellaswag_val_full.txt.bz2";
  Task t{"hellaswag", {}, true, false};
  const auto lines = lines_of(read_bz2(file));
  require(lines.size() % 6 == 0, file, "", std::to_string(lines.size()) + " lines is not a multiple of 6");
  for (size_t i = 0; i < lines.size(); i += 6) {
    require(!lines[i].empty(), where(file, i), "context", "empty");
    require(lines[i + 1].size() == 1 && lines[i + 1][0] >= '0' && lines[i + 1][0] <= '3', where(file, i + 1), "label",
            "expected 0-3, found '" + lines[i + 1] + "'");
    TaskItem item;
    item.label = lines[i + 1][0] - '0';
    for (size_t k = 0; k < 4; ++k) {
      require(!lines[i + 2 + k].empty(), where(file, i + 2 + k), "ending", "empty");
      item.choices.push_back({lines[i], " " + lines[i + 2 + k]});
    }
    t.items.push_back(std::move(item));
  }
  return t;
}

// Partial scoring: context = sentence up to the blank with the option filled in, continuation =
// the rest of the sentence after the blank (" " + stripped); the contexts differ per option.
Task winogrande(const std::string& dir) {
  const std::string file = dir + "/winogrande/dev.json";
  Task t{"winogrande", {}, false, false};
  const json all = json::parse(read_text_file(file), nullptr, false);
  require(!all.is_discarded() && all.is_array(), file, "", "expected a JSON array of items");
  for (size_t i = 0; i < all.size(); ++i) {
    const json& j = all[i];
    const std::string at = "item " + std::to_string(i);
    require(j.is_object(), file, at, "not an object");
    const std::string sentence = field(j, file, i, "sentence");
    const size_t blank = sentence.find('_');
    require(blank != std::string::npos, file, at + ".sentence", "has no blank '_'");
    std::string rest = sentence.substr(blank + 1);
    rest.erase(0, rest.find_first_not_of(' '));
    rest.erase(rest.find_last_not_of(' ') + 1);
    const std::string ans = field(j, file, i, "correct_option");
    require(ans == "1" || ans == "2", file, at + ".correct_option", "expected \"1\" or \"2\"");
    TaskItem item;
    item.label = ans[0] - '1';
    for (const char* opt : {"option1", "option2"})
      item.choices.push_back({sentence.substr(0, blank) + field(j, file, i, opt), " " + rest});
    t.items.push_back(std::move(item));
  }
  return t;
}
}  // namespace

std::vector<std::string> task_names() { return {"lambada_openai", "piqa", "arc_easy", "hellaswag", "winogrande"}; }

Task load_task(const std::string& name, const std::string& dir) {
  if (name == "lambada_openai" || name == "lambada") return lambada(dir);
  if (name == "piqa") return piqa(dir);
  if (name == "arc_easy") return arc_easy(dir);
  if (name == "hellaswag") return hellaswag(dir);
  if (name == "winogrande") return winogrande(dir);
  throw Error("", "--task", "unknown task '" + name + "' (lambada_openai, piqa, arc_easy, hellaswag, winogrande, all)");
}

}  // namespace perfmamba
