#include "perfmamba/profile/profiler.hpp"

#include <algorithm>
#include <chrono>

#include "perfmamba/core/progress.hpp"
#include "perfmamba/model/model_stats.hpp"
#include "perfmamba/profile/profiling_backend.hpp"

namespace perfmamba {
namespace {
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

std::vector<int32_t> token_ids(int n, int vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ids[size_t(i)] = int32_t((uint64_t(i) * 2654435761u + 17) % uint64_t(vocab));
  return ids;
}

// Runs `forward` repeats times through the profiling wrapper and once more per repeat through
// the plain backend, and folds the op records into per-component statistics.
template <class Forward>
void measure(PhaseProfile& ph, MambaLM& lm, Backend& plain, const CpuCounters* counters, int repeats,
             Forward&& forward) {
  ProfilingBackend prof(plain, counters);
  std::array<std::vector<double>, kComponents> per_repeat;
  std::array<CounterValues, kComponents> counted{};
  std::vector<double> sums, plain_times;
  forward(plain);  // warm-up
  for (int r = 0; r < repeats; ++r) {
    prof.clear();
    lm.set_backend(prof);
    forward(prof);
    prof.finish();
    lm.set_backend(plain);
    std::array<double, kComponents> t{};
    std::array<ComponentTiming, kComponents> cost{};
    double sum = 0;
    for (const OpRecord& rec : prof.records()) {
      const int c = static_cast<int>(rec.component);
      t[c] += rec.seconds;
      sum += rec.seconds;
      cost[c].flops += rec.cost.flops;
      cost[c].bytes += rec.cost.bytes;
      cost[c].calls += 1;
      counted[c] += rec.counters;
    }
    for (int c = 0; c < kComponents; ++c) {
      per_repeat[c].push_back(t[c]);
      ph.components[c].flops = cost[c].flops;
      ph.components[c].bytes = cost[c].bytes;
      ph.components[c].calls = cost[c].calls;
    }
    sums.push_back(sum);
    reset_peak_memory(plain.device());
    const int64_t base = memory_stats(plain.device()).current_bytes;
    const auto t0 = std::chrono::steady_clock::now();
    forward(plain);
    plain.synchronize();
    plain_times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    ph.peak_bytes = std::max(ph.peak_bytes, memory_stats(plain.device()).peak_bytes - base);
  }
  for (int c = 0; c < kComponents; ++c) {
    auto& v = per_repeat[c];
    ph.components[c].median_s = median(v);
    ph.components[c].min_s = *std::min_element(v.begin(), v.end());
    ph.components[c].max_s = *std::max_element(v.begin(), v.end());
    const double k = 1.0 / repeats;
    ph.components[c].counters = {counted[c].cycles * k, counted[c].instructions * k, counted[c].llc_misses * k};
  }
  ph.instrumented_s = median(sums);
  ph.uninstrumented_s = median(plain_times);
}
}  // namespace

ProfileReport run_profile(LoadedModel& loaded, Backend& backend, const ProfileOptions& o) {
  MambaLM& lm = *loaded.model;
  ProfileReport rep;
  rep.model = loaded.spec;
  rep.device = backend.name();
  rep.config = lm.config();
  rep.checkpoint_bytes = loaded.checkpoint_bytes;
  rep.load_seconds = loaded.load_seconds;
  rep.weight_bytes = model_stats(lm.config()).total_params * 4;
  rep.peaks = measure_peaks(backend);
  std::unique_ptr<CpuCounters> counters;
  if (backend.device() == Device::CPU && o.cpu_counters) {
    counters = CpuCounters::open(rep.counters_note);
    rep.has_counters = counters != nullptr;
  } else if (backend.device() == Device::CPU) {
    rep.counters_note = "off (--no-counters)";
  }
  const int V = lm.config().vocab_size;
  const size_t steps = o.batches.size() * (o.seqlens.size() + o.decode_positions.size());
  Progress bar("profile", int64_t(steps), "runs");
  int64_t done = 0;
  for (int batch : o.batches) {
    for (int len : o.seqlens) {
      PhaseProfile ph;
      ph.mode = "prefill";
      ph.batch = batch;
      ph.len = len;
      const auto ids = token_ids(batch * len, V);
      measure(ph, lm, backend, counters.get(), o.repeats, [&](Backend&) {
        InferenceState st = lm.new_state(batch);
        lm.prefill(ids.data(), batch, len, st, false);
      });
      rep.phases.push_back(ph);
      bar.update(++done);
    }
    for (int pos : o.decode_positions) {
      PhaseProfile ph;
      ph.mode = "decode";
      ph.batch = batch;
      ph.len = 1;
      ph.position = pos;
      InferenceState st = lm.new_state(batch);
      if (pos > 0) {
        const auto ctx = token_ids(batch * pos, V);
        lm.prefill(ctx.data(), batch, pos, st, false);
      }
      const auto next = token_ids(batch, V);
      measure(ph, lm, backend, counters.get(), o.repeats, [&](Backend&) { lm.decode(next.data(), st); });
      rep.phases.push_back(ph);
      bar.update(++done);
    }
  }
  return rep;
}

}  // namespace perfmamba
