#pragma once
// Every CUDA and cuBLAS call is checked; a failure becomes a perfmamba::Error naming the call.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "perfmamba/core/error.hpp"

namespace perfmamba::cuda {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error("cuda", what, cudaGetErrorString(e));
}
inline void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw Error("cublas", what, "status " + std::to_string(int(s)));
}
// After a kernel launch: launch errors now, execution errors at the next synchronisation.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace perfmamba::cuda

#define PM_CUDA(call) ::perfmamba::cuda::check((call), #call)
