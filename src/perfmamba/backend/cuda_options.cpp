// The CUDA backend's switches, read from the environment (here, outside backend/cuda/, so that
// builds without CUDA have them too).
#include <cstdlib>
#include <cstring>

#include "perfmamba/backend/backend.hpp"

namespace perfmamba {
namespace {
bool off(const char* name) {
  const char* v = std::getenv(name);
  return v && std::strcmp(v, "0") == 0;
}
}  // namespace

CudaOptions CudaOptions::from_environment() {
  CudaOptions o;
  o.graphs = !off("PERFMAMBA_CUDA_GRAPHS");
  o.fused_steps = !off("PERFMAMBA_CUDA_FUSED");
  o.gemv = !off("PERFMAMBA_CUDA_GEMV");
  o.skinny = !off("PERFMAMBA_CUDA_SKINNY");
  return o;
}

}  // namespace perfmamba
