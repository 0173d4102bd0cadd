// Built instead of the CUDA backend when nvcc was not found at configure time.
#include "perfmamba/backend/backend.hpp"
#include "perfmamba/core/error.hpp"

namespace perfmamba {

int cuda_device_count() { return 0; }
void device_range_push(const char*) {}
void device_range_pop() {}

std::unique_ptr<Backend> make_cuda_backend(GemmPrecision, const CudaOptions&) {
  throw Error("", "--device cuda", "this build of perfmamba has no CUDA backend (configure where nvcc is found)");
}

}  // namespace perfmamba
