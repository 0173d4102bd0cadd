#pragma once
// A Backend that forwards every op to another backend and records, per op, the component it was
// tagged with, its time and its analytic FLOPs and bytes. On a device with timers (CUDA events)
// the ops run back to back as usual and are timed on the device, read once the forward is over
// (finish()); on the CPU each op is timed with the steady clock. The profiler never changes what
// is computed: the inner backend does all the work.
#include <chrono>
#include <memory>
#include <vector>

#include "perfmamba/backend/backend.hpp"

namespace perfmamba {

struct OpRecord {
  Component component;
  int layer;
  const char* op;
  double seconds;
  OpCost cost;
};

class ProfilingBackend final : public Backend {
 public:
  explicit ProfilingBackend(Backend& inner) : inner_(inner) {}
  // Resolves pending device timings; call after the forward, before records().
  void finish() {
    for (size_t i = 0; i < pending_.size(); ++i) records_[first_pending_ + i].seconds = timers_[i]->seconds();
    pending_.clear();
  }
  const std::vector<OpRecord>& records() const { return records_; }
  void clear() {
    records_.clear();
    pending_.clear();
  }

  Device device() const override { return inner_.device(); }
  std::string name() const override { return inner_.name(); }
  void set_component(Component c, int layer) override {
    component_ = c;
    layer_ = layer;
  }
  void gemm(const GemmParams& p) override { run("gemm", p.cost(), [&] { inner_.gemm(p); }); }
  void add_rmsnorm(const AddRmsNormParams& p) override { run("add_rmsnorm", p.cost(), [&] { inner_.add_rmsnorm(p); }); }
  void gated_rmsnorm(const GatedRmsNormParams& p) override { run("gated_rmsnorm", p.cost(), [&] { inner_.gated_rmsnorm(p); }); }
  void conv1d(const Conv1dParams& p) override { run("conv1d", p.cost(), [&] { inner_.conv1d(p); }); }
  void selective_scan(const SelectiveScanParams& p) override { run("selective_scan", p.cost(), [&] { inner_.selective_scan(p); }); }
  void ssd_chunked(const SsdParams& p) override { run("ssd_chunked", p.cost(), [&] { inner_.ssd_chunked(p); }); }
  void ssd_step(const SsdParams& p) override { run("ssd_step", p.cost(), [&] { inner_.ssd_step(p); }); }
  void embedding(const EmbeddingParams& p) override { run("embedding", p.cost(), [&] { inner_.embedding(p); }); }
  void synchronize() override { inner_.synchronize(); }

 private:
  template <class Fn>
  void run(const char* op, const OpCost& cost, Fn&& fn) {
    if (pending_.empty()) first_pending_ = records_.size();
    if (pending_.size() < timers_.size() || (timers_.empty() ? try_timer() : grow_timers())) {
      DeviceTimer& t = *timers_[pending_.size()];
      t.start();
      fn();
      t.stop();
      pending_.push_back(1);
      records_.push_back({component_, layer_, op, 0.0, cost});
      return;
    }
    inner_.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    inner_.synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    records_.push_back({component_, layer_, op, s, cost});
  }

  bool try_timer() {
    if (no_timer_) return false;
    auto t = inner_.make_timer();
    if (!t) return !(no_timer_ = true);
    timers_.push_back(std::move(t));
    return true;
  }
  bool grow_timers() {
    timers_.push_back(inner_.make_timer());
    return true;
  }

  Backend& inner_;
  std::vector<std::unique_ptr<DeviceTimer>> timers_;  // reused across forwards
  std::vector<char> pending_;
  size_t first_pending_ = 0;
  bool no_timer_ = false;
  Component component_ = Component::Embedding;
  int layer_ = -1;
  std::vector<OpRecord> records_;
};

}  // namespace perfmamba
