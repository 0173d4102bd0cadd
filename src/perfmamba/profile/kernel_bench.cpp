#include "perfmamba/profile/kernel_bench.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <random>

#include "perfmamba/core/tensor.hpp"

namespace perfmamba {
namespace {
// Random values in [lo, hi) on the backend's device.
Tensor uniform(int64_t n, float lo, float hi, Device dev, std::mt19937& rng) {
  Tensor h = Tensor::empty({n});
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < n; ++i) h.f32()[i] = u(rng);
  return h.to(dev);
}

double median_seconds(Backend& be, int repeats, const std::function<void()>& fn) {
  fn();  // warm-up
  be.synchronize();
  std::vector<double> t;
  auto start = be.make_marker(), stop = be.make_marker();
  for (int r = 0; r < repeats; ++r) {
    if (start) {
      start->record();
      fn();
      stop->record();
      t.push_back(stop->seconds_since(*start));
    } else {
      const auto t0 = std::chrono::steady_clock::now();
      fn();
      be.synchronize();
      t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}
}  // namespace

std::vector<KernelTiming> bench_layer_kernels(Backend& be, const MambaConfig& c, int batch, int len, int repeats) {
  const LayerDims& l = c.layers.at(0);
  const Device dev = be.device();
  const int64_t T = int64_t(batch) * len;
  std::mt19937 rng(1234);
  std::vector<KernelTiming> out;
  auto time = [&](const char* op, OpCost cost, const std::function<void()>& fn) {
    out.push_back({op, batch, len, median_seconds(be, repeats, fn), cost});
  };

  const int conv_ch = c.arch == Arch::Mamba1 ? l.d_inner : c.conv_dim(l);
  Tensor conv_x = uniform(T * conv_ch, -1, 1, dev, rng), conv_w = uniform(int64_t(conv_ch) * c.d_conv, -0.5f, 0.5f, dev, rng);
  Tensor conv_b = uniform(conv_ch, -0.1f, 0.1f, dev, rng);
  Tensor conv_state = Tensor::zeros({int64_t(batch) * std::max(c.d_conv - 1, 1) * conv_ch}, DType::F32, dev);
  Tensor conv_out = Tensor::empty({T * conv_ch}, DType::F32, dev);
  const Conv1dParams cp{batch, len, conv_ch, c.d_conv, conv_x.f32(), conv_ch, conv_w.f32(), conv_b.f32(),
                        c.d_conv > 1 ? conv_state.f32() : nullptr, true, conv_out.f32(), conv_ch};
  time("conv1d", cp.cost(), [&] { be.conv1d(cp); });

  // The projections (the GEMMs of a step are skinny: at decode they stream their weights).
  auto gemm = [&](const char* op, int n, int k) {
    Tensor a = uniform(T * k, -1, 1, dev, rng), w = uniform(int64_t(n) * k, -0.05f, 0.05f, dev, rng);
    Tensor prod = Tensor::empty({T * n}, DType::F32, dev);
    const GemmParams g{int(T), n, k, a.f32(), k, w.f32(), nullptr, prod.f32(), n, false};
    time(op, g.cost(be.gemm_weight_bytes()), [&] { be.gemm(g); });
  };
  const int E = l.d_inner, N = l.d_state;
  if (c.arch == Arch::Mamba1) {
    gemm("in_proj", 2 * E, c.d_model);
    gemm("x_proj", c.dt_rank + 2 * N, E);
    gemm("dt_proj", E, c.dt_rank);
  } else {
    gemm("in_proj", c.in_proj_dim(l), c.d_model);
  }
  gemm("out_proj", c.d_model, E);
  if (T <= 64) gemm("lm_head", c.vocab_size, c.d_model);  // its logits at prefill lengths would take gigabytes
  if (c.arch == Arch::Mamba1) {
    Tensor x = uniform(T * E, -1, 1, dev, rng), dt = uniform(T * E, -4, 1, dev, rng), z = uniform(T * E, -1, 1, dev, rng);
    Tensor bc = uniform(T * 2 * N, -1, 1, dev, rng), bias = uniform(E, -1, 0.5f, dev, rng);
    Tensor A = uniform(int64_t(E) * N, -8, -0.1f, dev, rng), D = uniform(E, -1, 1, dev, rng);
    Tensor state = Tensor::zeros({int64_t(batch) * E * N}, DType::F32, dev), y = Tensor::empty({T * E}, DType::F32, dev);
    SelectiveScanParams p;
    p.batch = batch, p.len = len, p.d_inner = E, p.d_state = N, p.x = x.f32(), p.ldx = E, p.dt = dt.f32(), p.lddt = E;
    p.dt_bias = bias.f32(), p.A = A.f32(), p.B = bc.f32(), p.C = bc.f32() + N, p.ldbc = 2 * N, p.D = D.f32();
    p.z = z.f32(), p.ldz = E, p.ssm_state = state.f32(), p.y = y.f32(), p.ldy = E;
    time("selective_scan", p.cost(), [&] { be.selective_scan(p); });
  } else {
    const int H = l.n_heads, P = l.head_dim, G = c.n_groups;
    Tensor x = uniform(T * E, -1, 1, dev, rng), bc = uniform(T * 2 * G * N, -1, 1, dev, rng);
    Tensor dt = uniform(T * H, -4, 1, dev, rng), bias = uniform(H, -1, 0.5f, dev, rng);
    Tensor A = uniform(H, -8, -0.5f, dev, rng), D = uniform(H, -1, 1, dev, rng);
    Tensor state = Tensor::zeros({int64_t(batch) * E * N}, DType::F32, dev), y = Tensor::empty({T * E}, DType::F32, dev);
    SsdParams p;
    p.batch = batch, p.len = len, p.n_heads = H, p.head_dim = P, p.d_state = N, p.n_groups = G, p.chunk_size = c.chunk_size;
    p.x = x.f32(), p.ldx = E, p.B = bc.f32(), p.C = bc.f32() + G * N, p.ldbc = 2 * G * N, p.dt = dt.f32(), p.lddt = H;
    p.dt_bias = bias.f32(), p.A = A.f32(), p.D = D.f32(), p.ssm_state = state.f32(), p.y = y.f32(), p.ldy = E;
    time("ssd", p.cost(), [&] { len == 1 ? be.ssd_step(p) : be.ssd_chunked(p); });
  }
  return out;
}

}  // namespace perfmamba
