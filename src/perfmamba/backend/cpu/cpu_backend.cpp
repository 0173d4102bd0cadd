#include "perfmamba/backend/backend.hpp"
#include "perfmamba/backend/cpu/kernels.hpp"
#include "perfmamba/core/error.hpp"

namespace perfmamba {
namespace {
class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::CPU; }
  std::string name() const override { return "cpu"; }
  void gemm(const GemmParams& p) override { cpu::gemm(p); }
  void add_rmsnorm(const AddRmsNormParams& p) override { cpu::add_rmsnorm(p); }
  void gated_rmsnorm(const GatedRmsNormParams& p) override { cpu::gated_rmsnorm(p); }
  void conv1d(const Conv1dParams& p) override { cpu::conv1d(p); }
  void selective_scan(const SelectiveScanParams& p) override { cpu::selective_scan(p); }
  void ssd_chunked(const SsdParams& p) override { cpu::ssd_chunked(p); }
  void ssd_step(const SsdParams& p) override { cpu::ssd_recurrent(p); }
  void embedding(const EmbeddingParams& p) override { cpu::embedding(p); }
  void argmax_rows(const ArgmaxParams& p) override { cpu::argmax_rows(p); }
};
}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

std::unique_ptr<Backend> make_backend(const std::string& device, const std::string& precision) {
  if (precision != "f32" && precision != "bf16")
    throw Error("", "--precision", "expected f32 or bf16, found '" + precision + "'");
  if (device == "cpu") {
    if (precision != "f32") throw Error("", "--precision", "bf16 GEMMs run on --device cuda only");
    return make_cpu_backend();
  }
  if (device == "cuda") return make_cuda_backend(precision == "bf16" ? GemmPrecision::BF16 : GemmPrecision::F32);
  throw Error("", "--device", "expected cpu or cuda, found '" + device + "'");
}

}  // namespace perfmamba
