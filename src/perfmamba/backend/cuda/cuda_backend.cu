// The CUDA backend: device memory for Tensors, cuBLAS GEMMs, and the kernels of this folder.
#include <memory>

#include "perfmamba/backend/backend.hpp"
#include "perfmamba/backend/cuda/cuda_check.hpp"
#include "perfmamba/backend/cuda/kernels.cuh"

namespace perfmamba {
namespace {
void* cuda_alloc(size_t bytes) {
  void* p = nullptr;
  PM_CUDA(cudaMalloc(&p, bytes));
  return p;
}
void cuda_free(void* p) { cudaFree(p); }  // never throws from a destructor
void cuda_zero(void* p, size_t bytes) { PM_CUDA(cudaMemset(p, 0, bytes)); }
void cuda_copy(void* dst, const void* src, size_t bytes, int kind) {
  const cudaMemcpyKind k = kind == 0 ? cudaMemcpyHostToDevice : kind == 1 ? cudaMemcpyDeviceToHost : cudaMemcpyDeviceToDevice;
  PM_CUDA(cudaMemcpy(dst, src, bytes, k));
}

class CudaBackend final : public Backend {
 public:
  CudaBackend() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0)
      throw Error("", "--device cuda", "no CUDA device is visible to this process");
    register_device_memory(Device::CUDA, {cuda_alloc, cuda_free, cuda_zero, cuda_copy});
    PM_CUDA(cublasCreate(&blas_));
    // f32 GEMMs in full f32: TF32 would cost the 1e-4 agreement with the CPU and references.
    PM_CUDA(cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH));
    cudaDeviceProp prop{};
    PM_CUDA(cudaGetDeviceProperties(&prop, 0));
    name_ = std::string("cuda:") + prop.name;
  }
  ~CudaBackend() override { cublasDestroy(blas_); }

  Device device() const override { return Device::CUDA; }
  std::string name() const override { return name_; }

  // Row-major c[m,n] = a[m,k] w[n,k]^T is column-major c^T = w a^T: one cuBLAS call.
  void gemm(const GemmParams& p) override {
    if (p.m == 0 || p.n == 0) return;
    float beta = p.accumulate ? 1.0f : 0.0f;
    if (p.bias) {
      cuda::fill_rows(p.c, p.m, p.n, p.ldc, p.bias, p.accumulate);
      beta = 1.0f;
    }
    const float alpha = 1.0f;
    PM_CUDA(cublasSgemm(blas_, CUBLAS_OP_T, CUBLAS_OP_N, p.n, p.m, p.k, &alpha, p.w, p.k, p.a, p.lda, &beta,
                        p.c, p.ldc));
  }
  void add_rmsnorm(const AddRmsNormParams& p) override { cuda::add_rmsnorm(p); }
  void gated_rmsnorm(const GatedRmsNormParams& p) override { cuda::gated_rmsnorm(p); }
  void conv1d(const Conv1dParams& p) override { cuda::conv1d(p); }
  void selective_scan(const SelectiveScanParams& p) override { cuda::selective_scan(p); }
  void ssd_chunked(const SsdParams& p) override { cuda::ssd_recurrent(p); }
  void ssd_step(const SsdParams& p) override { cuda::ssd_recurrent(p); }
  void embedding(const EmbeddingParams& p) override { cuda::embedding(p); }
  void synchronize() override { PM_CUDA(cudaDeviceSynchronize()); }

 private:
  cublasHandle_t blas_ = nullptr;
  std::string name_;
};
}  // namespace

int cuda_device_count() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

std::unique_ptr<Backend> make_cuda_backend() { return std::make_unique<CudaBackend>(); }

}  // namespace perfmamba
