#pragma once
// The backend's switches for comparisons (PERFMAMBA_CUDA_GEMV=0 and the like), read from the
// environment.
#include <cstdlib>
#include <cstring>

namespace perfmamba::cuda {

// The integer value of the variable `name`, or fallback where it is unset or empty.
inline int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

// False only where the variable `name` is set to "0".
inline bool env_on(const char* name) {
  const char* v = std::getenv(name);
  return !(v && std::strcmp(v, "0") == 0);
}

}  // namespace perfmamba::cuda
