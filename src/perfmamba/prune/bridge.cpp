#include "perfmamba/prune/bridge.hpp"

#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <functional>

#include "perfmamba/backend/forwarding_backend.hpp"
#include "perfmamba/core/error.hpp"
#include "perfmamba/core/progress.hpp"

// LAPACK (in OpenBLAS), with the hidden length of the character argument that gfortran adds.
extern "C" void dposv_(const char* uplo, const int* n, const int* nrhs, double* a, const int* lda, double* b,
                       const int* ldb, int* info, size_t uplo_len);

namespace perfmamba {
namespace {
// Passes every op through and hands each layer's out_proj GEMM to a callback (after it ran).
class OutProjTap final : public ForwardingBackend {
 public:
  using Callback = std::function<void(int layer, const GemmParams&)>;
  OutProjTap(Backend& inner, Callback cb) : ForwardingBackend(inner), cb_(std::move(cb)) {}
  void set_component(Component c, int layer) override {
    component_ = c;
    layer_ = layer;
    inner_.set_component(c, layer);
  }
  void gemm(const GemmParams& p) override {
    inner_.gemm(p);
    if (component_ == Component::OutProj && layer_ >= 0) cb_(layer_, p);
  }

 private:
  Callback cb_;
  Component component_ = Component::Embedding;
  int layer_ = -1;
};

struct LayerStats {
  int k = 0, n = 0;
  int64_t rows = 0;
  std::vector<double> yy, yt;            // Y^T Y [k, k], Y^T T [k, n]
  std::vector<double> sum_y, sum_t, sum_p;  // column sums of Y, T and of the pruned output P
  double err = 0, norm = 0;              // Σ‖P - T‖², Σ‖T‖²
};

template <class F>
void with_backend(MambaLM& m, Backend& b, F&& f) {
  Backend& plain = m.backend();
  m.set_backend(b);
  try {
    f();
  } catch (...) {
    m.set_backend(plain);
    throw;
  }
  m.set_backend(plain);
}

constexpr int kWarmup = 32;

// Statistics of one layer's out_proj over the calibration windows: the full model's block output
// as target, the pruned model's out_proj input as regressor.
LayerStats collect(MambaLM& full, MambaLM& pruned, int layer, int k, const std::vector<int32_t>& ids, int window,
                   Progress& bar, int64_t& done) {
  LayerStats s;
  const int D = full.config().d_model;
  s.k = k;
  s.n = D;
  s.yy.assign(size_t(k) * size_t(k), 0.0);
  s.yt.assign(size_t(k) * size_t(D), 0.0);
  s.sum_y.assign(size_t(k), 0.0);
  s.sum_t.assign(size_t(D), 0.0);
  s.sum_p.assign(size_t(D), 0.0);
  std::vector<float> target;
  OutProjTap full_tap(full.backend(), [&](int l, const GemmParams& p) {
    if (l != layer) return;
    target.resize(size_t(p.m) * size_t(p.n));
    for (int r = 0; r < p.m; ++r) std::memcpy(&target[size_t(r) * p.n], p.c + size_t(r) * p.ldc, sizeof(float) * size_t(p.n));
  });
  std::vector<double> y, tt;
  OutProjTap pruned_tap(full.backend(), [&](int l, const GemmParams& p) {
    if (l != layer) return;
    require(s.k == p.k && target.size() == size_t(p.m) * size_t(p.n), "", "--bridge",
            "pruned and full model disagree in shape");
    // The first positions of a window start from an empty state and carry outlier activations
    // that would dominate the means and the fit; they are left out.
    const int r0 = std::min(p.m, kWarmup);
    y.assign(size_t(p.m) * size_t(p.k), 0.0);
    tt.assign(target.size(), 0.0);
    for (int r = r0; r < p.m; ++r) {
      for (int j = 0; j < p.k; ++j) {
        y[size_t(r) * p.k + j] = p.a.f32()[size_t(r) * p.lda + j];
        s.sum_y[size_t(j)] += p.a.f32()[size_t(r) * p.lda + j];
      }
      for (int j = 0; j < p.n; ++j) {
        const double tv = target[size_t(r) * p.n + j], pv = p.c[size_t(r) * p.ldc + j];
        tt[size_t(r) * p.n + j] = tv;
        s.sum_t[size_t(j)] += tv;
        s.sum_p[size_t(j)] += pv;
        s.err += (pv - tv) * (pv - tv);
        s.norm += tv * tv;
      }
    }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, p.k, p.m, 1.0, y.data(), p.k, 1.0, s.yy.data(), p.k);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p.k, p.n, p.m, 1.0, y.data(), p.k, tt.data(), p.n, 1.0,
                s.yt.data(), p.n);
    s.rows += p.m - r0;
  });
  for (size_t i = 0; i < ids.size(); i += size_t(window)) {
    const int len = int(std::min(ids.size() - i, size_t(window)));
    with_backend(full, full_tap, [&] {
      InferenceState st = full.new_state(1);
      full.prefill(ids.data() + i, 1, len, st, false);
    });
    with_backend(pruned, pruned_tap, [&] {
      InferenceState st = pruned.new_state(1);
      pruned.prefill(ids.data() + i, 1, len, st, false);
    });
    done += len;
    bar.update(done);
  }
  return s;
}

// Σ_t ‖T_t - Y_t W^T - b‖² from the statistics alone: what the layer's error is on the calibration
// rows with out_proj weights W [D, k] and bias b (may be null).
double residual_sse(const LayerStats& s, const float* w, const float* b) {
  const int k = s.k, D = s.n;
  double sse = s.norm;  // Σ‖T‖²
  for (int c = 0; c < D; ++c) {
    const float* wc = w + size_t(c) * k;
    double quad = 0, cross = 0, mean_pred = 0;
    for (int r = 0; r < k; ++r) {
      double v = 0;  // (G w_c)_r with G symmetric, upper half stored
      for (int j = 0; j < k; ++j) v += (j >= r ? s.yy[size_t(r) * k + j] : s.yy[size_t(j) * k + r]) * wc[j];
      quad += wc[r] * v;
      cross += wc[r] * s.yt[size_t(r) * D + c];
      mean_pred += wc[r] * s.sum_y[size_t(r)];
    }
    sse += quad - 2 * cross;
    if (b) sse += double(s.rows) * b[c] * b[c] - 2 * b[c] * s.sum_t[size_t(c)] + 2 * b[c] * mean_pred;
  }
  return sse;
}

// Replaces out_proj (and its bias) of one layer from its statistics.
void solve_layer(const LayerStats& s, LayerWeights& lw, bool fit, bool bias, double ridge, int layer) {
  const double n = double(std::max<int64_t>(s.rows, 1));
  const int k = s.k, D = s.n;
  if (fit) {
    // Normal equations (Y^T Y + λI) W'^T = Y^T T + λ W^T, centred when a bias is fitted too.
    std::vector<double> a = s.yy, b = s.yt;
    for (int r = 0; r < k; ++r)
      for (int c = 0; c < r; ++c) a[size_t(r) * k + c] = a[size_t(c) * k + r];  // dsyrk filled the upper half
    if (bias) {
      for (int r = 0; r < k; ++r) {
        for (int c = 0; c < k; ++c) a[size_t(r) * k + c] -= s.sum_y[size_t(r)] * s.sum_y[size_t(c)] / n;
        for (int c = 0; c < D; ++c) b[size_t(r) * D + c] -= s.sum_y[size_t(r)] * s.sum_t[size_t(c)] / n;
      }
    } else if (lw.out_proj_bias.defined()) {  // a bias the model has stays: fit T - b
      const float* b0 = lw.out_proj_bias.f32();
      for (int r = 0; r < k; ++r)
        for (int c = 0; c < D; ++c) b[size_t(r) * D + c] -= s.sum_y[size_t(r)] * b0[c];
    }
    double diag = 0;
    for (int r = 0; r < k; ++r) diag += a[size_t(r) * k + r];
    // a floor keeps the system positive definite when --bridge-ridge is 0 and rows are few
    const double lambda = std::max(ridge, 1e-8) * diag / k + 1e-12;
    const float* w = lw.out_proj.f32();  // [D, k]
    // a is symmetric, so row-major is column-major; the right-hand sides go in column-major.
    std::vector<double> bt(size_t(k) * D);
    for (int r = 0; r < k; ++r) {
      a[size_t(r) * k + r] += lambda;
      for (int c = 0; c < D; ++c) bt[size_t(c) * k + r] = b[size_t(r) * D + c] + lambda * w[size_t(c) * k + r];
    }
    int info = 0, nrhs = D, kk = k;
    dposv_("U", &kk, &nrhs, a.data(), &kk, bt.data(), &kk, &info, 1);
    require(info == 0, "", "--bridge", "least-squares system of layer " + std::to_string(layer) +
                                          " is not positive definite (info " + std::to_string(info) + ")");
    Tensor nw = Tensor::empty({D, k});
    for (size_t j = 0; j < bt.size(); ++j) nw.f32()[j] = float(bt[j]);
    lw.out_proj = nw;
  }
  if (bias) {
    // b = mean(T) - mean(Y) W^T, through the refitted or the unchanged weights
    Tensor nb = Tensor::empty({D});
    const float* w = lw.out_proj.f32();
    for (int c = 0; c < D; ++c) {
      double v = s.sum_t[size_t(c)] / n;
      for (int r = 0; r < k; ++r) v -= s.sum_y[size_t(r)] / n * w[size_t(c) * k + r];
      nb.f32()[c] = float(v);
    }
    lw.out_proj_bias = nb;
  }
}
}  // namespace

std::optional<BridgeKind> parse_bridge(const std::string& s) {
  if (s == "none") return BridgeKind::None;
  if (s == "fold") return BridgeKind::Fold;
  if (s == "lsq") return BridgeKind::Lsq;
  if (s == "lsq+fold") return BridgeKind::LsqFold;
  return std::nullopt;
}

BridgeReport bridge_pruned(MambaLM& full, MambaConfig& pc, ModelWeights& pw, const std::vector<int32_t>& ids,
                           int window, BridgeKind kind, double ridge) {
  require(full.backend().device() == Device::CPU, "", "--bridge", "bridging runs on the CPU backend");
  require(window > kWarmup, "", "--calib-window",
          "bridging needs windows longer than " + std::to_string(kWarmup) + " tokens (their first " +
              std::to_string(kWarmup) + " are not fitted)");
  BridgeReport rep;
  if (kind == BridgeKind::None) return rep;
  const bool fit = kind == BridgeKind::Lsq || kind == BridgeKind::LsqFold;
  const bool bias = kind == BridgeKind::Fold || kind == BridgeKind::LsqFold;
  if (bias && !pc.use_bias) {  // out_proj gets a bias; transformers' use_bias adds in_proj's too, at zero
    pc.use_bias = true;
    for (LayerWeights& lw : pw.layers) {
      lw.in_proj_bias = Tensor::zeros({lw.in_proj.dim(0)});
      lw.out_proj_bias = Tensor::zeros({pc.d_model});
    }
  }
  // Layer by layer, bottom up: each layer is fitted on the inputs the layers below it, already
  // bridged, give it.
  Progress bar("bridge", int64_t(ids.size()) * pc.n_layer, "tokens");
  int64_t done = 0;
  for (int i = 0; i < pc.n_layer; ++i) {
    MambaLM pruned(pc, pw, full.backend());
    const LayerStats s = collect(full, pruned, i, pc.layers[size_t(i)].d_inner, ids, window, bar, done);
    require(s.rows > 0, "", "--calib", "no calibration rows reached the bridge of layer " + std::to_string(i));
    rep.error_before.push_back(s.norm > 0 ? s.err / s.norm : 0.0);
    LayerWeights& lw = pw.layers[size_t(i)];
    solve_layer(s, lw, fit, bias, ridge, i);
    const double sse = residual_sse(s, lw.out_proj.f32(), lw.out_proj_bias.defined() ? lw.out_proj_bias.f32() : nullptr);
    rep.error_after.push_back(s.norm > 0 ? sse / s.norm : 0.0);
  }
  finalize_weights(pc, pw);
  return rep;
}

}  // namespace perfmamba
