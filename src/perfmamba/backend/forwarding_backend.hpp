#pragma once
// A Backend that hands every op to another one: the base of the wrappers that watch a forward
// (profiler, calibration, bridging taps) and override only the ops they look at.
#include <memory>
#include <string>

#include "perfmamba/backend/backend.hpp"

namespace perfmamba {

class ForwardingBackend : public Backend {
 public:
  explicit ForwardingBackend(Backend& inner) : inner_(inner) {}
  std::unique_ptr<DeviceMarker> make_marker() override { return inner_.make_marker(); }
  void set_component(Component c, int layer) override { inner_.set_component(c, layer); }
  Device device() const override { return inner_.device(); }
  std::string name() const override { return inner_.name(); }
  void gemm(const GemmParams& p) override { inner_.gemm(p); }
  int gemm_weight_bytes() const override { return inner_.gemm_weight_bytes(); }
  DType gemm_input_dtype() const override { return inner_.gemm_input_dtype(); }
  // run_step keeps the default (plain ops every time): a wrapper watches each op of each step.
  void forget_steps(const void* owner) override { inner_.forget_steps(owner); }
  void add_rmsnorm(const AddRmsNormParams& p) override { inner_.add_rmsnorm(p); }
  void gated_rmsnorm(const GatedRmsNormParams& p) override { inner_.gated_rmsnorm(p); }
  void conv1d(const Conv1dParams& p) override { inner_.conv1d(p); }
  void selective_scan(const SelectiveScanParams& p) override { inner_.selective_scan(p); }
  void ssd_chunked(const SsdParams& p) override { inner_.ssd_chunked(p); }
  void ssd_step(const SsdParams& p) override { inner_.ssd_step(p); }
  void embedding(const EmbeddingParams& p) override { inner_.embedding(p); }
  void argmax_rows(const ArgmaxParams& p) override { inner_.argmax_rows(p); }
  void synchronize() override { inner_.synchronize(); }

 protected:
  Backend& inner_;
};

}  // namespace perfmamba
