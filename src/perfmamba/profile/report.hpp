#pragma once
// Profile reports. The JSON document (schema "perfmamba.profile/1", docs/profile-schema.md) is the
// single source: the CSV, the HTML report and the terminal summary are all rendered from it.
#include <nlohmann/json.hpp>
#include <string>

#include "perfmamba/profile/profiler.hpp"

namespace perfmamba {

inline constexpr const char* kProfileSchema = "perfmamba.profile/1";

nlohmann::json profile_to_json(const ProfileReport& r);
// Throws Error naming the file and the first missing or mistyped field.
void validate_profile_json(const nlohmann::json& j, const std::string& file);
std::string profile_to_csv(const nlohmann::json& j);
std::string profile_to_html(const nlohmann::json& j);
std::string profile_summary(const nlohmann::json& j);
// Two validated profiles side by side, phases matched by mode, batch, length and position.
std::string profile_compare_text(const nlohmann::json& a, const nlohmann::json& b);
std::string profile_compare_html(const nlohmann::json& a, const nlohmann::json& b);

}  // namespace perfmamba
