#pragma once
// A Backend that forwards every op to another backend and records, per op, the component it was
// tagged with, its time and its analytic FLOPs and bytes. On a device with markers (CUDA events)
// the ops run back to back as usual: one marker is recorded before the first op and one after
// each op, so an op's time runs from the end of the previous op to its own end (launch gaps
// included, which is what a launch-bound decode step really spends) and the component times add
// up to the whole forward. Times are read once the forward is over (finish()). On the CPU each
// op is timed with the steady clock and, where the machine allows, its hardware counters read.
// The profiler never changes what is computed: the inner backend does all the work.
#include <chrono>
#include <memory>
#include <vector>

#include "perfmamba/backend/forwarding_backend.hpp"
#include "perfmamba/profile/cpu_counters.hpp"

namespace perfmamba {

struct OpRecord {
  Component component;
  int layer;
  const char* op;
  double seconds;
  OpCost cost;
  CounterValues counters;  // zero unless CPU counters are on
};

class ProfilingBackend final : public ForwardingBackend {
 public:
  explicit ProfilingBackend(Backend& inner, const CpuCounters* counters = nullptr)
      : ForwardingBackend(inner), counters_(counters) {}
  // Resolves pending device timings; call after each forward, before records().
  void finish() {
    for (const Pending& p : pending_) records_[p.record].seconds = markers_[p.end]->seconds_since(*markers_[p.end - 1]);
    pending_.clear();
    used_markers_ = 0;
    run_open_ = false;
  }
  const std::vector<OpRecord>& records() const { return records_; }
  void clear() {
    records_.clear();
    pending_.clear();
    used_markers_ = 0;
    run_open_ = false;
  }

  void set_component(Component c, int layer) override {
    component_ = c;
    layer_ = layer;
    inner_.set_component(c, layer);  // the CUDA backend names its NVTX ranges after it
  }
  void gemm(const GemmParams& p) override { run("gemm", p.cost(inner_.gemm_weight_bytes()), [&] { inner_.gemm(p); }); }
  void add_rmsnorm(const AddRmsNormParams& p) override { run("add_rmsnorm", p.cost(), [&] { inner_.add_rmsnorm(p); }); }
  void gated_rmsnorm(const GatedRmsNormParams& p) override { run("gated_rmsnorm", p.cost(), [&] { inner_.gated_rmsnorm(p); }); }
  void conv1d(const Conv1dParams& p) override { run("conv1d", p.cost(), [&] { inner_.conv1d(p); }); }
  void selective_scan(const SelectiveScanParams& p) override { run("selective_scan", p.cost(), [&] { inner_.selective_scan(p); }); }
  void ssd_chunked(const SsdParams& p) override { run("ssd_chunked", p.cost(), [&] { inner_.ssd_chunked(p); }); }
  void ssd_step(const SsdParams& p) override { run("ssd_step", p.cost(), [&] { inner_.ssd_step(p); }); }
  void embedding(const EmbeddingParams& p) override { run("embedding", p.cost(), [&] { inner_.embedding(p); }); }
  void argmax_rows(const ArgmaxParams& p) override { run("argmax", p.cost(), [&] { inner_.argmax_rows(p); }); }

 private:
  template <class Fn>
  void run(const char* op, const OpCost& cost, Fn&& fn) {
    if (use_markers()) {
      if (!run_open_) marker(used_markers_++).record();
      run_open_ = true;
      fn();
      marker(used_markers_++).record();
      pending_.push_back({records_.size(), used_markers_ - 1});
      records_.push_back({component_, layer_, op, 0.0, cost, {}});
      return;
    }
    inner_.synchronize();
    const CounterValues c0 = counters_ ? counters_->read() : CounterValues{};
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    inner_.synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    records_.push_back({component_, layer_, op, s, cost, counters_ ? counters_->read() - c0 : CounterValues{}});
  }

  bool use_markers() {
    if (!markers_checked_) {
      markers_checked_ = true;
      if (auto m = inner_.make_marker()) markers_.push_back(std::move(m));
    }
    return !markers_.empty();
  }
  DeviceMarker& marker(size_t i) {
    while (markers_.size() <= i) markers_.push_back(inner_.make_marker());
    return *markers_[i];
  }

  const CpuCounters* counters_;
  struct Pending {
    size_t record, end;  // the op ran between markers_[end - 1] and markers_[end]
  };
  std::vector<std::unique_ptr<DeviceMarker>> markers_;  // reused across forwards
  std::vector<Pending> pending_;                          // ops whose times are not read yet
  size_t used_markers_ = 0;
  bool run_open_ = false, markers_checked_ = false;
  Component component_ = Component::Embedding;
  int layer_ = -1;
  std::vector<OpRecord> records_;
};

}  // namespace perfmamba
