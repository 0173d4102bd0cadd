#pragma once
// Typed, range-checked access to JSON fields; every failure names the file and the field.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace perfmamba {

class JsonFields {
 public:
  JsonFields(const nlohmann::json& obj, std::string file, std::string prefix = "");
  bool has(const std::string& key) const;
  int64_t integer(const std::string& key, int64_t min, int64_t max) const;
  int64_t integer_or(const std::string& key, int64_t fallback, int64_t min, int64_t max) const;
  double number_or(const std::string& key, double fallback, double min, double max) const;
  bool boolean_or(const std::string& key, bool fallback) const;
  std::string string_or(const std::string& key, const std::string& fallback) const;
  const nlohmann::json& at(const std::string& key) const;
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;
  const std::string& file() const { return file_; }
  const nlohmann::json& json() const { return obj_; }

 private:
  const nlohmann::json& obj_;
  std::string file_, prefix_;
};

// A JSON number, or one of the marker strings parse_json_lenient() leaves for Infinity/NaN.
double json_number(const nlohmann::json& v, const std::string& file, const std::string& field);

// Parses JSON text as written by Python's json module, which emits the non-standard tokens
// Infinity, -Infinity and NaN (Hugging Face configs do: "time_step_limit": [0.0, Infinity]).
nlohmann::json parse_json_lenient(const std::string& text, const std::string& file);

}  // namespace perfmamba
