#include "perfmamba/cli/common.hpp"

#include <omp.h>

#include <cstdio>
#include <filesystem>

#include "perfmamba/core/error.hpp"
#include "perfmamba/model/presets.hpp"

namespace perfmamba::cli {

void add_model_options(CLI::App& app, CommonOptions& o) {
  std::string presets;
  for (const auto& p : preset_names()) presets += (presets.empty() ? "" : ", ") + p;
  app.add_option("--model,-m", o.model,
                 "Hugging Face model directory, or a preset with random weights: " + presets)
      ->required();
  app.add_option("--seed", o.seed, "Seed of a preset's random weights");
  app.add_option("--threads,-t", o.threads, "CPU threads (default: all cores)")
      ->check(CLI::Range(0, 4096));
  app.add_flag("--json", o.json, "Print machine-readable JSON instead of text");
}

void add_device_option(CLI::App& app, CommonOptions& o) {
  app.add_option("--device,-d", o.device, "Backend: cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--precision", o.precision, "GEMM precision: f32, or bf16 (cuda: bf16 weights and inputs, f32 accumulate)")
      ->check(CLI::IsMember({"f32", "bf16"}));
}

void apply_threads(const CommonOptions& o) {
  if (o.threads > 0) omp_set_num_threads(o.threads);
}

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ',' || text[i] == ' ')) ++i;
    if (i >= text.size()) break;
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(text.substr(i), &used);
    } catch (const std::exception&) {
      used = 0;
    }
    require(used > 0 && v >= 0 && v <= INT32_MAX, "", "--ids",
            "expected comma-separated non-negative token ids, found '" + text.substr(i, 16) + "'");
    ids.push_back(int32_t(v));
    i += used;
  }
  require(!ids.empty(), "", "--ids", "no token ids given");
  return ids;
}

std::string tokenizer_path(const std::string& model, const std::string& explicit_path, bool required) {
  if (!explicit_path.empty()) return explicit_path;
  const std::string candidate = model + "/tokenizer.json";
  if (std::filesystem::exists(candidate)) return candidate;
  require(!required, model, "tokenizer.json",
          "not found; give --tokenizer PATH (presets have none) or token ids with --ids");
  return "";
}

void print_json(const nlohmann::json& j) { std::printf("%s\n", j.dump(2).c_str()); }

namespace {
// value scaled by `base` until below it, with two decimals once scaled: "1.50 MiB", "129.14M"
std::string human(double v, double base, const char* const (&units)[5], const char* sep) {
  int u = 0;
  while (v >= base && u < 4) {
    v /= base;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.2f%s%s" : "%.0f%s%s", v, sep, units[u]);
  return buf;
}
}  // namespace

std::string human_bytes(double b) {
  static const char* const units[5] = {"B", "KiB", "MiB", "GiB", "TiB"};
  return human(b, 1024.0, units, " ");
}

std::string human_count(double n) {
  static const char* const units[5] = {"", "K", "M", "B", "T"};
  return human(n, 1000.0, units, "");
}

}  // namespace perfmamba::cli
