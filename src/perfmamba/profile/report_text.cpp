// The CSV and terminal renderings of a profile JSON document.
#include <cstdio>
#include <sstream>

#include "perfmamba/profile/report.hpp"

namespace perfmamba {
using nlohmann::json;

std::string profile_to_csv(const json& j) {
  std::ostringstream out;
  out << "mode,batch,len,position,component,median_s,min_s,max_s,calls,flops,bytes,flops_per_s,bytes_per_s,"
         "intensity,bound,roofline_fraction,share\n";
  for (const auto& p : j["phases"])
    for (auto it = p["components"].begin(); it != p["components"].end(); ++it) {
      const json& c = *it;
      out << p["mode"].get<std::string>() << ',' << p["batch"] << ',' << p["len"] << ',' << p["position"] << ','
          << it.key() << ',' << c["median_s"] << ',' << c["min_s"] << ',' << c["max_s"] << ',' << c["calls"] << ','
          << c["flops"] << ',' << c["bytes"] << ',' << c["flops_per_s"] << ',' << c["bytes_per_s"] << ','
          << c["intensity"] << ',' << c["bound"].get<std::string>() << ',' << c["roofline_fraction"] << ','
          << c["share"] << '\n';
    }
  return out.str();
}

std::string profile_summary(const json& j) {
  std::ostringstream out;
  char line[256];
  std::snprintf(line, sizeof line, "%s on %s | peaks: copy %.1f GB/s, f32 GEMM %.1f GFLOP/s\n",
                j["model"]["name"].get<std::string>().c_str(), j["device"].get<std::string>().c_str(),
                j["peaks"]["copy_bytes_per_s"].get<double>() / 1e9, j["peaks"]["gemm_flops_per_s"].get<double>() / 1e9);
  out << line;
  for (const auto& p : j["phases"]) {
    std::snprintf(line, sizeof line, "\n%s batch %d %s %d: %.3f ms (%.0f tokens/s), instrumented sum %.3f ms (%+.1f%%), peak activations %.1f MiB\n",
                  p["mode"].get<std::string>().c_str(), p["batch"].get<int>(),
                  p["mode"] == "prefill" ? "L" : "position", p["mode"] == "prefill" ? p["len"].get<int>() : p["position"].get<int>(),
                  1e3 * p["uninstrumented_s"].get<double>(), p["tokens_per_s"].get<double>(),
                  1e3 * p["instrumented_s"].get<double>(), 100 * p["overhead"].get<double>(),
                  p["peak_activation_bytes"].get<double>() / (1 << 20));
    out << line;
    out << "  component      time ms   share   GFLOP/s    GB/s  FLOP/B  bound    % roof\n";
    for (auto it = p["components"].begin(); it != p["components"].end(); ++it) {
      const json& c = *it;
      std::snprintf(line, sizeof line, "  %-12s %9.3f %6.1f%% %9.2f %7.2f %7.2f  %-7s %6.1f%%\n", it.key().c_str(),
                    1e3 * c["median_s"].get<double>(), 100 * c["share"].get<double>(),
                    c["flops_per_s"].get<double>() / 1e9, c["bytes_per_s"].get<double>() / 1e9,
                    c["intensity"].get<double>(), c["bound"].get<std::string>().c_str(),
                    100 * c["roofline_fraction"].get<double>());
      out << line;
    }
  }
  if (j.contains("hardware_counters")) {
    const json& hw = j["hardware_counters"];
    out << "\nhardware counters: CPU " << hw.value("cpu", std::string("?")) << "\n";
    if (hw.contains("ncu"))
      for (const auto& n : hw["ncu"]) {
        std::snprintf(line, sizeof line, "ncu %s batch %d L %d: component  kernels  time ms  DRAM MB  GB/s  DRAM/analytic  occupancy\n",
                      n["mode"].get<std::string>().c_str(), n["batch"].get<int>(), n["len"].get<int>());
        out << line;
        for (auto it = n["components"].begin(); it != n["components"].end(); ++it) {
          const json& c = *it;
          std::snprintf(line, sizeof line, "  %-12s %5d %9.3f %9.2f %7.1f %8.2f %8.1f%%\n", it.key().c_str(),
                        c["kernels"].get<int>(), 1e3 * c["duration_s"].get<double>(), c["dram_bytes"].get<double>() / 1e6,
                        c["dram_bytes_per_s"].get<double>() / 1e9, c["dram_over_analytic"].get<double>(),
                        c["achieved_occupancy_pct"].get<double>());
          out << line;
        }
      }
    if (hw.contains("ncu_note")) out << "ncu: " << hw["ncu_note"].get<std::string>() << "\n";
  }
  return out.str();
}

}  // namespace perfmamba
