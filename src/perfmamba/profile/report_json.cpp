#include <cmath>

#include "perfmamba/core/error.hpp"
#include "perfmamba/io/json_fields.hpp"
#include "perfmamba/model/inference_state.hpp"
#include "perfmamba/model/model_stats.hpp"
#include "perfmamba/profile/report.hpp"

namespace perfmamba {
using nlohmann::json;

namespace {
// Least-squares slope of log(time) against log(L): ~1 is linear scaling, ~0 a fixed cost.
double scaling_exponent(const std::vector<std::pair<double, double>>& pts) {
  if (pts.size() < 2) return NAN;
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (auto [x, y] : pts) {
    const double lx = std::log(x), ly = std::log(std::max(y, 1e-12));
    sx += lx, sy += ly, sxx += lx * lx, sxy += lx * ly;
  }
  const double n = double(pts.size());
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

json component_json(const ComponentTiming& t, double total, const MachinePeaks& peaks) {
  const double t_flops = t.flops / peaks.gemm_flops_per_s, t_bytes = t.bytes / peaks.copy_bytes_per_s;
  const double bound = std::max(t_flops, t_bytes);
  return {{"median_s", t.median_s}, {"min_s", t.min_s}, {"max_s", t.max_s}, {"calls", t.calls},
          {"flops", t.flops}, {"bytes", t.bytes},
          {"flops_per_s", t.median_s > 0 ? t.flops / t.median_s : 0.0},
          {"bytes_per_s", t.median_s > 0 ? t.bytes / t.median_s : 0.0},
          {"intensity", t.bytes > 0 ? t.flops / t.bytes : 0.0},
          {"bound", t_flops > t_bytes ? "compute" : "memory"},
          {"roofline_s", bound},
          {"roofline_fraction", t.median_s > 0 ? bound / t.median_s : 0.0},
          {"share", total > 0 ? t.median_s / total : 0.0}};
}
}  // namespace

json profile_to_json(const ProfileReport& r) {
  const MambaConfig& c = r.config;
  const ModelStats st = model_stats(c);
  json j;
  j["schema"] = kProfileSchema;
  j["model"] = {{"name", r.model}, {"arch", arch_name(c.arch)}, {"d_model", c.d_model}, {"n_layer", c.n_layer},
                {"vocab_size", c.vocab_size}, {"d_inner", c.d_inner()}, {"d_state", c.d_state()},
                {"params", st.total_params}};
  j["device"] = r.device;
  j["peaks"] = {{"copy_bytes_per_s", r.peaks.copy_bytes_per_s}, {"gemm_flops_per_s", r.peaks.gemm_flops_per_s},
                {"ridge_intensity", r.peaks.ridge_intensity()}};
  j["io"] = {{"checkpoint_bytes", r.checkpoint_bytes}, {"load_seconds", r.load_seconds},
             {"read_bytes_per_s", r.load_seconds > 0 ? double(r.checkpoint_bytes) / r.load_seconds : 0.0}};
  json weights = json::object();
  for (const auto& [name, comp] : st.components) weights[name] = comp.params * 4;
  j["memory"] = {{"weight_bytes_f32", r.weight_bytes}, {"weights_by_component", weights},
                 {"conv_state_bytes_per_sequence", st.conv_state_bytes},
                 {"ssm_state_bytes_per_sequence", st.ssm_state_bytes},
                 {"activation_bytes_per_token", st.activation_bytes_per_token}};
  json phases = json::array();
  std::map<std::string, std::vector<std::pair<double, double>>> scaling;  // "batch/component" -> (L, s)
  for (const PhaseProfile& ph : r.phases) {
    json p = {{"mode", ph.mode}, {"batch", ph.batch}, {"len", ph.len}, {"position", ph.position},
              {"instrumented_s", ph.instrumented_s}, {"uninstrumented_s", ph.uninstrumented_s},
              {"overhead", ph.uninstrumented_s > 0 ? ph.instrumented_s / ph.uninstrumented_s - 1.0 : 0.0},
              {"tokens_per_s", ph.uninstrumented_s > 0 ? double(ph.batch) * ph.len / ph.uninstrumented_s : 0.0},
              {"peak_activation_bytes", ph.peak_bytes}};
    for (int i = 0; i < kComponents; ++i) {
      const ComponentTiming& t = ph.components[size_t(i)];
      if (t.calls == 0) continue;
      const char* name = component_name(static_cast<Component>(i));
      json cj = component_json(t, ph.instrumented_s, r.peaks);
      if (r.has_counters) {
        const CounterValues& k = t.counters;
        cj["counters"] = {{"cycles", k.cycles}, {"instructions", k.instructions}, {"llc_misses", k.llc_misses},
                          {"ipc", k.cycles > 0 ? k.instructions / k.cycles : 0.0},
                          {"llc_miss_bytes_per_analytic_byte", t.bytes > 0 ? 64.0 * k.llc_misses / t.bytes : 0.0}};
      }
      p["components"][name] = cj;
      if (ph.mode == "prefill") scaling[std::to_string(ph.batch) + "/" + name].push_back({double(ph.len), t.median_s});
    }
    if (ph.mode == "prefill") scaling[std::to_string(ph.batch) + "/total"].push_back({double(ph.len), ph.uninstrumented_s});
    phases.push_back(p);
  }
  j["phases"] = phases;
  json hw = {{"cpu", r.device.rfind("cpu", 0) == 0 ? (r.has_counters ? "perf_event: cycles, instructions, LLC misses (user space, all threads)"
                                                                      : "not available: " + r.counters_note)
                                                   : "not applicable"}};
  json ncu = json::array();
  for (const NcuImport& imp : r.ncu) {
    json comps = json::object();
    for (const PhaseProfile& ph : r.phases) {
      if (ph.mode != imp.mode || ph.batch != imp.batch || (imp.mode == "prefill" && ph.len != imp.len)) continue;
      for (int i = 0; i < kComponents; ++i) {
        const NcuComponent& k = imp.components[size_t(i)];
        if (k.kernels == 0) continue;
        const double analytic = ph.components[size_t(i)].bytes;
        comps[component_name(static_cast<Component>(i))] = {
            {"kernels", k.kernels}, {"dram_bytes", k.dram_bytes}, {"duration_s", k.duration_s},
            {"dram_bytes_per_s", k.duration_s > 0 ? k.dram_bytes / k.duration_s : 0.0},
            {"achieved_occupancy_pct", k.occupancy_pct}, {"analytic_bytes", analytic},
            {"dram_over_analytic", analytic > 0 ? k.dram_bytes / analytic : 0.0}};
      }
      break;
    }
    ncu.push_back({{"mode", imp.mode}, {"batch", imp.batch}, {"len", imp.len}, {"components", comps}});
  }
  if (!r.ncu.empty() || !r.ncu_note.empty()) hw["ncu"] = ncu;
  if (!r.ncu_note.empty()) hw["ncu_note"] = r.ncu_note;
  j["hardware_counters"] = hw;
  json exps = json::object();
  for (const auto& [key, pts] : scaling) {
    const double e = scaling_exponent(pts);
    if (std::isfinite(e)) exps[key] = e;
  }
  j["scaling_exponents"] = exps;
  return j;
}

void validate_profile_json(const json& j, const std::string& file) {
  JsonFields f(j, file);
  require(f.string_or("schema", "") == kProfileSchema, file, "schema",
          std::string("expected \"") + kProfileSchema + "\"");
  for (const char* k : {"model", "peaks", "io", "memory", "scaling_exponents"})
    require(f.has(k) && f.at(k).is_object(), file, k, "missing or not an object");
  require(f.has("phases") && f.at("phases").is_array(), file, "phases", "missing or not a list");
  for (size_t i = 0; i < j["phases"].size(); ++i) {
    JsonFields p(j["phases"][i], file, "phases[" + std::to_string(i) + "].");
    const std::string mode = p.string_or("mode", "");
    if (mode != "prefill" && mode != "decode") p.fail("mode", "expected prefill or decode");
    p.integer("batch", 1, 1 << 20);
    p.integer("len", 1, 1 << 30);
    for (const char* k : {"instrumented_s", "uninstrumented_s", "overhead", "tokens_per_s"})
      if (!p.has(k) || !p.at(k).is_number()) p.fail(k, "missing or not a number");
    if (!p.has("components") || !p.at("components").is_object()) p.fail("components", "missing");
    for (auto it = p.at("components").begin(); it != p.at("components").end(); ++it) {
      JsonFields cf(*it, file, "phases[" + std::to_string(i) + "].components." + it.key() + ".");
      for (const char* k : {"median_s", "flops", "bytes", "intensity", "roofline_fraction", "share"})
        if (!cf.has(k) || !cf.at(k).is_number()) cf.fail(k, "missing or not a number");
      const std::string bound = cf.string_or("bound", "");
      if (bound != "memory" && bound != "compute") cf.fail("bound", "expected memory or compute");
    }
  }
}

}  // namespace perfmamba
