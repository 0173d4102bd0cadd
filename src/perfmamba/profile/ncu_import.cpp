#include "perfmamba/profile/ncu_import.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "perfmamba/core/error.hpp"

namespace perfmamba {
namespace {
// One CSV record; ncu quotes every field and may put commas inside numbers.
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (char ch : line) {
    if (ch == '"') quoted = !quoted;
    else if (ch == ',' && !quoted) out.push_back(std::move(cur)), cur.clear();
    else cur += ch;
  }
  out.push_back(cur);
  return out;
}

double number(std::string s) {
  std::string t;
  for (char ch : s)
    if (ch != ',') t += ch;
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  return end == t.c_str() ? 0.0 : v;
}

// Scale of a unit name to bytes or seconds ("Kbyte", "usecond", "ns", "%", ...).
double unit_scale(const std::string& u) {
  if (u == "ns" || u == "nsecond") return 1e-9;
  if (u == "us" || u == "usecond") return 1e-6;
  if (u == "ms" || u == "msecond") return 1e-3;
  if (u == "Kbyte" || u == "KB") return 1e3;
  if (u == "Mbyte" || u == "MB") return 1e6;
  if (u == "Gbyte" || u == "GB") return 1e9;
  if (u == "Tbyte" || u == "TB") return 1e12;
  return 1.0;
}

int component_in(const std::vector<std::string>& row) {
  for (const std::string& f : row) {
    const size_t at = f.rfind("pm:");  // innermost range comes last in a nested path
    if (at == std::string::npos) continue;
    std::string name = f.substr(at + 3);
    const size_t stop = name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_0123456789");
    if (stop != std::string::npos) name.resize(stop);
    for (int c = 0; c < kComponents; ++c)
      if (name == component_name(static_cast<Component>(c))) return c;
  }
  return -1;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}
}  // namespace

NcuImport parse_ncu_csv(const std::string& csv, const std::string& file, int* unattributed) {
  std::istringstream in(csv);
  std::string line;
  std::vector<std::string> header;
  while (std::getline(in, line))
    if (line.rfind("\"ID\"", 0) == 0) {
      header = csv_fields(line);
      break;
    }
  require(!header.empty(), file, "ID", "no ncu CSV header (was it written with --csv --page raw?)");
  const auto column = [&](const std::string& name) {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return int(i);
    return -1;
  };
  const int rd = column("dram__bytes_read.sum"), wr = column("dram__bytes_write.sum"),
            dur = column("gpu__time_duration.sum"), occ = column("sm__warps_active.avg.pct_of_peak_sustained_active");
  require(rd >= 0 && wr >= 0 && dur >= 0, file, "dram__bytes_read.sum", "metric columns missing from the ncu CSV");
  std::vector<double> scale(header.size(), 1.0);
  NcuImport imp;
  int dropped = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] != '"') continue;  // ncu's own "==PROF==" messages
    const std::vector<std::string> row = csv_fields(line);
    if (row.size() < header.size()) continue;
    if (row[0].empty()) {  // the units row
      for (size_t i = 0; i < header.size(); ++i) scale[i] = unit_scale(row[i]);
      continue;
    }
    const int c = component_in(row);
    if (c < 0) {
      ++dropped;
      continue;
    }
    NcuComponent& k = imp.components[size_t(c)];
    const double t = number(row[size_t(dur)]) * scale[size_t(dur)];
    k.kernels += 1;
    k.dram_bytes += number(row[size_t(rd)]) * scale[size_t(rd)] + number(row[size_t(wr)]) * scale[size_t(wr)];
    if (occ >= 0) k.occupancy_pct += number(row[size_t(occ)]) * t;  // normalised below
    k.duration_s += t;
  }
  for (NcuComponent& k : imp.components)
    if (k.duration_s > 0) k.occupancy_pct /= k.duration_s;
  if (unattributed) *unattributed = dropped;
  return imp;
}

bool run_ncu(const NcuRun& r, NcuImport& out, std::string& note) {
  const std::string log = (std::filesystem::temp_directory_path() /
                           ("perfmamba-ncu-" + std::to_string(getpid()) + "-" + r.mode + ".csv")).string();
  std::ostringstream cmd;
  // Clocks are left alone (the machine's owners ask it, and it matches the timed runs).
  cmd << shell_quote(r.ncu) << " --clock-control none --csv --page raw --print-units base --nvtx --metrics " << kNcuMetrics << " --log-file " << shell_quote(log) << ' '
      << shell_quote(std::filesystem::read_symlink("/proc/self/exe").string()) << " profile";
  for (const std::string& a : r.child) cmd << ' ' << shell_quote(a);
  cmd << " --ncu-child " << r.mode << " --batch " << r.batch << " --seqlen " << r.len << " > /dev/null 2>&1";
  const int status = std::system(cmd.str().c_str());
  const int rc = status == -1 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream f(log);
  std::stringstream text;
  text << f.rdbuf();
  std::filesystem::remove(log);
  if (rc != 0 || text.str().find("\"ID\"") == std::string::npos) {
    std::string why = text.str();
    const size_t err = why.find("==ERROR==");
    why = err == std::string::npos ? "exit status " + std::to_string(rc) : why.substr(err, why.find('\n', err) - err);
    note = "ncu " + r.mode + " failed: " + why;
    return false;
  }
  int dropped = 0;
  out = parse_ncu_csv(text.str(), log, &dropped);
  out.mode = r.mode;
  out.batch = r.batch;
  out.len = r.mode == "prefill" ? r.len : 1;
  if (dropped) note = std::to_string(dropped) + " kernels outside component ranges not attributed";
  return true;
}

void ncu_child_forward(LoadedModel& loaded, const std::string& mode, int batch, int len) {
  MambaLM& lm = *loaded.model;
  std::vector<int32_t> ids(size_t(batch) * size_t(len));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 2654435761u + 17) % uint64_t(lm.config().vocab_size));
  Backend& be = lm.backend();
  const auto forward = [&] {
    InferenceState st = lm.new_state(batch);
    if (mode == "prefill") lm.prefill(ids.data(), batch, len, st, false);
    else lm.decode(ids.data(), st);
  };
  // No warm-up: ncu replays every kernel on its own, so first-use costs do not reach its numbers,
  // and kernels outside the component ranges (none in a forward) are dropped by the parser.
  device_range_push("pm_measure");
  forward();
  be.set_component(Component::kCount, -1);
  be.synchronize();
  device_range_pop();
}

}  // namespace perfmamba
