#pragma once
// `perfmamba profile --ncu`: one forward of the model runs again in a child perfmamba under
// Nsight Compute, which replays every kernel and reads the hardware counters (DRAM bytes, time,
// achieved occupancy). Each kernel is attributed to the component whose NVTX range ("pm:<name>",
// opened by the CUDA backend) was innermost at its launch.
#include <string>
#include <vector>

#include "perfmamba/profile/profiler.hpp"

namespace perfmamba {

// The metrics asked of ncu, in its names.
inline constexpr const char* kNcuMetrics =
    "dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum,"
    "sm__warps_active.avg.pct_of_peak_sustained_active";

// Folds the CSV that `ncu --csv --page raw` wrote (`file` names it in errors) into per-component
// totals. Kernels outside any "pm:" range are dropped and counted in `unattributed`.
NcuImport parse_ncu_csv(const std::string& csv, const std::string& file, int* unattributed = nullptr);

struct NcuRun {
  std::string ncu = "ncu";            // the Nsight Compute command line tool
  std::vector<std::string> child;     // perfmamba arguments of the child (model, device, seed)
  std::string mode = "prefill";
  int batch = 1, len = 1024;
};
// Runs ncu on `/proc/self/exe profile ... --ncu-child MODE`. Returns false with `note` set when
// ncu is missing or fails (e.g. no access to the counters); the profile goes on without it.
bool run_ncu(const NcuRun& run, NcuImport& out, std::string& note);

// The child's side: one forward inside the "pm_measure" range, every op in its component's range.
void ncu_child_forward(LoadedModel& model, const std::string& mode, int batch, int len);

}  // namespace perfmamba
