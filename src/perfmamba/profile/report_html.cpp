// The self-contained HTML report: inline SVG charts and tables, no scripts, no network.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "perfmamba/profile/report.hpp"

namespace perfmamba {
using nlohmann::json;

namespace {
const char* const kColors[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
                               "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#17becf", "#8c564b"};

std::string color(const std::string& component) {
  for (int i = 0; i < kComponents; ++i)
    if (component == component_name(static_cast<Component>(i))) return kColors[i];
  return "#777";
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  return o;
}

// Log-scale axis mapping [lo, hi] to [a, b] pixels.
struct LogAxis {
  double lo, hi, a, b;
  double operator()(double v) const {
    return a + (b - a) * (std::log10(std::max(v, lo)) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
  }
};

std::vector<json> phases(const json& j, const std::string& mode, int batch) {
  std::vector<json> out;
  for (const auto& p : j["phases"])
    if (p["mode"] == mode && p["batch"] == batch) out.push_back(p);
  return out;
}

std::string share_bars(const std::vector<json>& pre) {
  std::ostringstream s;
  const int w = 760, h = 300, left = 60, bw = std::max(10, (w - left - 150) / std::max<int>(1, int(pre.size())) - 8);
  s << "<svg width='" << w << "' height='" << h + 40 << "'>";
  std::map<std::string, bool> seen;
  for (size_t i = 0; i < pre.size(); ++i) {
    double y = 0;
    const int x = left + int(i) * (bw + 8);
    for (auto it = pre[i]["components"].begin(); it != pre[i]["components"].end(); ++it) {
      const double share = (*it)["share"].get<double>();
      const double hh = share * h;
      s << "<rect x='" << x << "' y='" << fmt("%.1f", h - y - hh) << "' width='" << bw << "' height='" << fmt("%.1f", hh)
        << "' fill='" << color(it.key()) << "'><title>" << it.key() << " " << fmt("%.1f%%", 100 * share) << "</title></rect>";
      y += hh;
      seen[it.key()] = true;
    }
    s << "<text x='" << x + bw / 2 << "' y='" << h + 15 << "' font-size='11' text-anchor='middle'>L=" << pre[i]["len"] << "</text>";
  }
  int ly = 10;
  for (const auto& [name, _] : seen) {
    s << "<rect x='" << w - 140 << "' y='" << ly << "' width='10' height='10' fill='" << color(name) << "'/><text x='"
      << w - 125 << "' y='" << ly + 9 << "' font-size='11'>" << name << "</text>";
    ly += 16;
  }
  s << "<text x='5' y='15' font-size='11'>share</text></svg>";
  return s.str();
}

std::string scaling_chart(const std::vector<json>& pre, const json& exps, int batch) {
  if (pre.size() < 2) return "<p>(one sequence length: no scaling curve)</p>";
  double tmin = 1e30, tmax = 0;
  for (const auto& p : pre)
    for (const auto& c : p["components"]) {
      tmin = std::min(tmin, std::max(c["median_s"].get<double>(), 1e-7));
      tmax = std::max(tmax, c["median_s"].get<double>());
    }
  const int w = 760, h = 320;
  LogAxis ax{pre.front()["len"].get<double>(), pre.back()["len"].get<double>() * 1.0001, 60, w - 190.0};
  LogAxis ay{tmin * 0.8, tmax * 1.25, h - 30.0, 10};
  std::ostringstream s;
  s << "<svg width='" << w << "' height='" << h << "'><line x1='60' y1='" << h - 30 << "' x2='" << w - 190 << "' y2='" << h - 30
    << "' stroke='#333'/><line x1='60' y1='10' x2='60' y2='" << h - 30 << "' stroke='#333'/>";
  int ly = 10;
  for (auto it = pre.front()["components"].begin(); it != pre.front()["components"].end(); ++it) {
    std::string pts;
    for (const auto& p : pre)
      if (p["components"].contains(it.key()))
        pts += fmt("%.1f,", ax(p["len"].get<double>())) + fmt("%.1f ", ay(p["components"][it.key()]["median_s"].get<double>()));
    s << "<polyline fill='none' stroke-width='2' stroke='" << color(it.key()) << "' points='" << pts << "'/>";
    const std::string key = std::to_string(batch) + "/" + it.key();
    s << "<text x='" << w - 180 << "' y='" << ly + 9 << "' font-size='11' fill='" << color(it.key()) << "'>" << it.key()
      << (exps.contains(key) ? fmt(" ~ L^%.2f", exps[key].get<double>()) : "") << "</text>";
    ly += 15;
  }
  for (const auto& p : pre)
    s << "<text x='" << fmt("%.1f", ax(p["len"].get<double>())) << "' y='" << h - 12 << "' font-size='10' text-anchor='middle'>"
      << p["len"] << "</text>";
  s << "<text x='5' y='" << fmt("%.0f", ay(tmax)) << "' font-size='10'>" << fmt("%.2g s", tmax) << "</text><text x='5' y='"
    << fmt("%.0f", ay(tmin)) << "' font-size='10'>" << fmt("%.2g s", tmin) << "</text></svg>";
  return s.str();
}

std::string roofline_chart(const json& j, const std::vector<json>& show) {
  const double bw = j["peaks"]["copy_bytes_per_s"], peak = j["peaks"]["gemm_flops_per_s"];
  const int w = 760, h = 340;
  LogAxis ax{0.01, 10000, 60, w - 190.0};
  LogAxis ay{peak * 1e-6, peak * 3, h - 30.0, 10};
  std::ostringstream s;
  s << "<svg width='" << w << "' height='" << h << "'>";
  std::string roof;
  for (double ai = 0.01; ai <= 10000; ai *= 1.25) roof += fmt("%.1f,", ax(ai)) + fmt("%.1f ", ay(std::min(peak, ai * bw)));
  s << "<polyline fill='none' stroke='#222' stroke-width='2' points='" << roof << "'/>";
  s << "<text x='" << fmt("%.0f", ax(peak / bw) + 6) << "' y='" << fmt("%.0f", ay(peak) + 14) << "' font-size='11'>" << fmt("%.0f GFLOP/s", peak / 1e9)
    << "</text><text x='70' y='" << h - 40 << "' font-size='11'>" << fmt("%.1f GB/s", bw / 1e9) << " copy</text>";
  int ly = 10;
  for (size_t k = 0; k < show.size(); ++k) {
    const json& p = show[k];
    const bool decode = p["mode"] == "decode";
    for (auto it = p["components"].begin(); it != p["components"].end(); ++it) {
      const json& c = *it;
      if (c["flops"].get<double>() <= 0) continue;
      const double x = ax(c["intensity"].get<double>()), y = ay(c["flops_per_s"].get<double>());
      s << (decode ? "<rect x='" + fmt("%.1f", x - 4) + "' y='" + fmt("%.1f", y - 4) + "' width='8' height='8'"
                   : "<circle cx='" + fmt("%.1f", x) + "' cy='" + fmt("%.1f", y) + "' r='5'")
        << " fill='" << color(it.key()) << "'><title>" << p["mode"].get<std::string>() << " " << it.key()
        << fmt(": %.2f FLOP/B, ", c["intensity"].get<double>()) << fmt("%.2f GFLOP/s", c["flops_per_s"].get<double>() / 1e9)
        << "</title></" << (decode ? "rect" : "circle") << ">";
    }
    s << "<text x='" << w - 180 << "' y='" << ly + 9 << "' font-size='11'>" << (decode ? "&#9632; decode, position " : "&#9679; prefill, L=")
      << (decode ? p["position"] : p["len"]) << "</text>";
    ly += 15;
  }
  s << "<text x='" << w / 2 << "' y='" << h - 5 << "' font-size='11'>arithmetic intensity (FLOP/byte, log)</text></svg>";
  return s.str();
}

std::string phase_table(const json& p) {
  std::ostringstream s;
  s << "<table><tr><th>component</th><th>median ms</th><th>spread ms</th><th>share</th><th>GFLOP</th><th>MB</th>"
       "<th>GFLOP/s</th><th>GB/s</th><th>FLOP/B</th><th>bound</th><th>% of roofline</th></tr>";
  for (auto it = p["components"].begin(); it != p["components"].end(); ++it) {
    const json& c = *it;
    s << "<tr><td><span class='sw' style='background:" << color(it.key()) << "'></span>" << it.key() << "</td><td>"
      << fmt("%.3f", 1e3 * c["median_s"].get<double>()) << "</td><td>"
      << fmt("%.3f", 1e3 * c["min_s"].get<double>()) << "–" << fmt("%.3f", 1e3 * c["max_s"].get<double>()) << "</td><td>"
      << fmt("%.1f%%", 100 * c["share"].get<double>()) << "</td><td>" << fmt("%.3f", c["flops"].get<double>() / 1e9)
      << "</td><td>" << fmt("%.2f", c["bytes"].get<double>() / 1e6) << "</td><td>"
      << fmt("%.2f", c["flops_per_s"].get<double>() / 1e9) << "</td><td>" << fmt("%.2f", c["bytes_per_s"].get<double>() / 1e9)
      << "</td><td>" << fmt("%.2f", c["intensity"].get<double>()) << "</td><td>" << c["bound"].get<std::string>()
      << "</td><td>" << fmt("%.1f%%", 100 * c["roofline_fraction"].get<double>()) << "</td></tr>";
  }
  s << "</table>";
  return s.str();
}
// CPU perf_event counters per component (largest prefill) and Nsight Compute imports, or the
// note saying why the machine gave none.
std::string counters_section(const json& j, const std::vector<json>& pre) {
  std::ostringstream s;
  if (!j.contains("hardware_counters")) return "<p>Not recorded (profile written before counters existed).</p>";
  const json& hw = j["hardware_counters"];
  s << "<p>CPU: " << esc(hw.value("cpu", std::string("?"))) << "</p>";
  if (!pre.empty()) {
    const json& p = pre.back();
    bool any = false;
    std::ostringstream t;
    t << "<table><tr><th>component (prefill L " << p["len"] << ")</th><th>cycles</th><th>instructions</th><th>IPC</th>"
      << "<th>LLC misses</th><th>LLC miss bytes / analytic bytes</th></tr>";
    for (auto it = p["components"].begin(); it != p["components"].end(); ++it) {
      if (!it->contains("counters")) continue;
      any = true;
      const json& k = (*it)["counters"];
      t << "<tr><td>" << it.key() << "</td><td>" << fmt("%.3g", k["cycles"].get<double>()) << "</td><td>"
        << fmt("%.3g", k["instructions"].get<double>()) << "</td><td>" << fmt("%.2f", k["ipc"].get<double>()) << "</td><td>"
        << fmt("%.3g", k["llc_misses"].get<double>()) << "</td><td>"
        << fmt("%.2f", k["llc_miss_bytes_per_analytic_byte"].get<double>()) << "</td></tr>";
    }
    if (any) s << t.str() << "</table>";
  }
  if (hw.contains("ncu")) {
    for (const auto& n : hw["ncu"]) {
      s << "<h3>Nsight Compute: " << n["mode"].get<std::string>() << " batch " << n["batch"] << " L " << n["len"]
        << "</h3><table><tr><th>component</th><th>kernels</th><th>kernel time ms</th><th>DRAM MB</th><th>DRAM GB/s</th>"
           "<th>analytic MB</th><th>DRAM / analytic</th><th>achieved occupancy</th></tr>";
      for (auto it = n["components"].begin(); it != n["components"].end(); ++it) {
        const json& c = *it;
        s << "<tr><td>" << it.key() << "</td><td>" << c["kernels"] << "</td><td>" << fmt("%.3f", 1e3 * c["duration_s"].get<double>())
          << "</td><td>" << fmt("%.2f", c["dram_bytes"].get<double>() / 1e6) << "</td><td>"
          << fmt("%.1f", c["dram_bytes_per_s"].get<double>() / 1e9) << "</td><td>" << fmt("%.2f", c["analytic_bytes"].get<double>() / 1e6)
          << "</td><td>" << fmt("%.2f", c["dram_over_analytic"].get<double>()) << "</td><td>"
          << fmt("%.1f%%", c["achieved_occupancy_pct"].get<double>()) << "</td></tr>";
      }
      s << "</table>";
    }
  }
  if (hw.contains("ncu_note")) s << "<p>ncu: " << esc(hw["ncu_note"].get<std::string>()) << "</p>";
  return s.str();
}
}  // namespace

std::string profile_to_html(const json& j) {
  std::ostringstream s;
  const json& m = j["model"];
  s << "<!DOCTYPE html><html><head><meta charset='utf-8'><title>perfmamba profile: " << esc(m["name"].get<std::string>())
    << "</title><style>body{font-family:sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse;font-size:12px}"
       "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td:first-child{text-align:left}"
       ".sw{display:inline-block;width:10px;height:10px;margin-right:4px}h2{margin-top:1.6em}</style></head><body>";
  s << "<h1>perfmamba profile: " << esc(m["name"].get<std::string>()) << "</h1><p>" << m["arch"].get<std::string>()
    << ", d_model " << m["d_model"] << ", " << m["n_layer"] << " layers, d_inner " << m["d_inner"] << ", d_state "
    << m["d_state"] << ", " << fmt("%.2fM", m["params"].get<double>() / 1e6) << " parameters, on <b>"
    << esc(j["device"].get<std::string>()) << "</b>. Measured peaks: copy "
    << fmt("%.1f GB/s", j["peaks"]["copy_bytes_per_s"].get<double>() / 1e9) << ", f32 GEMM "
    << fmt("%.1f GFLOP/s", j["peaks"]["gemm_flops_per_s"].get<double>() / 1e9) << " (ridge "
    << fmt("%.1f FLOP/byte", j["peaks"]["ridge_intensity"].get<double>()) << ").</p>";
  int batch = j["phases"].empty() ? 1 : j["phases"][0]["batch"].get<int>();
  const auto pre = phases(j, "prefill", batch), dec = phases(j, "decode", batch);
  s << "<h2 id='shares'>Component share of prefill time vs sequence length (batch " << batch << ")</h2>" << share_bars(pre);
  s << "<h2 id='scaling'>Scaling: prefill time per component vs L (log-log, fitted exponents)</h2>"
    << scaling_chart(pre, j["scaling_exponents"], batch);
  std::vector<json> roof;
  if (!pre.empty()) roof.push_back(pre.back());
  if (!dec.empty()) roof.push_back(dec.back());
  s << "<h2 id='roofline'>Roofline (measured peaks)</h2>" << roofline_chart(j, roof);
  s << "<h2 id='memory'>Memory</h2><table><tr><th>what</th><th>MiB</th></tr>";
  const json& mem = j["memory"];
  for (auto it = mem["weights_by_component"].begin(); it != mem["weights_by_component"].end(); ++it)
    s << "<tr><td>weights: " << it.key() << "</td><td>" << fmt("%.2f", it->get<double>() / (1 << 20)) << "</td></tr>";
  s << "<tr><td>conv state per sequence</td><td>" << fmt("%.3f", mem["conv_state_bytes_per_sequence"].get<double>() / (1 << 20))
    << "</td></tr><tr><td>SSM state per sequence</td><td>" << fmt("%.3f", mem["ssm_state_bytes_per_sequence"].get<double>() / (1 << 20))
    << "</td></tr>";
  for (const auto& p : j["phases"])
    s << "<tr><td>peak activations, " << p["mode"].get<std::string>() << " batch " << p["batch"] << " L " << p["len"]
      << " position " << p["position"] << "</td><td>" << fmt("%.2f", p["peak_activation_bytes"].get<double>() / (1 << 20)) << "</td></tr>";
  s << "</table><p>I/O: checkpoint " << fmt("%.1f MB", j["io"]["checkpoint_bytes"].get<double>() / 1e6) << " loaded in "
    << fmt("%.3f s", j["io"]["load_seconds"].get<double>()) << ".</p>";
  s << "<h2 id='prefill-decode'>Prefill vs decode</h2><table><tr><th>phase</th><th>ms</th><th>tokens/s</th>"
       "<th>instrumented sum ms</th><th>instrumentation overhead</th></tr>";
  for (const auto& p : j["phases"])
    s << "<tr><td>" << p["mode"].get<std::string>() << " batch " << p["batch"] << (p["mode"] == "prefill" ? " L " : " position ")
      << (p["mode"] == "prefill" ? p["len"] : p["position"]) << "</td><td>" << fmt("%.3f", 1e3 * p["uninstrumented_s"].get<double>())
      << "</td><td>" << fmt("%.1f", p["tokens_per_s"].get<double>()) << "</td><td>"
      << fmt("%.3f", 1e3 * p["instrumented_s"].get<double>()) << "</td><td>" << fmt("%+.1f%%", 100 * p["overhead"].get<double>())
      << "</td></tr>";
  s << "</table><h2 id='counters'>Hardware counters</h2>" << counters_section(j, pre);
  s << "<h2 id='tables'>Per-phase component tables</h2>";
  for (const auto& p : j["phases"])
    s << "<h3>" << p["mode"].get<std::string>() << ", batch " << p["batch"] << (p["mode"] == "prefill" ? ", L " : ", position ")
      << (p["mode"] == "prefill" ? p["len"] : p["position"]) << "</h3>" << phase_table(p);
  s << "<p style='color:#666;font-size:11px'>schema " << j["schema"].get<std::string>()
    << ". Residual adds are timed with the norms they are fused into; softplus, D skip and gating with the scan.</p></body></html>\n";
  return s.str();
}

}  // namespace perfmamba
