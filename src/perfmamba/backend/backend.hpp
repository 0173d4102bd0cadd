#pragma once
// The boundary between the model (what to compute) and a device (how). Model code calls only
// these ops; the CPU and CUDA backends implement them. Each op's parameters and analytic cost
// are in ops.hpp.
#include <functional>
#include <memory>
#include <string>
#include <vector>

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

// What a decode step reads and writes across calls: the buffers of its inference state, input
// ids and outputs, which stay at the same addresses from step to step, and the object that owns
// the weights it reads (Backend::run_step).
struct StepKey {
  const void* owner = nullptr;
  int batch = 0;
  int kind = 0;  // the owner's kinds of step over the same buffers (logits out, greedy ids out)
  std::vector<const void*> buffers;
  bool operator==(const StepKey& o) const {  // (the .cu files are C++17: no defaulted ==)
    return owner == o.owner && batch == o.batch && kind == o.kind && buffers == o.buffers;
  }
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Runs `ops`, a decode step: the same ops over the buffers of `key` each time. A backend that
  // records graphs (CUDA) runs them plainly the first time a key comes (which also settles its
  // per-shape choices), records them the second time and from then on replays the recording as
  // one launch. Temporary buffers the ops allocate are kept for the recording. Wrappers that
  // watch each op (profiler, calibration) keep this default: plain ops every time.
  virtual void run_step(const StepKey& /*key*/, const std::function<void()>& ops) { ops(); }
  // Drops the recordings made for `owner` (its weights are about to change or go).
  virtual void forget_steps(const void* /*owner*/) {}
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
  // The type in which an op hands a GEMM its input (ActOut of norms, Mamba-1's scan, ...): bf16
  // where the GEMMs take bf16 operands. Model code allocates those activations in it; a GEMM also
  // accepts f32 input and rounds it itself.
  virtual DType gemm_input_dtype() const { return DType::F32; }
  virtual void add_rmsnorm(const AddRmsNormParams& p) = 0;
  virtual void gated_rmsnorm(const GatedRmsNormParams& p) = 0;
  virtual void conv1d(const Conv1dParams& p) = 0;
  virtual void selective_scan(const SelectiveScanParams& p) = 0;
  virtual void ssd_chunked(const SsdParams& p) = 0;
  virtual void ssd_step(const SsdParams& p) = 0;  // recurrent form; used for decode (len 1)
  virtual void embedding(const EmbeddingParams& p) = 0;
  virtual void argmax_rows(const ArgmaxParams& p) = 0;
  // Whole Mamba-1 (Mamba-2) layers, one after the other, for a batch-1 decode step as one op. False
  // where the backend has no fused version for these sizes and did nothing: the model then runs the
  // ops one by one. Wrappers that watch single ops (ForwardingBackend and its kind) keep this.
  virtual bool mamba1_layers_step(const Mamba1StepParams* /*layers*/, int /*n*/) { return false; }
  virtual bool mamba2_layers_step(const Mamba2StepParams* /*layers*/, int /*n*/) { return false; }
  virtual void synchronize() {}
};

std::unique_ptr<Backend> make_cpu_backend();
// GEMM precision of the CUDA backend: F32 (full f32, no TF32) or BF16 (weights kept as bf16
// copies, GEMM inputs in bf16, f32 accumulation and output; the chunked SSD's products also take
// bf16 operands; every other op stays f32).
enum class GemmPrecision { F32, BF16 };
// The CUDA backend's switches, each on by default: the fast paths. Off, they fall back to the
// plainer path, for comparisons and tests. from_environment() reads PERFMAMBA_CUDA_GRAPHS=0,
// PERFMAMBA_CUDA_FUSED=0, PERFMAMBA_CUDA_GEMV=0, PERFMAMBA_CUDA_SKINNY=0 (docs/decisions.md).
struct CudaOptions {
  bool graphs = true;       // decode steps recorded and replayed as CUDA graphs
  bool fused_steps = true;  // batch-1 bf16 decode: all layers in one kernel
  bool gemv = true;         // one-row bf16 GEMMs: the weight-streaming GEMV
  bool skinny = true;       // 2-8-row bf16 GEMMs: the tensor-core skinny GEMM
  static CudaOptions from_environment();
};
// Throws a perfmamba::Error when the build has no CUDA backend or no device is visible.
std::unique_ptr<Backend> make_cuda_backend(GemmPrecision precision = GemmPrecision::F32,
                                           const CudaOptions& options = CudaOptions::from_environment());
int cuda_device_count();  // 0 without a driver, a device or a CUDA build
// Named ranges on the CPU thread for GPU profilers (NVTX); no-ops without CUDA. The CUDA backend
// opens one per component as "pm:<component>" so Nsight Compute can attribute each kernel.
void device_range_push(const char* name);
void device_range_pop();
// "cpu" or "cuda"; precision "f32" or "bf16" (bf16 needs cuda)
std::unique_ptr<Backend> make_backend(const std::string& device,
                                      const std::string& precision = "f32");

}  // namespace perfmamba
