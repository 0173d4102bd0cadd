#pragma once
// `perfmamba profile`: per-component time, FLOPs, bytes, roofline position and memory of
// prefill and decode over a sweep of sequence lengths and batch sizes.
#include <array>
#include <string>
#include <vector>

#include "perfmamba/model/load.hpp"
#include "perfmamba/profile/cpu_counters.hpp"
#include "perfmamba/profile/machine_peaks.hpp"

namespace perfmamba {

constexpr int kComponents = static_cast<int>(Component::kCount);

struct ComponentTiming {
  double median_s = 0, min_s = 0, max_s = 0;  // summed over layers, statistics over repeats
  double flops = 0, bytes = 0;                // analytic, summed over layers, one forward
  int calls = 0;                              // op calls per forward
  CounterValues counters;                     // CPU hardware counters, mean per forward
};

struct PhaseProfile {
  std::string mode;  // "prefill" or "decode"
  int batch = 0;
  int len = 0;       // prefill: tokens per sequence; decode: 1
  int position = 0;  // decode: tokens already in the state
  std::array<ComponentTiming, kComponents> components{};
  double instrumented_s = 0;    // median of the per-repeat sums of component times
  double uninstrumented_s = 0;  // median forward time through the plain backend (a decode
                                // step as it normally runs: a graph replay on CUDA)
  int64_t peak_bytes = 0;       // device memory above the weights during the forward
};

struct ProfileOptions {
  std::vector<int> seqlens = {64, 256, 1024};
  std::vector<int> batches = {1};
  std::vector<int> decode_positions = {0, 1024};
  int repeats = 5;
  bool progress = true;
  bool cpu_counters = true;  // try perf_event on the CPU backend
};

// Per-component totals of the kernels Nsight Compute measured in one forward (`--ncu`).
struct NcuComponent {
  int kernels = 0;
  double dram_bytes = 0, duration_s = 0;
  double occupancy_pct = 0;  // achieved occupancy, weighted by kernel duration
};
struct NcuImport {
  std::string mode;  // "prefill" or "decode"
  int batch = 1, len = 0;
  std::array<NcuComponent, kComponents> components{};
};

struct ProfileReport {
  std::string model, device;
  MambaConfig config;
  MachinePeaks peaks;
  size_t checkpoint_bytes = 0;
  double load_seconds = 0;
  int64_t weight_bytes = 0;
  std::vector<PhaseProfile> phases;
  std::string counters_note;  // CPU counters: why they are missing, or empty
  bool has_counters = false;
  std::vector<NcuImport> ncu;
  std::string ncu_note;
};

ProfileReport run_profile(LoadedModel& model, Backend& backend, const ProfileOptions& o);

}  // namespace perfmamba
