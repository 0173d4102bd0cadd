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
  Embedding,
  Norm,
  InProj,
  Conv1d,
  XProj,
  DtProj,
  Scan,
  Ssd,
  GatedNorm,
  OutProj,
  NormF,
  LmHead,
  kCount
};
const char* component_name(Component c);

// A point in the backend's stream (a CUDA event). Recording does not synchronise; the time
// between two points is read once the later one has passed, so ops run back to back as usual.
class DeviceMarker {
 public:
  virtual ~DeviceMarker() = default;
  virtual void record() = 0;
  // Seconds from `earlier` to this point; waits for this point.
  virtual double seconds_since(DeviceMarker& earlier) = 0;
};

// A recorded sequence of ops that replays as one launch (a CUDA graph). Buffers allocated while
// it was recorded stay reserved for it until it is destroyed.
class DeviceGraph {
 public:
  virtual ~DeviceGraph() = default;
  virtual void launch() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Ops issued between begin_capture() and end_capture() are recorded, not run. False / null
  // where the backend cannot (the CPU, and wrappers that watch each op); end_capture() is null
  // too when recording failed, and nothing is left half-captured.
  virtual bool begin_capture() { return false; }
  virtual std::unique_ptr<DeviceGraph> end_capture() { return nullptr; }
  // Null where ops run synchronously (the CPU): time them with a host clock.
  virtual std::unique_ptr<DeviceMarker> make_marker() { return nullptr; }
  // Which component (and layer; -1 outside the layers) the next ops belong to. Free for the
  // plain backends; the profiling wrapper attributes time to it.
  virtual void set_component(Component, int /*layer*/) {}
  virtual Device device() const = 0;
  virtual std::string name() const = 0;
  virtual void gemm(const GemmParams& p) = 0;
  // Bytes per GEMM weight element as stored for gemm() (the bf16 CUDA backend keeps 2).
  virtual int gemm_weight_bytes() const { return 4; }
  // Promises that the matrix at `a` (rows x cols, leading dimension ld) stays unchanged until the
  // next call (a null `a` ends it; call it before the matrix is freed): a backend that converts
  // GEMM inputs (bf16) may then convert it once for every gemm() that reads it. For timing the
  // GEMM unit alone (machine peaks); ignored while a graph is being recorded.
  virtual void hold_gemm_input(const float* /*a*/, int /*rows*/, int /*cols*/, int /*ld*/) {}
  virtual void add_rmsnorm(const AddRmsNormParams& p) = 0;
  virtual void gated_rmsnorm(const GatedRmsNormParams& p) = 0;
  virtual void conv1d(const Conv1dParams& p) = 0;
  virtual void selective_scan(const SelectiveScanParams& p) = 0;
  virtual void ssd_chunked(const SsdParams& p) = 0;
  virtual void ssd_step(const SsdParams& p) = 0;  // recurrent form; used for decode (len 1)
  virtual void embedding(const EmbeddingParams& p) = 0;
  // Whole Mamba-1 (Mamba-2) layers, one after the other, for a batch-1 decode step as one op. False
  // where the backend has no fused version for these sizes and did nothing: the model then runs the
  // ops one by one. Wrappers that watch single ops (ForwardingBackend and its kind) keep this.
  virtual bool mamba1_layers_step(const Mamba1StepParams* /*layers*/, int /*n*/) { return false; }
  virtual bool mamba2_layers_step(const Mamba2StepParams* /*layers*/, int /*n*/) { return false; }
  virtual void synchronize() {}
};

std::unique_ptr<Backend> make_cpu_backend();
// GEMM precision of the CUDA backend: F32 (full f32, no TF32) or BF16 (weights kept as bf16
// copies, activations rounded to bf16 at each GEMM's input, f32 accumulation and output; the
// chunked SSD's products also take bf16 operands; every other op stays f32).
enum class GemmPrecision { F32, BF16 };
// Throws a perfmamba::Error when the build has no CUDA backend or no device is visible.
std::unique_ptr<Backend> make_cuda_backend(GemmPrecision precision = GemmPrecision::F32);
int cuda_device_count();  // 0 without a driver, a device or a CUDA build
// Named ranges on the CPU thread for GPU profilers (NVTX); no-ops without CUDA. The CUDA backend
// opens one per component as "pm:<component>" so Nsight Compute can attribute each kernel.
void device_range_push(const char* name);
void device_range_pop();
// "cpu" or "cuda"; precision "f32" or "bf16" (bf16 needs cuda)
std::unique_ptr<Backend> make_backend(const std::string& device,
                                      const std::string& precision = "f32");

}  // namespace perfmamba
