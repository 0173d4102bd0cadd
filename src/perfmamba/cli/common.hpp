#pragma once
// Options every subcommand shares, and small helpers for output.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace perfmamba::cli {

struct CommonOptions {
  std::string model;
  uint64_t seed = 0;
  int threads = 0;  // 0: OpenMP's default
  bool json = false;
  std::string device = "cpu";
  std::string precision = "f32";  // GEMM precision on cuda
};

void add_model_options(CLI::App& app, CommonOptions& o);
void add_device_option(CLI::App& app, CommonOptions& o);
void apply_threads(const CommonOptions& o);
std::vector<int32_t> parse_ids(const std::string& text);  // "1,2, 3" -> {1,2,3}
void print_json(const nlohmann::json& j);
// The tokenizer to use for a model: --tokenizer if given, else <model dir>/tokenizer.json.
// Empty when none exists and !required; an Error naming the path when required.
std::string tokenizer_path(const std::string& model, const std::string& explicit_path, bool required);
std::string human_bytes(double bytes);
std::string human_count(double n);

void register_inspect(CLI::App& app);
void register_run(CLI::App& app);
void register_eval(CLI::App& app);
void register_convert(CLI::App& app);
void register_profile(CLI::App& app);
void register_prune(CLI::App& app);
void register_compare(CLI::App& app);
void register_bench(CLI::App& app);

}  // namespace perfmamba::cli
