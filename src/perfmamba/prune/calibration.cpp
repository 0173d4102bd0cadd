#include "perfmamba/prune/calibration.hpp"

#include <algorithm>
#include <cmath>

#include "perfmamba/backend/forwarding_backend.hpp"
#include "perfmamba/core/error.hpp"
#include "perfmamba/core/progress.hpp"

namespace perfmamba {
namespace {
double softplus(double v) { return v > 20 ? v : std::log1p(std::exp(v)); }

class CalibratingBackend final : public ForwardingBackend {
 public:
  CalibratingBackend(Backend& inner, Calibration& cal) : ForwardingBackend(inner), cal_(cal) {}
  void set_component(Component c, int layer) override {
    layer_ = layer;
    inner_.set_component(c, layer);
  }

  // Mamba-1: decay activity 1 - exp(Δ A[e, n]), drive Δ |x| |B_n|, readout |C_n|.
  void selective_scan(const SelectiveScanParams& p) override {
    LayerCalibration& l = layer(p.d_inner, p.d_state);
    const int E = p.d_inner, N = p.d_state;
    for (int r = 0; r < p.batch * p.len; ++r) {
      const float* B = p.B + size_t(r) * p.ldbc;
      const float* C = p.C + size_t(r) * p.ldbc;
      for (int e = 0; e < E; ++e) {
        const double d = softplus(double(p.dt[size_t(r) * p.lddt + e]) + p.dt_bias[e]);
        const double ax = std::fabs(p.x[size_t(r) * p.ldx + e]);
        l.delta_sum[size_t(e)] += d;
        double gain = std::fabs(p.D ? p.D[e] : 0.0f);
        for (int n = 0; n < N; ++n) {
          const double act = -std::expm1(d * p.A[size_t(e) * N + n]);
          const double bc = std::fabs(B[n]) * std::fabs(C[n]);
          l.decay_activity[size_t(n)] += act;
          l.drive[size_t(n)] += d * ax * std::fabs(B[n]);
          l.delta_state[size_t(n)] += act * bc;
          gain += d * bc / std::max(act, 1e-9);
        }
        l.channel_drive[size_t(e)] += gain * ax;
      }
      for (int n = 0; n < N; ++n) l.readout[size_t(n)] += std::fabs(C[n]);
    }
    l.tokens += p.batch * p.len;
    inner_.selective_scan(p);
  }

  // Mamba-2: A is one scalar per head, so the state index n only enters through B and C; a
  // state's activity is the Δ-weighted input drive times its readout, summed over heads.
  void ssd_chunked(const SsdParams& p) override {
    LayerCalibration& l = layer(p.n_heads, p.d_state);
    const int H = p.n_heads, N = p.d_state, hpg = H / p.n_groups;
    for (int r = 0; r < p.batch * p.len; ++r) {
      for (int h = 0; h < H; ++h) {
        double d = softplus(double(p.dt[size_t(r) * p.lddt + h]) + p.dt_bias[h]);
        if (p.dt_max > 0) d = std::min(std::max(d, double(p.dt_min)), double(p.dt_max));
        l.delta_sum[size_t(h)] += d;
        double xx = 0;
        const float* xh = p.x + size_t(r) * p.ldx + size_t(h) * p.head_dim;
        for (int i = 0; i < p.head_dim; ++i) xx += double(xh[i]) * xh[i];
        const int g = h / hpg;
        const float* B = p.B + size_t(r) * p.ldbc + size_t(g) * N;
        const float* C = p.C + size_t(r) * p.ldbc + size_t(g) * N;
        const double act = -std::expm1(d * p.A[h]);
        double bc = 0;
        for (int n = 0; n < N; ++n) bc += std::fabs(B[n]) * std::fabs(C[n]);
        l.channel_drive[size_t(h)] += (d * bc / std::max(act, 1e-9) + std::fabs(p.D ? p.D[h] : 0.0f)) * std::sqrt(xx);
        for (int n = 0; n < N; ++n) {
          l.decay_activity[size_t(n)] += act;
          l.drive[size_t(n)] += d * std::fabs(B[n]);
          l.readout[size_t(n)] += std::fabs(C[n]);
          l.delta_state[size_t(n)] += d * std::fabs(B[n]) * std::fabs(C[n]);
        }
      }
    }
    l.tokens += p.batch * p.len;
    inner_.ssd_chunked(p);
  }

 private:
  LayerCalibration& layer(int channels, int states) {
    LayerCalibration& l = cal_.layers.at(size_t(layer_));
    if (l.delta_sum.empty()) {
      l.delta_sum.assign(size_t(channels), 0.0);
      l.channel_drive.assign(size_t(channels), 0.0);
      for (auto* v : {&l.decay_activity, &l.drive, &l.readout, &l.delta_state}) v->assign(size_t(states), 0.0);
    }
    return l;
  }
  Calibration& cal_;
  int layer_ = 0;
};
}  // namespace

Calibration calibrate(MambaLM& model, const std::vector<int32_t>& ids, int window) {
  require(model.backend().device() == Device::CPU, "", "--device", "calibration runs on the CPU backend");
  require(window >= 2, "", "--calib-window", "must be at least 2");
  Calibration cal;
  cal.layers.resize(size_t(model.config().n_layer));
  Backend& plain = model.backend();
  CalibratingBackend cb(plain, cal);
  model.set_backend(cb);
  Progress bar("calibrate", int64_t(ids.size()), "tokens");
  try {
    for (size_t i = 0; i < ids.size(); i += size_t(window)) {
      const int len = int(std::min(ids.size() - i, size_t(window)));
      InferenceState st = model.new_state(1);
      model.prefill(ids.data() + i, 1, len, st, false);
      cal.tokens += len;
      bar.update(int64_t(i) + len);
    }
  } catch (...) {
    model.set_backend(plain);
    throw;
  }
  model.set_backend(plain);
  return cal;
}

}  // namespace perfmamba
