// Microbenchmark: the prefill GEMM shapes of the issue-5 presets, bf16 in, f32 out and
// accumulate, as perfmamba calls them (column-major C^T[n, m] = W^T[k, n]^T A^T[k, m]).
// For each shape: cublasGemmEx's default choice, then every algorithm cuBLASLt's heuristic offers
// (up to 32), median of 20 CUDA-event timings after 3 warm-ups. Prints TFLOP/s of each, the
// best, and whether the best splits K.
// Build: nvcc -O2 -arch=sm_90 -o gemm_algos tools/device/gemm_algos.cu -lcublasLt -lcublas
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CK(x)                                                               \
  do {                                                                      \
    auto status_ = (x);                                                           \
    if (int(status_) != 0) {                                                    \
      std::printf("error %d at %s:%d\n", int(status_), __FILE__, __LINE__);      \
      std::exit(1);                                                         \
    }                                                                       \
  } while (0)

struct Shape {
  const char* name;
  int m, n, k;
};

template <class F>
float median_ms(F&& f, int reps = 20) {
  cudaEvent_t a, b;
  cudaEventCreate(&a), cudaEventCreate(&b);
  for (int i = 0; i < 3; ++i) f();
  std::vector<float> t;
  for (int i = 0; i < reps; ++i) {
    cudaEventRecord(a);
    f();
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    t.push_back(ms);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int main() {
  std::vector<Shape> shapes;
  for (int m : {2048, 16384}) {
    shapes.push_back({"m1-2.8b in_proj", m, 10240, 2560});
    shapes.push_back({"m1-2.8b x_proj", m, 192, 5120});
    shapes.push_back({"m1-2.8b dt_proj", m, 5120, 160});
    shapes.push_back({"m1-2.8b out_proj", m, 2560, 5120});
    shapes.push_back({"m1-1.4b in_proj", m, 8192, 2048});
    shapes.push_back({"m1-1.4b x_proj", m, 160, 4096});
    shapes.push_back({"m1-1.4b dt_proj", m, 4096, 128});
    shapes.push_back({"m1-1.4b out_proj", m, 2048, 4096});
    shapes.push_back({"m2-2.7b in_proj", m, 10576, 2560});
    shapes.push_back({"m2-1.3b in_proj", m, 8512, 2048});
  }
  size_t maxA = 0, maxW = 0, maxC = 0;
  for (auto& s : shapes) {
    maxA = std::max(maxA, size_t(s.m) * s.k);
    maxW = std::max(maxW, size_t(s.n) * s.k);
    maxC = std::max(maxC, size_t(s.m) * s.n);
  }
  maxW = std::max(maxW, size_t(8192) * 8192);  // the square-ish reference below
  __nv_bfloat16 *A, *W;
  float* C;
  CK(cudaMalloc(&A, maxA * 2));
  CK(cudaMalloc(&W, maxW * 2));
  CK(cudaMalloc(&C, maxC * 4));
  cudaMemset(A, 0x3c, maxA * 2);  // small finite values
  cudaMemset(W, 0x3c, maxW * 2);
  const size_t ws_bytes = 64u << 20;
  void* ws;
  CK(cudaMalloc(&ws, ws_bytes));
  cublasHandle_t blas;
  CK(cublasCreate(&blas));
  cublasLtHandle_t lt;
  CK(cublasLtCreate(&lt));
  const float one = 1, zero = 0;
  for (auto& s : shapes) {
    const double flop = 2.0 * s.m * s.n * s.k;
    const float t_default = median_ms([&] {
      cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, s.n, s.m, s.k, &one, W, CUDA_R_16BF, s.k, A,
                   CUDA_R_16BF, s.k, &zero, C, CUDA_R_32F, s.n, CUBLAS_COMPUTE_32F,
                   CUBLAS_GEMM_DEFAULT);
    });
    cublasLtMatmulDesc_t op;
    CK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    cublasLtMatrixLayout_t la, lb, lc;
    CK(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, s.k, s.n, s.k));
    CK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, s.k, s.m, s.k));
    CK(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, s.n, s.m, s.n));
    cublasLtMatmulPreference_t pref;
    CK(cublasLtMatmulPreferenceCreate(&pref));
    CK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                            &ws_bytes, sizeof ws_bytes));
    cublasLtMatmulHeuristicResult_t res[32];
    int found = 0;
    CK(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 32, res, &found));
    float best = 1e9, first = 0;
    int best_i = -1, best_split = 0;
    for (int i = 0; i < found; ++i) {
      const float t = median_ms([&] {
        cublasLtMatmul(lt, op, &one, W, la, A, lb, &zero, C, lc, C, lc, &res[i].algo, ws,
                       ws_bytes, 0);
      });
      if (i == 0) first = t;
      int split = 0;
      size_t got = 0;
      cublasLtMatmulAlgoConfigGetAttribute(&res[i].algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &split,
                                           sizeof split, &got);
      if (t < best) best = t, best_i = i, best_split = split;
    }
    std::printf(
        "%-18s m=%5d n=%5d k=%5d  default %.4f ms %5.0f TF | lt#0 %.4f ms %5.0f TF | best #%d of "
        "%d %.4f ms %5.0f TF split %d\n",
        s.name, s.m, s.n, s.k, t_default, flop / t_default / 1e9, first, flop / first / 1e9,
        best_i, found, best, flop / best / 1e9, best_split);
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la), cublasLtMatrixLayoutDestroy(lb),
        cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(op);
  }
  // the peak the bench uses, for reference
  const int n = 8192;
  const float t = median_ms([&] {
    cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, n, n / 4, n, &one, W, CUDA_R_16BF, n, A,
                 CUDA_R_16BF, n, &zero, C, CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  });
  std::printf("square-ish 8192x2048x8192: %.0f TF\n", 2.0 * n * n * (n / 4) / t / 1e9);
  return 0;
}
