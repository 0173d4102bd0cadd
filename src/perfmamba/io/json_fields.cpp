#include "perfmamba/io/json_fields.hpp"

#include <cmath>
#include <limits>

#include "perfmamba/core/error.hpp"

namespace perfmamba {

JsonFields::JsonFields(const nlohmann::json& obj, std::string file, std::string prefix)
    : obj_(obj), file_(std::move(file)), prefix_(std::move(prefix)) {
  require(obj_.is_object(), file_, prefix_.empty() ? "(top level)" : prefix_, "is not an object");
}

bool JsonFields::has(const std::string& key) const {
  return obj_.contains(key) && !obj_[key].is_null();
}

void JsonFields::fail(const std::string& key, const std::string& message) const {
  throw Error(file_, prefix_ + key, message);
}

const nlohmann::json& JsonFields::at(const std::string& key) const {
  if (!has(key)) fail(key, "missing");
  return obj_[key];
}

int64_t JsonFields::integer(const std::string& key, int64_t min, int64_t max) const {
  const auto& v = at(key);
  if (!v.is_number_integer()) {
    // 4.0 is a fine integer; 4.5 and "4" are not.
    if (!(v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()))
      fail(key, "expected an integer, found " + v.dump());
  }
  const double d = v.get<double>();
  if (d < double(min) || d > double(max))
    fail(key, "value " + v.dump() + " is outside the supported range [" + std::to_string(min) +
                  ", " + std::to_string(max) + "]");
  return v.is_number_integer() ? v.get<int64_t>() : int64_t(d);
}

int64_t JsonFields::integer_or(const std::string& key, int64_t fallback, int64_t min,
                               int64_t max) const {
  return has(key) ? integer(key, min, max) : fallback;
}

double JsonFields::number_or(const std::string& key, double fallback, double min,
                             double max) const {
  if (!has(key)) return fallback;
  const double d = json_number(obj_[key], file_, prefix_ + key);
  if (std::isnan(d) || d < min || d > max)
    fail(key, "value " + obj_[key].dump() + " is outside the supported range");
  return d;
}

bool JsonFields::boolean_or(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = obj_[key];
  if (!v.is_boolean()) fail(key, "expected true or false, found " + v.dump());
  return v.get<bool>();
}

std::string JsonFields::string_or(const std::string& key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  const auto& v = obj_[key];
  if (!v.is_string()) fail(key, "expected a string, found " + v.dump());
  return v.get<std::string>();
}

double json_number(const nlohmann::json& v, const std::string& file, const std::string& field) {
  if (v.is_number()) return v.get<double>();
  // transformers >= 5.2x writes non-finite floats as {"__float__": "Infinity"}.
  if (v.is_object() && v.size() == 1 && v.contains("__float__"))
    return json_number(v["__float__"], file, field);
  if (v == "Infinity") return std::numeric_limits<double>::infinity();
  if (v == "-Infinity") return -std::numeric_limits<double>::infinity();
  if (v == "NaN") return std::numeric_limits<double>::quiet_NaN();
  throw Error(file, field, "expected a number, found " + v.dump());
}

nlohmann::json parse_json_lenient(const std::string& text, const std::string& file) {
  std::string fixed;
  fixed.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      fixed += c;
      if (c == '\\' && i + 1 < text.size()) fixed += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    // The parser has no infinities: they become marker strings that number_or() reads back.
    if (text.compare(i, 9, "-Infinity") == 0) {
      fixed += "\"-Infinity\"";
      i += 8;
    } else if (text.compare(i, 8, "Infinity") == 0) {
      fixed += "\"Infinity\"";
      i += 7;
    } else if (text.compare(i, 3, "NaN") == 0) {
      fixed += "\"NaN\"";
      i += 2;
    } else {
      fixed += c;
    }
  }
  nlohmann::json j = nlohmann::json::parse(fixed, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    // Run the strict parser once more for its position-bearing message.
    try {
      const auto unused = nlohmann::json::parse(fixed);
      (void)unused;
    } catch (const nlohmann::json::parse_error& e) {
      std::string what = e.what();
      const auto pos = what.find("parse error");
      throw Error(file, "", "invalid JSON: " + (pos == std::string::npos ? what : what.substr(pos)));
    }
    throw Error(file, "", "invalid JSON");
  }
  return j;
}

}  // namespace perfmamba
