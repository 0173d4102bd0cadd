// The CUDA backend: device memory for Tensors, cuBLAS GEMMs, and the kernels of this folder.
#include <nvtx3/nvToolsExt.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "perfmamba/backend/backend.hpp"
#include "perfmamba/backend/cuda/cuda_check.hpp"
#include "perfmamba/backend/cuda/env_setting.hpp"
#include "perfmamba/backend/cuda/kernels.cuh"
#include "perfmamba/backend/cuda/lt_gemm.hpp"

namespace perfmamba {
namespace {
// A caching allocator: cudaMalloc/cudaFree synchronise the device and cost tens of microseconds,
// which every forward would pay for each activation buffer. Freed blocks are kept by rounded
// size and handed out again; all work runs on one stream, so a reused block is never still in
// use. That holds for one host thread per process using the backend (perfmamba's case): each
// thread's per-thread default stream is a different stream. When cudaMalloc fails, the cache is
// released and the allocation tried once more.
class BlockCache {
 public:
  void* alloc(size_t bytes) {
    const size_t size = (bytes + 511) / 512 * 512;
    std::lock_guard<std::mutex> lock(mu_);
    auto& list = free_[size];
    if (!list.empty()) {
      void* p = list.back();
      list.pop_back();
      return p;
    }
    void* p = nullptr;
    if (cudaMalloc(&p, size) != cudaSuccess) {
      cudaGetLastError();
      release_locked();
      PM_CUDA(cudaMalloc(&p, size));
    }
    sizes_[p] = size;
    return p;
  }
  void free(void* p) {
    std::vector<std::function<void(void*)>> listeners;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = sizes_.find(p);
      if (it != sizes_.end()) (reserving_ ? reserved_ : free_[it->second]).push_back(p);
      for (auto& [owner, fn] : listeners_) listeners.push_back(fn);
    }
    for (auto& fn : listeners) fn(p);
  }
  // While a graph is recorded, freed blocks are kept for it (its replays write them) instead of
  // being handed out again; end_reserve() gives them to the graph, release() takes them back.
  void begin_reserve() {
    std::lock_guard<std::mutex> lock(mu_);
    reserving_ = true;
    reserved_.clear();
  }
  std::vector<void*> end_reserve() {
    std::lock_guard<std::mutex> lock(mu_);
    reserving_ = false;
    return std::move(reserved_);
  }
  void release(const std::vector<void*>& blocks) {
    std::lock_guard<std::mutex> lock(mu_);
    for (void* p : blocks) free_[sizes_.at(p)].push_back(p);
  }
  // Told of every freed block (derived copies keyed by a buffer must not outlive it).
  void listen(const void* owner, std::function<void(void*)> fn) {
    std::lock_guard<std::mutex> lock(mu_);
    listeners_[owner] = std::move(fn);
  }
  void unlisten(const void* owner) {
    std::lock_guard<std::mutex> lock(mu_);
    listeners_.erase(owner);
  }

 private:
  void release_locked() {
    for (auto& [size, list] : free_)
      for (void* p : list) {
        cudaFree(p);
        sizes_.erase(p);
      }
    free_.clear();
  }
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  std::unordered_map<void*, size_t> sizes_;
  std::unordered_map<const void*, std::function<void(void*)>> listeners_;
  bool reserving_ = false;
  std::vector<void*> reserved_;
};
BlockCache& cache() {
  static BlockCache* c = new BlockCache;  // never destroyed: tensors may outlive static teardown
  return *c;
}
void* cuda_alloc(size_t bytes) {
  return cache().alloc(bytes);
}
void cuda_free(void* p) {
  cache().free(p);
}
void cuda_zero(void* p, size_t bytes) {
  PM_CUDA(cudaMemset(p, 0, bytes));
}
void cuda_copy(void* dst, const void* src, size_t bytes, int kind) {
  const cudaMemcpyKind k = kind == 0   ? cudaMemcpyHostToDevice
                           : kind == 1 ? cudaMemcpyDeviceToHost
                                       : cudaMemcpyDeviceToDevice;
  PM_CUDA(cudaMemcpy(dst, src, bytes, k));
}

class CudaMarker final : public DeviceMarker {
 public:
  CudaMarker() { PM_CUDA(cudaEventCreate(&event_)); }
  ~CudaMarker() override { cudaEventDestroy(event_); }
  void record() override { PM_CUDA(cudaEventRecord(event_)); }
  double seconds_since(DeviceMarker& earlier) override {
    PM_CUDA(cudaEventSynchronize(event_));
    float ms = 0;
    PM_CUDA(cudaEventElapsedTime(&ms, static_cast<CudaMarker&>(earlier).event_, event_));
    return 1e-3 * ms;
  }

 private:
  cudaEvent_t event_ = nullptr;
};

class CudaGraph final : public DeviceGraph {
 public:
  CudaGraph(cudaGraphExec_t exec, std::vector<void*> reserved)
      : exec_(exec), reserved_(std::move(reserved)) {}
  ~CudaGraph() override {
    cudaDeviceSynchronize();  // a replay may still be writing the reserved blocks
    cudaGraphExecDestroy(exec_);
    cache().release(reserved_);
  }
  void launch() override { PM_CUDA(cudaGraphLaunch(exec_, cudaStreamPerThread)); }

 private:
  cudaGraphExec_t exec_;
  std::vector<void*> reserved_;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(GemmPrecision precision) : precision_(precision) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0)
      throw Error("", "--device cuda", "no CUDA device is visible to this process");
    register_device_memory(Device::CUDA, {cuda_alloc, cuda_free, cuda_zero, cuda_copy});
    PM_CUDA(cublasCreate(&blas_));
    lt_ = std::make_unique<cuda::LtGemm>();
    // Everything runs on the calling thread's default stream (the .cu files are built with
    // --default-stream per-thread), which, unlike the legacy stream, can be captured as a graph.
    PM_CUDA(cublasSetStream(blas_, cudaStreamPerThread));
    // f32 GEMMs in full f32: TF32 would cost the 1e-4 agreement with the CPU and references.
    PM_CUDA(cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH));
    cudaDeviceProp prop{};
    PM_CUDA(cudaGetDeviceProperties(&prop, 0));
    name_ = std::string("cuda:") + prop.name +
            (precision_ == GemmPrecision::BF16 ? " (bf16 GEMMs)" : "");
    if (precision_ == GemmPrecision::BF16)
      cache().listen(this, [this](void* p) {
        if (p == rounded_.src) rounded_ = {};  // a new buffer at this address is another matrix
        if (p == unwritten_) unwritten_ = nullptr;
        if (p == held_.src && held_.copy) cache().free(std::exchange(held_, Held{}).copy);
        for (auto* copies : {&bf16_weights_, &bf16_transposed_}) {
          auto it = copies->find(static_cast<const float*>(p));
          if (it == copies->end()) continue;
          void* copy = it->second.data;
          copies->erase(it);
          cache().free(copy);
        }
      });
  }
  ~CudaBackend() override {
    cache().unlisten(this);
    if (!step_scratch_[0].all.empty() || !step_scratch_[1].all.empty())
      cudaDeviceSynchronize();  // a queued step may still use them
    for (auto& store : step_scratch_)
      for (void* p : store.all) cudaFree(p);
    if (range_open_) nvtxRangePop();
    for (auto& [key, copy] : bf16_weights_) cache().free(copy.data);
    for (auto& [key, copy] : bf16_transposed_) cache().free(copy.data);
    if (bf16_input_) cache().free(bf16_input_);
    if (held_.copy) cache().free(held_.copy);
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

  // Row-major c[m,n] = a[m,k] w[n,k]^T is column-major c^T = w a^T: one cuBLAS call.
  void gemm(const GemmParams& p) override {
    const Rounded ready = std::exchange(rounded_, Rounded{});
    const bool rounded =
        ready.src == p.a && ready.rows == p.m && ready.cols == p.k && ready.ld == p.lda;
    if (unwritten_ && p.a == unwritten_) {
      if (!rounded)
        throw Error("cuda", "gemm",
                    "reads a matrix its producer left unwritten in f32 for another product");
      unwritten_ = nullptr;
    }
    if (p.m == 0 || p.n == 0) return;
    if (precision_ == GemmPrecision::BF16 && cuda::gemv_bf16_fits(p)) {
      bool made = false;
      const void* w = bf16_weight(p.w, size_t(p.n) * size_t(p.k), &made);
      return cuda::gemv_bf16(p, w, made);
    }
    cuda::LtGemm::Call call;
    call.m = p.m, call.n = p.n, call.k = p.k, call.bias = p.bias, call.c = p.c, call.ldc = p.ldc,
    call.accumulate = p.accumulate;
    if (precision_ == GemmPrecision::BF16) {
      bool made = false;
      call.w = bf16_weight(p.w, size_t(p.n) * size_t(p.k), &made);
      const bool held = held_.src && !capturing_ && held_.src == p.a && held_.rows == p.m &&
                        held_.cols == p.k && held_.ld == p.lda;
      call.a = held ? held_.copy : rounded ? bf16_input_ : bf16_input(p.a, p.m, p.k, p.lda);
      call.lda = p.k, call.bf16 = true;
      if (cuda::skinny_gemm_bf16_fits(p)) return cuda::skinny_gemm_bf16(p, call.a, call.w, made);
    } else {
      call.w = p.w, call.a = p.a, call.lda = p.lda;
    }
    lt_->run(call);
  }
  int gemm_weight_bytes() const override { return precision_ == GemmPrecision::BF16 ? 2 : 4; }
  // Not while a graph is recorded: the copy would be made only when the graph runs, and would
  // have to live as long as the graph.
  void hold_gemm_input(const float* a, int rows, int cols, int ld) override {
    if (held_.copy) cache().free(std::exchange(held_, Held{}).copy);
    if (!a || precision_ != GemmPrecision::BF16 || capturing_ || rows < 1 || cols < 1) return;
    if (a == unwritten_)
      throw Error("cuda", "hold_gemm_input", "the matrix was left unwritten in f32");
    // kept in held_ before the conversion, so that the next call or the destructor frees it
    held_.copy = cache().alloc(size_t(rows) * size_t(cols) * 2);
    cuda::to_bf16(a, held_.copy, rows, cols, ld);
    held_.src = a, held_.rows = rows, held_.cols = cols, held_.ld = ld;
  }
  // With a bf16 copy for the next GEMM, an output only that GEMM reads is not written in f32 --
  // unless an earlier such output is still unread: one is tracked (unwritten_) at a time, so
  // the GEMM that reads it can still be checked.
  void add_rmsnorm(const AddRmsNormParams& p) override {
    void* copy = rounding_target(p.rows, p.cols);
    AddRmsNormParams q = p;
    if (copy && !unwritten_ && p.only_gemm_reads_out) q.out = nullptr;
    cuda::add_rmsnorm(q, copy);
    record_rounded(copy, p.out, p.rows, p.cols, p.cols, !q.out);
  }
  void gated_rmsnorm(const GatedRmsNormParams& p) override {
    void* copy = rounding_target(p.rows, p.cols);
    GatedRmsNormParams q = p;
    if (copy && !unwritten_ && p.only_gemm_reads_out) q.out = nullptr;
    cuda::gated_rmsnorm(q, copy);
    record_rounded(copy, p.out, p.rows, p.cols, p.ldo, !q.out);
  }
  // Mamba-1's conv output is x_proj's input (Mamba-2's goes to the SSD: no copy); the scan's
  // output is out_proj's input.
  void conv1d(const Conv1dParams& p) override {
    const int rows = p.batch * p.len;
    void* copy = p.out_feeds_gemm ? rounding_target(rows, p.channels) : nullptr;
    rounded_ = {};
    if (cuda::conv1d(p, copy)) record_rounded(copy, p.out, rows, p.channels, p.ldo);
  }
  void selective_scan(const SelectiveScanParams& p) override {
    const int rows = p.batch * p.len;
    void* copy = rounding_target(rows, p.d_inner);
    SelectiveScanParams q = p;
    if (copy && !unwritten_ && p.only_gemm_reads_y) q.y = nullptr;
    cuda::selective_scan(q, copy);
    record_rounded(copy, p.y, rows, p.d_inner, p.ldy, !q.y);
  }
  void ssd_chunked(const SsdParams& p) override {
    rounded_ = {};
    cuda::ssd_chunked(p, blas_, precision_ == GemmPrecision::BF16);
  }
  void ssd_step(const SsdParams& p) override {
    rounded_ = {};
    cuda::ssd_recurrent(p);
  }
  void embedding(const EmbeddingParams& p) override {
    rounded_ = {};
    cuda::embedding(p);
  }
  // bf16 only: the fused steps' GEMVs are the bf16 GEMVs. PERFMAMBA_CUDA_FUSED=0 runs the ops one
  // by one, for comparisons.
  bool mamba1_layers_step(const Mamba1StepParams* layers, int n) override {
    rounded_ = {};
    if (!fused_steps_on() || n <= 0 || !cuda::mamba1_steps_fit(layers, n)) return false;
    if (!step_scratch_[0].fits(layers, n, capturing_)) return false;
    std::vector<cuda::Mamba1StepWeights> w(static_cast<size_t>(n));
    bool made = false;
    for (int i = 0; i < n; ++i) {
      const Mamba1StepParams& p = layers[i];
      const size_t E = size_t(p.d_inner), D = size_t(p.d_model);
      w[i].in_proj = bf16_weight(p.in_proj, 2 * E * D, &made);
      w[i].x_proj = bf16_weight(p.x_proj, (size_t(p.dt_rank) + 2 * size_t(p.d_state)) * E, &made);
      w[i].dt_proj = bf16_weight(p.dt_proj, E * size_t(p.dt_rank), &made);
      w[i].out_proj_t = bf16_weight_transposed(p.out_proj, D, E, &made);
    }
    for (auto& wi : w) wi.just_made = made;  // conversions queued: wait before reading any
    cuda::mamba1_steps(layers, w.data(), n, step_scratch_[0].view);
    return true;
  }
  bool mamba2_layers_step(const Mamba2StepParams* layers, int n) override {
    rounded_ = {};
    if (!fused_steps_on() || n <= 0 || !cuda::mamba2_steps_fit(layers, n)) return false;
    if (!step_scratch_[1].fits(layers, n, capturing_)) return false;
    std::vector<cuda::Mamba2StepWeights> w(static_cast<size_t>(n));
    bool made = false;
    for (int i = 0; i < n; ++i) {
      const Mamba2StepParams& p = layers[i];
      const size_t E = size_t(p.d_inner), D = size_t(p.d_model);
      w[i].in_proj = bf16_weight(p.in_proj, size_t(p.in_proj_rows()) * D, &made);
      w[i].out_proj_t = bf16_weight_transposed(p.out_proj, D, E, &made);
    }
    for (auto& wi : w) wi.just_made = made;
    cuda::mamba2_steps(layers, w.data(), n, step_scratch_[1].view);
    return true;
  }
  void synchronize() override {
    if (!unwritten_) rounded_ = {};  // a copy that stands in for an unwritten matrix stays usable
    PM_CUDA(cudaDeviceSynchronize());
  }
  bool begin_capture() override {
    rounded_ = {};
    cache().begin_reserve();
    made_while_capturing_.clear();
    if (cudaStreamBeginCapture(cudaStreamPerThread, cudaStreamCaptureModeRelaxed) == cudaSuccess)
      return capturing_ = true;
    cudaGetLastError();
    cache().release(cache().end_reserve());
    return false;
  }
  std::unique_ptr<DeviceGraph> end_capture() override {
    rounded_ = {};
    cudaGraph_t graph = nullptr;
    cudaError_t err = cudaStreamEndCapture(cudaStreamPerThread, &graph);
    capturing_ = false;
    std::vector<void*> reserved = cache().end_reserve();
    // A bf16 weight copy first made while recording was only recorded, never filled: drop it
    // (and the graph, whose replays would convert it every time) so plain GEMMs make it anew.
    for (const float* w : made_while_capturing_)
      for (auto* copies : {&bf16_weights_, &bf16_transposed_}) {
        auto it = copies->find(w);
        if (it == copies->end()) continue;
        reserved.push_back(it->second.data);
        copies->erase(it);
        err = err == cudaSuccess ? cudaErrorNotReady : err;
      }
    made_while_capturing_.clear();
    if (bf16_input_) {  // the graph's GEMMs read this scratch: it goes with the graph
      reserved.push_back(bf16_input_);
      bf16_input_ = nullptr;
      bf16_input_bytes_ = 0;
    }
    cudaGraphExec_t exec = nullptr;
    if (err == cudaSuccess) err = cudaGraphInstantiate(&exec, graph, 0);
    if (graph) cudaGraphDestroy(graph);
    if (err != cudaSuccess) {
      cudaGetLastError();
      cache().release(reserved);
      return nullptr;
    }
    return std::make_unique<CudaGraph>(exec, std::move(reserved));
  }
  std::unique_ptr<DeviceMarker> make_marker() override { return std::make_unique<CudaMarker>(); }

 private:
  // The bf16 copy of a weight matrix, made on its first use. Keyed by the f32 buffer and its
  // size: weights live as long as the model, and a model's buffers are not reused while it runs.
  // made: set when the copy was made by this call (its conversion kernel is the last one queued).
  const void* bf16_weight(const float* w, size_t count, bool* made = nullptr) {
    auto it = bf16_weights_.find(w);
    if (it != bf16_weights_.end() && it->second.count == count) return it->second.data;
    if (made) *made = true;
    if (it != bf16_weights_.end()) cache().free(it->second.data);
    void* copy = cache().alloc(count * 2);
    cuda::to_bf16(w, copy, 1, int64_t(count), int64_t(count));
    bf16_weights_[w] = {copy, count};
    if (capturing_) made_while_capturing_.push_back(w);
    return copy;
  }
  // The same for the transposed copy of a [rows, cols] weight (the fused Mamba-1 step reads
  // out_proj a channel's column at a time).
  const void* bf16_weight_transposed(const float* w, size_t rows, size_t cols, bool* made) {
    const size_t count = rows * cols;
    auto it = bf16_transposed_.find(w);
    if (it != bf16_transposed_.end() && it->second.count == count) return it->second.data;
    *made = true;
    if (it != bf16_transposed_.end()) cache().free(it->second.data);
    void* copy = cache().alloc(count * 2);
    cuda::to_bf16_transposed(w, copy, int64_t(rows), int64_t(cols));
    bf16_transposed_[w] = {copy, count};
    if (capturing_) made_while_capturing_.push_back(w);
    return copy;
  }
  // The GEMM input rounded to bf16, packed (ld = cols), in a reused scratch buffer.
  const void* bf16_input(const float* a, int rows, int cols, int lda) {
    cuda::to_bf16(a, bf16_scratch(size_t(rows) * size_t(cols)), rows, cols, lda);
    return bf16_input_;
  }
  void* bf16_scratch(size_t count) {
    if (count * 2 > bf16_input_bytes_) {
      void* old = std::exchange(bf16_input_, nullptr);
      bf16_input_bytes_ = 0;  // nothing dangles if the allocation below throws
      if (old) cache().free(old);
      bf16_input_ = cache().alloc(count * 2);
      bf16_input_bytes_ = count * 2;
    }
    return bf16_input_;
  }
  // Where an op should also write its output in bf16 (the scratch the next GEMM's input is
  // rounded into), or null: f32 GEMMs, and single rows, which the GEMV reads in f32. Clears the
  // record; the op's wrapper records the copy once the op is launched (record_rounded). The
  // next GEMM takes it only if it reads exactly that matrix and no other op ran between.
  void* rounding_target(int rows, int cols) {
    rounded_ = {};
    if (precision_ != GemmPrecision::BF16 || rows < 2) return nullptr;
    return bf16_scratch(size_t(rows) * size_t(cols));
  }
  // f32_unwritten: src itself was left unwritten; only the GEMM taking the copy may read it.
  void record_rounded(const void* copy, const float* src, int rows, int cols, int ld,
                      bool f32_unwritten = false) {
    if (copy) rounded_ = {src, rows, cols, ld};
    if (f32_unwritten)
      unwritten_ = src;
    else if (src == unwritten_)
      unwritten_ = nullptr;  // written in f32 now
  }

  bool fused_steps_on() const {
    static const bool on = cuda::env_on("PERFMAMBA_CUDA_FUSED");
    return on && precision_ == GemmPrecision::BF16;
  }

  // A fused step's scratch (one for each architecture: their sums are laid out differently and
  // must be zero between steps). A larger one replaces it when a layer needs more; the old
  // ones stay (graphs recorded earlier point at them) until the backend goes.
  struct StepScratchStore {
    cuda::StepScratch view{};
    size_t sums = 0, y = 0;
    std::vector<void*> all;
    // Large enough for these layers, growing it if need be; false while recording a graph and
    // too small (a new scratch is zeroed before use, not inside a recording).
    template <class Params>
    bool fits(const Params* layers, int n, bool capturing) {
      size_t need_sums = 0, need_y = 0;
      for (int i = 0; i < n; ++i) {
        need_sums = std::max(need_sums, cuda::step_sums_floats(layers[i]));
        need_y = std::max(need_y, cuda::step_y_floats(layers[i]));
      }
      if (need_sums <= sums && need_y <= y) return true;
      if (capturing) return false;
      sums = std::max(need_sums, sums);
      y = std::max(need_y, y);
      constexpr size_t kCounterBytes = 256;
      void* base = nullptr;
      sums = (sums + 3) / 4 * 4;  // y starts 16-byte aligned (vector reductions)
      PM_CUDA(cudaMalloc(&base, kCounterBytes + (sums + y) * 4));
      all.push_back(base);
      PM_CUDA(cudaMemset(base, 0, kCounterBytes + (sums + y) * 4));
      auto* bytes = static_cast<char*>(base);
      view = {reinterpret_cast<unsigned long long*>(bytes),
              reinterpret_cast<float*>(bytes + kCounterBytes),
              reinterpret_cast<float*>(bytes + kCounterBytes) + sums};
      return true;
    }
  };

  struct Bf16Copy {
    void* data;
    size_t count;
  };
  GemmPrecision precision_;
  cublasHandle_t blas_ = nullptr;     // the SSD's batched products
  std::unique_ptr<cuda::LtGemm> lt_;  // every other GEMM
  std::string name_;
  bool range_open_ = false;
  std::unordered_map<const float*, Bf16Copy> bf16_weights_;
  // A GEMM input a norm already wrote in bf16 (into bf16_input_), and its shape.
  struct Rounded {
    const float* src = nullptr;
    int rows = 0, cols = 0, ld = 0;
  };
  Rounded rounded_;
  // A GEMM input its owner promised not to change (hold_gemm_input), rounded to bf16 once.
  struct Held : Rounded {
    void* copy = nullptr;
  };
  Held held_;
  const float* unwritten_ = nullptr;  // a producer's output that exists only as that bf16 copy
  std::unordered_map<const float*, Bf16Copy> bf16_transposed_;
  bool capturing_ = false;
  std::vector<const float*> made_while_capturing_;
  void* bf16_input_ = nullptr;
  size_t bf16_input_bytes_ = 0;
  StepScratchStore step_scratch_[2];  // Mamba-1, Mamba-2
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

std::unique_ptr<Backend> make_cuda_backend(GemmPrecision precision) {
  return std::make_unique<CudaBackend>(precision);
}

}  // namespace perfmamba
