#pragma once
// A Backend that forwards every op to another backend and records, per op, the component it was
// tagged with, its wall time (the inner backend is synchronised before and after, so device time
// is attributed to the op that spent it) and its analytic FLOPs and bytes. The profiler never
// changes what is computed: the inner backend does all the work.
#include <chrono>
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
  const std::vector<OpRecord>& records() const { return records_; }
  void clear() { records_.clear(); }

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
    inner_.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    inner_.synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    records_.push_back({component_, layer_, op, s, cost});
  }

  Backend& inner_;
  Component component_ = Component::Embedding;
  int layer_ = -1;
  std::vector<OpRecord> records_;
};

}  // namespace perfmamba
