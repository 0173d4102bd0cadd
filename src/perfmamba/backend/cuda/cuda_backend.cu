// The CUDA backend: picks the kernel for each op (by precision, shape and CudaOptions) and owns
// what outlives an op: the bf16 weight copies, the decode steps' graphs, the fused steps' scratch.
// The kernels live in the folders beside this file, one per kind of op.
#include <nvtx3/nvToolsExt.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "perfmamba/backend/backend.hpp"
#include "perfmamba/backend/cuda/common/block_cache.hpp"
#include "perfmamba/backend/cuda/common/check.hpp"
#include "perfmamba/backend/cuda/common/convert.hpp"
#include "perfmamba/backend/cuda/common/marker.hpp"
#include "perfmamba/backend/cuda/common/step_graphs.hpp"
#include "perfmamba/backend/cuda/common/weight_cache.hpp"
#include "perfmamba/backend/cuda/conv/conv1d.hpp"
#include "perfmamba/backend/cuda/gemm/gemm.hpp"
#include "perfmamba/backend/cuda/gemm/lt_gemm.hpp"
#include "perfmamba/backend/cuda/norm/norm.hpp"
#include "perfmamba/backend/cuda/sample/argmax.hpp"
#include "perfmamba/backend/cuda/scan/scan.hpp"
#include "perfmamba/backend/cuda/step/step_scratch.hpp"
#include "perfmamba/backend/cuda/step/steps.hpp"

namespace perfmamba {
namespace {

// A block from the cache for the length of one op: freed when the op has been queued (later work
// on the stream cannot overtake it; while a graph is recorded, the block is kept for the graph).
class OpScratch {
 public:
  explicit OpScratch(size_t bytes) : p_(cuda::block_cache().alloc(bytes)) {}
  ~OpScratch() { cuda::block_cache().free(p_); }
  OpScratch(const OpScratch&) = delete;
  OpScratch& operator=(const OpScratch&) = delete;
  void* get() const { return p_; }

 private:
  void* p_;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(GemmPrecision precision, const CudaOptions& options)
      : bf16_(precision == GemmPrecision::BF16), options_(options), graphs_(weights_) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0)
      throw Error("", "--device cuda", "no CUDA device is visible to this process");
    cuda::register_cuda_memory();
    PM_CUDA(cublasCreate(&blas_));
    // Everything runs on the calling thread's default stream (the .cu files are built with
    // --default-stream per-thread), which, unlike the legacy stream, can be captured as a graph.
    PM_CUDA(cublasSetStream(blas_, cudaStreamPerThread));
    // f32 GEMMs in full f32: TF32 would cost the 1e-4 agreement with the CPU and references.
    PM_CUDA(cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH));
    cudaDeviceProp prop{};
    PM_CUDA(cudaGetDeviceProperties(&prop, 0));
    name_ = std::string("cuda:") + prop.name + (bf16_ ? " (bf16 GEMMs)" : "");
  }
  ~CudaBackend() override {
    if (range_open_) nvtxRangePop();
    cublasDestroy(blas_);
  }

  // kCount closes the current component's range without opening another.
  void set_component(Component c, int) override {
    if (range_open_) nvtxRangePop();
    range_open_ = c != Component::kCount;
    if (range_open_) nvtxRangePushA((std::string("pm:") + component_name(c)).c_str());
  }
  Device device() const override { return Device::CUDA; }
  std::string name() const override { return name_; }
  int gemm_weight_bytes() const override { return bf16_ ? 2 : 4; }
  DType gemm_input_dtype() const override { return bf16_ ? DType::BF16 : DType::F32; }

  void run_step(const StepKey& key, const std::function<void()>& ops) override {
    if (options_.graphs) return graphs_.run(key, ops);
    ops();
  }
  void forget_steps(const void* owner) override { graphs_.forget(owner); }

  void gemm(const GemmParams& p) override {
    if (p.m == 0 || p.n == 0) return;
    if (!bf16_) {
      if (p.a.is_bf16()) throw Error("cuda", "gemm", "bf16 input to an f32 GEMM");
      return lt_.run(lt_call(p, p.w, p.a.data, p.lda, false));
    }
    bool made = false;
    const void* w = weights_.bf16(p.w, size_t(p.n) * size_t(p.k), &made);
    if (options_.gemv && cuda::gemv_bf16_fits(p)) return cuda::gemv_bf16(p, w, made);
    if (p.a.is_bf16()) return bf16_gemm(p, w, p.a.data, p.lda, made);
    // f32 input (an op that keeps its output in f32 for other readers): rounded here, packed.
    OpScratch rounded(size_t(p.m) * size_t(p.k) * 2);
    cuda::to_bf16(p.a.f32(), rounded.get(), p.m, p.k, p.lda);
    bf16_gemm(p, w, rounded.get(), p.k, made);
  }

  void add_rmsnorm(const AddRmsNormParams& p) override { cuda::add_rmsnorm(p); }
  void gated_rmsnorm(const GatedRmsNormParams& p) override { cuda::gated_rmsnorm(p); }
  void conv1d(const Conv1dParams& p) override { cuda::conv1d(p); }
  void selective_scan(const SelectiveScanParams& p) override { cuda::selective_scan(p); }
  void ssd_chunked(const SsdParams& p) override { cuda::ssd_chunked(p, blas_, bf16_); }
  void ssd_step(const SsdParams& p) override { cuda::ssd_recurrent(p); }
  void embedding(const EmbeddingParams& p) override { cuda::embedding(p); }
  void argmax_rows(const ArgmaxParams& p) override { cuda::argmax_rows(p); }

  // bf16 only: the fused steps' GEMVs are the bf16 GEMVs.
  bool mamba1_layers_step(const Mamba1StepParams* layers, int n) override {
    if (!fused_ok(n) || !cuda::mamba1_steps_fit(layers, n)) return false;
    if (!scratch_[0].fits(layers, n, graphs_.recording())) return false;
    std::vector<cuda::Mamba1StepWeights> w(static_cast<size_t>(n));
    bool made = false;
    for (int i = 0; i < n; ++i) {
      const Mamba1StepParams& p = layers[i];
      const size_t E = size_t(p.d_inner), D = size_t(p.d_model);
      w[i].in_proj = weights_.bf16(p.in_proj, 2 * E * D, &made);
      w[i].x_proj = weights_.bf16(p.x_proj, (size_t(p.dt_rank) + 2 * size_t(p.d_state)) * E, &made);
      w[i].dt_proj = weights_.bf16(p.dt_proj, E * size_t(p.dt_rank), &made);
      w[i].out_proj_t = weights_.bf16_transposed(p.out_proj, D, E, &made);
    }
    for (auto& wi : w) wi.just_made = made;  // conversions queued: wait before reading any
    cuda::mamba1_steps(layers, w.data(), n, scratch_[0].view());
    return true;
  }
  bool mamba2_layers_step(const Mamba2StepParams* layers, int n) override {
    if (!fused_ok(n) || !cuda::mamba2_steps_fit(layers, n)) return false;
    if (!scratch_[1].fits(layers, n, graphs_.recording())) return false;
    std::vector<cuda::Mamba2StepWeights> w(static_cast<size_t>(n));
    bool made = false;
    for (int i = 0; i < n; ++i) {
      const Mamba2StepParams& p = layers[i];
      const size_t E = size_t(p.d_inner), D = size_t(p.d_model);
      w[i].in_proj = weights_.bf16(p.in_proj, size_t(p.in_proj_rows()) * D, &made);
      w[i].out_proj_t = weights_.bf16_transposed(p.out_proj, D, E, &made);
    }
    for (auto& wi : w) wi.just_made = made;
    cuda::mamba2_steps(layers, w.data(), n, scratch_[1].view());
    return true;
  }

  void synchronize() override { PM_CUDA(cudaDeviceSynchronize()); }
  std::unique_ptr<DeviceMarker> make_marker() override { return std::make_unique<cuda::Marker>(); }

 private:
  static cuda::LtGemm::Call lt_call(const GemmParams& p, const void* w, const void* a, int lda,
                                    bool bf16) {
    cuda::LtGemm::Call call;
    call.m = p.m, call.n = p.n, call.k = p.k, call.w = w, call.a = a, call.lda = lda,
    call.bf16 = bf16, call.bias = p.bias, call.c = p.c, call.ldc = p.ldc,
    call.accumulate = p.accumulate;
    return call;
  }
  // a in bf16: the skinny tensor-core GEMM for a few rows, else cuBLASLt.
  void bf16_gemm(const GemmParams& p, const void* w, const void* a, int lda, bool made) {
    if (options_.skinny && cuda::skinny_gemm_bf16_fits(p) && lda % 8 == 0 &&
        reinterpret_cast<uintptr_t>(a) % 16 == 0)
      return cuda::skinny_gemm_bf16(p, a, lda, w, made);
    lt_.run(lt_call(p, w, a, lda, true));
  }
  bool fused_ok(int n) const { return options_.fused_steps && bf16_ && n > 0; }

  bool bf16_;
  CudaOptions options_;
  cublasHandle_t blas_ = nullptr;  // the f32 SSD's batched products
  cuda::LtGemm lt_;                // every other GEMM
  std::string name_;
  bool range_open_ = false;
  // Declared in this order so that graphs (which hold weight copies' blocks) go before the copies.
  cuda::WeightCache weights_;
  cuda::StepGraphs graphs_;
  cuda::StepScratchStore scratch_[2];  // Mamba-1, Mamba-2
};
}  // namespace

void device_range_push(const char* name) {
  nvtxRangePushA(name);
}
void device_range_pop() {
  nvtxRangePop();
}

int cuda_device_count() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

std::unique_ptr<Backend> make_cuda_backend(GemmPrecision precision, const CudaOptions& options) {
  return std::make_unique<CudaBackend>(precision, options);
}

}  // namespace perfmamba
