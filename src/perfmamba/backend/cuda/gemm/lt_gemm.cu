#include <string>

#include "perfmamba/backend/cuda/common/check.hpp"
#include "perfmamba/backend/cuda/common/options.hpp"
#include "perfmamba/backend/cuda/gemm/lt_gemm.hpp"

namespace perfmamba::cuda {
namespace {
// PyTorch gives cuBLASLt as much on Hopper; split-K algorithms need it.
constexpr size_t kWorkspaceBytes = size_t(32) << 20;
constexpr int kCandidates = 8;  // the heuristic's best few; later ones were never faster
constexpr int kTimedRuns = 5;
constexpr float kClearlyFaster = 0.03f;
// Products of fewer rows (kernel_options().gemm_tune_rows, 16) keep the heuristic's choice: the
// skinny GEMM and the GEMV take most of them. Row counts share a timing by power-of-two range,
// so short prompts of new lengths cost no new timing once their range was timed, and a decode
// batch's shapes are timed once, at its first (plain) step.
int min_tuned_rows() { return kernel_options().gemm_tune_rows; }
// Each prompt length is a new shape; past this many timed shapes, new ones keep the heuristic's
// choice (a server seeing every length would otherwise time GEMMs for ever).
constexpr int kMaxTunedShapes = 64;

// Two events for timing, destroyed however the timing ends.
struct EventPair {
  cudaEvent_t start = nullptr, stop = nullptr;
  EventPair() {
    if (cudaEventCreate(&start) == cudaSuccess && cudaEventCreate(&stop) == cudaSuccess) return;
    const cudaError_t e = cudaGetLastError();
    if (start) cudaEventDestroy(start);
    check(e, "cudaEventCreate");
  }
  ~EventPair() {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
};

// The largest power of two (up to 256) dividing both the address and the leading dimension's
// bytes: what an algorithm may assume of every column.
int alignment(const void* p, size_t ld_bytes) {
  const uintptr_t v = reinterpret_cast<uintptr_t>(p) | ld_bytes | 256;
  return int(v & (~v + 1));
}

bool tuning_on() { return kernel_options().gemm_tune; }

bool capturing() {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  PM_CUDA(cudaStreamIsCapturing(cudaStreamPerThread, &status));
  return status != cudaStreamCaptureStatusNone;
}
}  // namespace

LtGemm::LtGemm() {
  PM_CUDA(cublasLtCreate(&handle_));
  if (cudaMalloc(&workspace_, kWorkspaceBytes) != cudaSuccess) {
    cudaGetLastError();
    cublasLtDestroy(handle_);
    throw Error("cuda", "cuBLASLt workspace", "cannot allocate 32 MiB on the device");
  }
}

LtGemm::~LtGemm() {
  for (auto& [key, plan] : plans_) {
    if (plan.w) cublasLtMatrixLayoutDestroy(plan.w);
    if (plan.a) cublasLtMatrixLayoutDestroy(plan.a);
    if (plan.c) cublasLtMatrixLayoutDestroy(plan.c);
    if (plan.op) cublasLtMatmulDescDestroy(plan.op);
  }
  cudaFree(workspace_);
  cublasLtDestroy(handle_);
}

void LtGemm::run(const Call& call) {
  Plan& plan = plan_for(call);
  launch(plan, call);
}

LtGemm::Plan& LtGemm::plan_for(const Call& call) {
  const size_t elem = call.bf16 ? 2 : 4;
  const int aw = alignment(call.w, size_t(call.k) * elem),
            aa = alignment(call.a, size_t(call.lda) * elem),
            ac = alignment(call.c, size_t(call.ldc) * 4);
  const Key key{call.m,      call.n,          call.k, call.lda, call.ldc, call.bf16,
                !!call.bias, call.accumulate, aw,     aa,       ac};
  // In the map before its descriptors are made, so that they are freed (by the destructor) if
  // anything below throws; a plan without its heuristic choice asks again at its next call.
  auto [it, made] = plans_.try_emplace(key);
  Plan& plan = it->second;
  if (made) {
    const cudaDataType_t in = call.bf16 ? CUDA_R_16BF : CUDA_R_32F;
    PM_CUDA(cublasLtMatmulDescCreate(&plan.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    PM_CUDA(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    PM_CUDA(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    if (call.bias) {
      const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
      PM_CUDA(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                                             sizeof epilogue));
    }
    // Row-major c = a w^T is column-major c^T[n, m] = (w as [k, n])^T (a as [k, m]).
    PM_CUDA(cublasLtMatrixLayoutCreate(&plan.w, in, call.k, call.n, call.k));
    PM_CUDA(cublasLtMatrixLayoutCreate(&plan.a, in, call.k, call.m, call.lda));
    PM_CUDA(cublasLtMatrixLayoutCreate(&plan.c, CUDA_R_32F, call.n, call.m, call.ldc));
  }
  if (!plan.ready || (!plan.tuned && !capturing())) choose(plan, call, key, aw, aa, ac);
  return plan;
}

bool LtGemm::take_family_choice(Plan& plan, const Key& family, const cublasLtMatmulAlgo_t& first) {
  const auto it = families_.find(family);
  if (it == families_.end()) return false;
  plan.algo = first;
  if (!it->second.first) {
    cublasLtMatmulHeuristicResult_t result{};
    if (cublasLtMatmulAlgoCheck(handle_, plan.op, plan.w, plan.a, plan.c, plan.c, &it->second.algo,
                                &result) == CUBLAS_STATUS_SUCCESS &&
        result.workspaceSize <= kWorkspaceBytes)
      plan.algo = it->second.algo;
  }
  plan.tuned = true;
  return true;
}

void LtGemm::choose(Plan& plan, const Call& call, const Key& key, int alignment_w, int alignment_a,
                    int alignment_c) {
  cublasLtMatmulPreference_t pref = nullptr;
  PM_CUDA(cublasLtMatmulPreferenceCreate(&pref));
  const uint64_t bytes = kWorkspaceBytes;
  const uint32_t align_w = alignment_w, align_a = alignment_a, align_c = alignment_c;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &bytes,
                                       sizeof bytes);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_w,
                                       sizeof align_w);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_a,
                                       sizeof align_a);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c,
                                       sizeof align_c);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c,
                                       sizeof align_c);
  cublasLtMatmulHeuristicResult_t found[kCandidates];
  int count = 0;
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(
      handle_, plan.op, plan.w, plan.a, plan.c, plan.c, pref, kCandidates, found, &count);
  cublasLtMatmulPreferenceDestroy(pref);
  if (status != CUBLAS_STATUS_SUCCESS || count == 0)
    throw Error("cublas", "matmul",
                "no cuBLASLt algorithm for m " + std::to_string(call.m) + ", n " +
                    std::to_string(call.n) + ", k " + std::to_string(call.k));
  if (!plan.ready) {
    plan.algo = found[0].algo;
    plan.ready = true;
  }
  // Timing runs the product again, which only an accumulating call would notice.
  plan.tuned = count == 1 || call.accumulate || !tuning_on() || call.m < min_tuned_rows();
  if (plan.tuned) return;
  // A range already timed gives its choice, in a graph being recorded too (only host calls).
  Key family = key;
  int& rows = std::get<0>(family);
  int range = 16;  // a power of two
  while (range < rows && range <= (1 << 29)) range <<= 1;
  rows = range;
  if (take_family_choice(plan, family, found[0].algo)) return;
  // Past the cap, the heuristic's first; a graph being recorded cannot be timed (the plan is
  // tuned at its first call outside one).
  plan.tuned = tuned_shapes_ >= kMaxTunedShapes;
  if (plan.tuned || capturing()) return;
  const EventPair events;
  const auto time_ms = [&](const cublasLtMatmulAlgo_t& algo) {
    // a candidate that cannot run is passed over (the heuristic's first already ran as the plan's)
    if (matmul(plan, algo, call) != CUBLAS_STATUS_SUCCESS) return -1.0f;  // warm-up
    PM_CUDA(cudaEventRecord(events.start, cudaStreamPerThread));
    for (int r = 0; r < kTimedRuns; ++r)
      if (matmul(plan, algo, call) != CUBLAS_STATUS_SUCCESS) return -1.0f;
    PM_CUDA(cudaEventRecord(events.stop, cudaStreamPerThread));
    PM_CUDA(cudaEventSynchronize(events.stop));
    float ms = 0.0f;
    PM_CUDA(cudaEventElapsedTime(&ms, events.start, events.stop));
    return ms;
  };
  // Two rounds, the second in reverse order, and each candidate's better time: a GPU whose
  // clock is still rising (the first product of a process) would otherwise favour the later
  // candidates, and the choice would change from run to run.
  float times[kCandidates];  // each candidate's better time, or < 0 where it failed
  bool first_runs = true;
  for (int i = 0; i < count; ++i) times[i] = -1.0f;
  for (int round = 0; round < 2 && first_runs; ++round)
    for (int j = 0; j < count && first_runs; ++j) {
      const int i = round == 0 ? j : count - 1 - j;
      if (i > 0 && found[i].state != CUBLAS_STATUS_SUCCESS) continue;
      const float t = time_ms(found[i].algo);
      first_runs = i > 0 || t >= 0.0f;  // else keep the heuristic's first, time nothing more
      if (t >= 0.0f && (times[i] < 0.0f || t < times[i])) times[i] = t;
    }
  const float first = first_runs ? times[0] : -1.0f;
  float best = first;
  int chosen = 0;
  for (int i = 1; i < count && first >= 0.0f; ++i)
    if (times[i] >= 0.0f && times[i] < best) best = times[i], chosen = i;
  // Another algorithm only if clearly faster than the heuristic's choice: one within timing
  // noise would make the choice (and the summation order) change from run to run.
  if (best > first * (1.0f - kClearlyFaster)) chosen = 0;
  plan.algo = found[chosen].algo;
  plan.tuned = true;
  families_[family] = {plan.algo, chosen == 0};
  ++tuned_shapes_;
}

cublasStatus_t LtGemm::matmul(const Plan& plan, const cublasLtMatmulAlgo_t& algo,
                              const Call& call) {
  if (call.bias) {
    const cublasStatus_t set = cublasLtMatmulDescSetAttribute(
        plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &call.bias, sizeof call.bias);
    if (set != CUBLAS_STATUS_SUCCESS) return set;
  }
  const float one = 1.0f, beta = call.accumulate ? 1.0f : 0.0f;
  return cublasLtMatmul(handle_, plan.op, &one, call.w, plan.w, call.a, plan.a, &beta, call.c,
                        plan.c, call.c, plan.c, &algo, workspace_, kWorkspaceBytes,
                        cudaStreamPerThread);
}

void LtGemm::launch(const Plan& plan, const Call& call) {
  check(matmul(plan, plan.algo, call), "cublasLtMatmul");
}

}  // namespace perfmamba::cuda
