// perfmamba profile: where the time and bytes of prefill and decode go, per component.
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "perfmamba/cli/common.hpp"
#include "perfmamba/core/error.hpp"
#include "perfmamba/io/atomic_file.hpp"
#include "perfmamba/io/json_fields.hpp"
#include "perfmamba/io/mapped_file.hpp"
#include "perfmamba/profile/ncu_import.hpp"
#include "perfmamba/profile/report.hpp"

namespace perfmamba::cli {
namespace {
struct ProfileCliOptions {
  CommonOptions common;
  std::string seqlens = "64,256,1024", batches = "1", positions = "0,1024", out, render;
  std::vector<std::string> compare;
  int repeats = 5;
  bool force = false, no_counters = false, ncu = false;
  std::string ncu_path = "ncu", ncu_child;
  int ncu_seqlen = 0;  // 0: the longest --seqlen up to 4096
};

std::vector<int> int_list(const std::string& text, const char* flag) {
  std::vector<int> v;
  for (int32_t x : parse_ids(text)) {
    require(x >= 1, "", flag, "values must be positive");
    v.push_back(x);
  }
  return v;
}

void write_reports(const nlohmann::json& j, const std::string& out, bool force) {
  std::filesystem::create_directories(out);
  const auto path = [&](const char* f) { return (std::filesystem::path(out) / f).string(); };
  write_file_atomic(path("profile.json"), j.dump(1) + "\n", force);
  write_file_atomic(path("profile.csv"), profile_to_csv(j), force);
  write_file_atomic(path("report.html"), profile_to_html(j), force);
}

nlohmann::json load_profile(const std::string& path) {
  const nlohmann::json j = parse_json_lenient(read_text_file(path), path);
  validate_profile_json(j, path);
  return j;
}

void profile(const ProfileCliOptions& o) {
  if (!o.compare.empty()) {
    require(o.compare.size() == 2, "", "--compare", "takes two profile.json files");
    const nlohmann::json a = load_profile(o.compare[0]), b = load_profile(o.compare[1]);
    if (!o.out.empty()) {
      std::filesystem::create_directories(o.out);
      write_file_atomic((std::filesystem::path(o.out) / "compare.html").string(), profile_compare_html(a, b), o.force);
    }
    std::printf("%s", profile_compare_text(a, b).c_str());
    return;
  }
  if (!o.render.empty()) {  // re-render a saved profile (e.g. one measured on another machine)
    const nlohmann::json j = load_profile(o.render);
    if (!o.out.empty()) write_reports(j, o.out, o.force);
    std::printf("%s", profile_summary(j).c_str());
    return;
  }
  require(!o.common.model.empty(), "", "--model", "required (or --render FILE.json, --compare A.json B.json)");
  apply_threads(o.common);
  ProfileOptions po;
  po.seqlens = int_list(o.seqlens, "--seqlen");
  po.batches = int_list(o.batches, "--batch");
  po.decode_positions.clear();
  for (int32_t p : parse_ids(o.positions)) po.decode_positions.push_back(p);
  po.repeats = o.repeats;
  po.cpu_counters = !o.no_counters;
  auto backend = make_backend(o.common.device, o.common.precision);
  LoadedModel lm = load_model(o.common.model, *backend, o.common.seed);
  if (!o.ncu_child.empty()) {  // we are the program ncu runs
    ncu_child_forward(lm, o.ncu_child, po.batches.front(), po.seqlens.front());
    return;
  }
  require(!o.ncu || backend->device() == Device::CUDA, "", "--ncu", "needs --device cuda");
  ProfileReport report = run_profile(lm, *backend, po);
  if (o.ncu) {
    int len = o.ncu_seqlen;
    for (int l : po.seqlens)
      if (len == 0 || (o.ncu_seqlen == 0 && l <= 4096 && l > len)) len = l;
    for (const char* mode : {"prefill", "decode"}) {
      NcuRun run;
      run.ncu = o.ncu_path;
      run.child = {"-m", o.common.model, "--device", "cuda", "--precision", o.common.precision, "--seed",
                   std::to_string(o.common.seed)};
      run.batch = po.batches.front();
      run.mode = mode;
      run.len = len;
      NcuImport imp;
      std::string note;
      std::fprintf(stderr, "profile: Nsight Compute on one %s forward (L=%d)...\n", mode, run.mode == "prefill" ? len : 1);
      if (run_ncu(run, imp, note)) report.ncu.push_back(imp);
      if (!note.empty()) report.ncu_note += (report.ncu_note.empty() ? "" : "; ") + note;
    }
  }
  const nlohmann::json j = profile_to_json(report);
  if (!o.out.empty()) write_reports(j, o.out, o.force);
  if (o.common.json) print_json(j);
  else std::printf("%s%s", profile_summary(j).c_str(), o.out.empty() ? "" : ("\nwrote " + o.out + "/{profile.json,profile.csv,report.html}\n").c_str());
}
}  // namespace

void register_profile(CLI::App& app) {
  auto o = std::make_shared<ProfileCliOptions>();
  auto* cmd = app.add_subcommand("profile", "Per-component time, FLOPs, bytes, roofline and memory of prefill and decode");
  add_model_options(*cmd, o->common);
  cmd->get_option("--model")->required(false);
  add_device_option(*cmd, o->common);
  cmd->add_option("--render", o->render, "Render a saved profile.json (validated) instead of measuring");
  cmd->add_option("--compare", o->compare, "Compare two saved profile.json files (writes compare.html with --out)")->expected(2);
  cmd->add_option("--seqlen", o->seqlens, "Prefill lengths, comma-separated");
  cmd->add_option("--batch", o->batches, "Batch sizes, comma-separated");
  cmd->add_option("--decode-positions", o->positions, "Context lengths at which decode steps are timed");
  cmd->add_option("--repeats", o->repeats, "Timed repeats per point (median reported)")->check(CLI::Range(1, 1000));
  cmd->add_option("--out", o->out, "Directory for profile.json, profile.csv and report.html");
  cmd->add_flag("--force", o->force, "Replace existing report files");
  cmd->add_flag("--no-counters", o->no_counters, "Do not read CPU hardware counters (perf_event)");
  cmd->add_flag("--ncu", o->ncu, "Also measure DRAM bytes and occupancy per component with Nsight Compute (CUDA)");
  cmd->add_option("--ncu-path", o->ncu_path, "The ncu executable");
  cmd->add_option("--ncu-seqlen", o->ncu_seqlen, "Prefill length measured under ncu (default: longest --seqlen <= 4096)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--ncu-child", o->ncu_child, "(internal) run one forward for ncu")
      ->check(CLI::IsMember({"prefill", "decode"}))->group("");
  cmd->callback([o] { profile(*o); });
}

}  // namespace perfmamba::cli
