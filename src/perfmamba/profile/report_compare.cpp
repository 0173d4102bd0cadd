// Two profiles side by side (before/after pruning, Mamba-1 vs Mamba-2, CPU vs GPU): phases are
// matched by (mode, batch, len, position); times, speed-ups and memory per phase and component.
#include <cstdio>
#include <sstream>

#include "perfmamba/profile/report.hpp"

namespace perfmamba {
using nlohmann::json;

namespace {
std::string key(const json& p) {
  return p["mode"].get<std::string>() + " batch " + std::to_string(p["batch"].get<int>()) +
         (p["mode"] == "prefill" ? " L " + std::to_string(p["len"].get<int>())
                                 : " position " + std::to_string(p["position"].get<int>()));
}

template <class Row>
void for_matching(const json& a, const json& b, Row&& row) {
  for (const auto& pa : a["phases"])
    for (const auto& pb : b["phases"])
      if (key(pa) == key(pb)) row(pa, pb);
}

std::string f(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}
}  // namespace

std::string profile_compare_text(const json& a, const json& b) {
  std::ostringstream out;
  out << "A: " << a["model"]["name"].get<std::string>() << " on " << a["device"].get<std::string>() << "\nB: "
      << b["model"]["name"].get<std::string>() << " on " << b["device"].get<std::string>() << "\n";
  for_matching(a, b, [&](const json& pa, const json& pb) {
    const double ta = pa["uninstrumented_s"], tb = pb["uninstrumented_s"];
    out << "\n" << key(pa) << ": " << f("%.3f", 1e3 * ta) << " ms -> " << f("%.3f", 1e3 * tb) << " ms (B is "
        << f("%.2fx", ta / tb) << " as fast), peak activations " << f("%.1f", pa["peak_activation_bytes"].get<double>() / (1 << 20))
        << " -> " << f("%.1f MiB", pb["peak_activation_bytes"].get<double>() / (1 << 20)) << "\n";
    for (auto it = pa["components"].begin(); it != pa["components"].end(); ++it) {
      if (!pb["components"].contains(it.key())) continue;
      const double ca = (*it)["median_s"], cb = pb["components"][it.key()]["median_s"];
      char line[160];
      std::snprintf(line, sizeof line, "  %-12s %10.3f ms %10.3f ms  %6.2fx\n", it.key().c_str(), 1e3 * ca, 1e3 * cb,
                    cb > 0 ? ca / cb : 0.0);
      out << line;
    }
  });
  return out.str();
}

std::string profile_compare_html(const json& a, const json& b) {
  std::ostringstream s;
  s << "<!DOCTYPE html><html><head><meta charset='utf-8'><title>perfmamba profile comparison</title><style>"
       "body{font-family:sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse;font-size:12px}"
       "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td:first-child{text-align:left}</style></head><body>"
       "<h1>Profile comparison</h1><p>A: <b>" << a["model"]["name"].get<std::string>() << "</b> on " << a["device"].get<std::string>()
    << "<br>B: <b>" << b["model"]["name"].get<std::string>() << "</b> on " << b["device"].get<std::string>() << "</p>"
    << "<h2 id='phases'>Phases</h2><table><tr><th>phase</th><th>A ms</th><th>B ms</th><th>speed-up (A/B)</th>"
       "<th>A peak MiB</th><th>B peak MiB</th></tr>";
  for_matching(a, b, [&](const json& pa, const json& pb) {
    const double ta = pa["uninstrumented_s"], tb = pb["uninstrumented_s"];
    s << "<tr><td>" << key(pa) << "</td><td>" << f("%.3f", 1e3 * ta) << "</td><td>" << f("%.3f", 1e3 * tb) << "</td><td>"
      << f("%.2fx", ta / tb) << "</td><td>" << f("%.1f", pa["peak_activation_bytes"].get<double>() / (1 << 20)) << "</td><td>"
      << f("%.1f", pb["peak_activation_bytes"].get<double>() / (1 << 20)) << "</td></tr>";
  });
  s << "</table><h2 id='components'>Components</h2>";
  for_matching(a, b, [&](const json& pa, const json& pb) {
    s << "<h3>" << key(pa) << "</h3><table><tr><th>component</th><th>A ms</th><th>B ms</th><th>A/B</th><th>A share</th><th>B share</th></tr>";
    for (auto it = pa["components"].begin(); it != pa["components"].end(); ++it) {
      if (!pb["components"].contains(it.key())) continue;
      const json& cb = pb["components"][it.key()];
      s << "<tr><td>" << it.key() << "</td><td>" << f("%.3f", 1e3 * (*it)["median_s"].get<double>()) << "</td><td>"
        << f("%.3f", 1e3 * cb["median_s"].get<double>()) << "</td><td>"
        << f("%.2fx", (*it)["median_s"].get<double>() / std::max(cb["median_s"].get<double>(), 1e-12)) << "</td><td>"
        << f("%.1f%%", 100 * (*it)["share"].get<double>()) << "</td><td>" << f("%.1f%%", 100 * cb["share"].get<double>()) << "</td></tr>";
    }
    s << "</table>";
  });
  s << "</body></html>\n";
  return s.str();
}

}  // namespace perfmamba
