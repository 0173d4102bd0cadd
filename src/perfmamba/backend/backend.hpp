#pragma once
// The boundary between the model (what to compute) and a device (how). Model code calls only
// these ops; the CPU and CUDA backends implement them. Each op's parameters and analytic cost
// are in ops.hpp.
#include <memory>
#include <string>

#include "perfmamba/backend/ops.hpp"
#include "perfmamba/core/memory.hpp"

namespace perfmamba {

// The parts of a Mamba model the profiler reports. Residual adds are fused into the next norm
// and the discretisation (softplus), D skip and SiLU gate into the scan, so they are timed there.
enum class Component : uint8_t {
  Embedding, Norm, InProj, Conv1d, XProj, DtProj, Scan, Ssd, GatedNorm, OutProj, NormF, LmHead, kCount
};
const char* component_name(Component c);

// Measures device time between two points of the backend's stream without synchronising at
// either (CUDA events); seconds() waits for the stop point.
class DeviceTimer {
 public:
  virtual ~DeviceTimer() = default;
  virtual void start() = 0;
  virtual void stop() = 0;
  virtual double seconds() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Null where ops run synchronously (the CPU): time them with a host clock.
  virtual std::unique_ptr<DeviceTimer> make_timer() { return nullptr; }
  // Which component (and layer; -1 outside the layers) the next ops belong to. Free for the
  // plain backends; the profiling wrapper attributes time to it.
  virtual void set_component(Component, int /*layer*/) {}
  virtual Device device() const = 0;
  virtual std::string name() const = 0;
  virtual void gemm(const GemmParams& p) = 0;
  virtual void add_rmsnorm(const AddRmsNormParams& p) = 0;
  virtual void gated_rmsnorm(const GatedRmsNormParams& p) = 0;
  virtual void conv1d(const Conv1dParams& p) = 0;
  virtual void selective_scan(const SelectiveScanParams& p) = 0;
  virtual void ssd_chunked(const SsdParams& p) = 0;
  virtual void ssd_step(const SsdParams& p) = 0;  // recurrent form; used for decode (len 1)
  virtual void embedding(const EmbeddingParams& p) = 0;
  virtual void synchronize() {}
};

std::unique_ptr<Backend> make_cpu_backend();
// Throws a perfmamba::Error when the build has no CUDA backend or no device is visible.
std::unique_ptr<Backend> make_cuda_backend();
int cuda_device_count();  // 0 without a driver, a device or a CUDA build
// "cpu" or "cuda"
std::unique_ptr<Backend> make_backend(const std::string& device);

}  // namespace perfmamba
