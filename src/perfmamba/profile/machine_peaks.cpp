#include "perfmamba/profile/machine_peaks.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "perfmamba/core/tensor.hpp"

namespace perfmamba {
namespace {
template <class Fn>
double best_seconds(Backend& be, int reps, Fn&& fn) {
  fn();  // warm-up: first touch, handles, caches
  be.synchronize();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    be.synchronize();
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}
}  // namespace

MachinePeaks measure_peaks(Backend& be) {
  MachinePeaks p;
  p.device = be.name();
  const Device dev = be.device();
  // Copy: 256 MiB each way, far beyond any cache.
  const int64_t n = int64_t(64) << 20;
  Tensor a = Tensor::zeros({n}, DType::F32, dev), b = Tensor::zeros({n}, DType::F32, dev);
  const double copy_s = best_seconds(be, 5, [&] {
    if (dev == Device::CPU) {
      const float* src = a.f32();
      float* dst = b.f32();
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
    } else {
      device_memory(dev).copy(b.raw(), a.raw(), size_t(n) * 4, 2);
    }
  });
  p.copy_bytes_per_s = 2.0 * 4.0 * double(n) / copy_s;
  // GEMM: a square product, 2048 on the CPU, 8192 on a GPU. The input comes in the backend's
  // GEMM input type, as the model's activations do, so a bf16 backend does not round it in
  // every timed call (a pass of 8 % of the product's time at 8192, which made the peak look lower
  // and every fraction of it higher).
  const bool cpu = dev == Device::CPU;
  const int m = cpu ? 2048 : 8192;
  Tensor host = Tensor::empty({m, m});
  for (int64_t i = 0; i < host.numel(); ++i)  // not zeros: some units run faster on zeros
    host.f32()[i] = float((uint64_t(i) * 2654435761u) % 1000) * 1e-3f - 0.5f;
  Tensor host_in = host;
  if (be.gemm_input_dtype() != DType::F32) {
    host_in = Tensor::empty({m, m}, be.gemm_input_dtype());
    convert_from_f32(host.f32(), host_in.dtype(), host_in.raw(), size_t(host.numel()));
  }
  Tensor x = host_in.to(dev), w = host.to(dev);
  Tensor c = Tensor::empty({m, m}, DType::F32, dev);
  const auto product = [&] { be.gemm({m, m, m, act(x), m, w.f32(), nullptr, c.f32(), m, false}); };
  if (!cpu) {
    // A GPU idle a moment ago runs below its sustained clock: products for 0.2 s first (the
    // best of 3 after one warm-up call varied by 10 % from run to run on an H100).
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 500; ++i) {
      product();
      if (i % 8 == 7) {
        be.synchronize();
        if (std::chrono::steady_clock::now() - t0 > std::chrono::milliseconds(200)) break;
      }
    }
  }
  const double gemm_s = best_seconds(be, cpu ? 3 : 10, product);
  p.gemm_flops_per_s = 2.0 * double(m) * m * m / gemm_s;
  return p;
}

}  // namespace perfmamba
