#pragma once
// GEMMs through cuBLASLt: c[m, n] = a[m, k] w[n, k]^T (+ bias in the epilogue, + c when
// accumulating), f32 or bf16 operands, f32 accumulate and output. For each shape, the fastest of
// the algorithms cuBLASLt's heuristic offers is kept, timed once on first use (its first choice
// was up to 10 % slower on mamba-1.4b's in_proj; tools/device/gemm_algos.cu) when the product
// has 16 rows or more (PERFMAMBA_GEMM_TUNE_ROWS). Row counts in the same power-of-two range share the timing: a prompt
// of a new length takes the choice made for its range (if cuBLASLt accepts it for the shape)
// instead of timing again, so a length's algorithm (and summation order) can depend on which
// length of its range came first in the process. PERFMAMBA_GEMM_TUNE=0 keeps the heuristic's
// first choice everywhere.
#include <cublasLt.h>

#include <cstdint>
#include <map>
#include <tuple>

namespace perfmamba::cuda {

class LtGemm {
 public:
  LtGemm();
  ~LtGemm();
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;

  struct Call {
    int m = 0, n = 0, k = 0;
    const void* w = nullptr;  // [n, k], leading dimension k
    const void* a = nullptr;  // [m, k], leading dimension lda
    int lda = 0;
    bool bf16 = false;  // w and a in bf16, else f32
    const float* bias = nullptr;
    float* c = nullptr;
    int ldc = 0;
    bool accumulate = false;
  };
  // On the calling thread's default stream; while it is being captured into a graph, a shape
  // not seen before takes the heuristic's first algorithm untimed (and keeps it in that graph;
  // calls outside it may later time the others).
  void run(const Call& call);

 private:
  // shape, types, epilogue and the alignments the algorithm may assume
  using Key = std::tuple<int, int, int, int, int, bool, bool, bool, int, int, int>;
  // (m, n, k, lda, ldc, bf16, bias, accumulate, alignments of w, a and c)
  struct Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t w = nullptr, a = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool ready = false;  // algo holds the heuristic's choice
    bool tuned = false;  // algo timed against the other candidates (or nothing to time)
  };
  Plan& plan_for(const Call& call);
  void choose(Plan& plan, const Call& call, const Key& key, int alignment_w, int alignment_a,
              int alignment_c);
  // The algorithm a timing chose for a family of shapes, and whether it was the heuristic's
  // first (then each shape of the family takes its own first).
  struct Choice {
    cublasLtMatmulAlgo_t algo{};
    bool first = true;
  };
  bool take_family_choice(Plan& plan, const Key& family, const cublasLtMatmulAlgo_t& first);
  cublasStatus_t matmul(const Plan& plan, const cublasLtMatmulAlgo_t& algo, const Call& call);
  void launch(const Plan& plan, const Call& call);

  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  std::map<Key, Plan> plans_;
  std::map<Key, Choice> families_;  // by Key with m rounded up to a power of two
  int tuned_shapes_ = 0;            // shapes timed so far (bounded: prompts of many lengths)
};

}  // namespace perfmamba::cuda
