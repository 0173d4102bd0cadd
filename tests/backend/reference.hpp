#pragma once
// Plain float64 loops that state each op's definition, for the kernels' tests. Same parameter
// structs as the kernels; outputs in double.
#include <cmath>
#include <vector>

#include "perfmamba/backend/ops.hpp"

namespace perfmamba::reference {

inline double softplus(double v) { return v > 20.0 ? v : std::log1p(std::exp(v)); }
inline double silu(double v) { return v / (1.0 + std::exp(-v)); }

// c = a w^T + bias
inline std::vector<double> gemm(const GemmParams& p) {
  std::vector<double> c(size_t(p.m) * p.n);
  for (int i = 0; i < p.m; ++i)
    for (int j = 0; j < p.n; ++j) {
      double acc = p.bias ? p.bias[j] : 0.0;
      for (int k = 0; k < p.k; ++k) acc += double(p.a.f32()[size_t(i) * p.lda + k]) * p.w[size_t(j) * p.k + k];
      c[size_t(i) * p.n + j] = acc;
    }
  return c;
}

// Conv output [batch*len, channels] and the new state [batch, width-1, channels].
inline void conv1d(const Conv1dParams& p, const std::vector<float>& state_in,
                   std::vector<double>& out, std::vector<double>& state_out) {
  const int hist = p.width - 1, C = p.channels;
  auto at = [&](int b, int pos, int c) -> double {  // timeline position, history first
    if (pos < hist) return state_in.empty() ? 0.0 : state_in[(size_t(b) * hist + pos) * C + c];
    return p.x[(size_t(b) * p.len + pos - hist) * p.ldx + c];
  };
  out.assign(size_t(p.batch) * p.len * C, 0.0);
  state_out.assign(size_t(p.batch) * hist * C, 0.0);
  for (int b = 0; b < p.batch; ++b)
    for (int c = 0; c < C; ++c) {
      for (int t = 0; t < p.len; ++t) {
        double acc = p.bias ? p.bias[c] : 0.0;
        for (int k = 0; k < p.width; ++k) acc += double(p.weight[size_t(c) * p.width + k]) * at(b, t + k, c);
        out[(size_t(b) * p.len + t) * C + c] = p.silu ? silu(acc) : acc;
      }
      for (int j = 0; j < hist; ++j) state_out[(size_t(b) * hist + j) * C + c] = at(b, p.len + j, c);
    }
}

// Sequential recurrence of the Mamba-1 selective scan. state: [batch, d_inner, d_state].
inline std::vector<double> selective_scan(const SelectiveScanParams& p, std::vector<double>& state) {
  const int E = p.d_inner, N = p.d_state;
  std::vector<double> y(size_t(p.batch) * p.len * E);
  for (int b = 0; b < p.batch; ++b)
    for (int e = 0; e < E; ++e) {
      double* s = state.data() + (size_t(b) * E + e) * N;
      for (int t = 0; t < p.len; ++t) {
        const size_t row = size_t(b) * p.len + t;
        const double x = p.x[row * p.ldx + e];
        const double delta = softplus(double(p.dt[row * p.lddt + e]) + p.dt_bias[e]);
        double acc = 0;
        for (int n = 0; n < N; ++n) {
          s[n] = std::exp(delta * p.A[size_t(e) * N + n]) * s[n] + delta * x * p.B[row * p.ldbc + n];
          acc += s[n] * p.C[row * p.ldbc + n];
        }
        acc += p.D[e] * x;
        if (p.z) acc *= silu(p.z[row * p.ldz + e]);
        y[row * E + e] = acc;
      }
    }
  return y;
}

// Sequential recurrence of Mamba-2 SSD. state: [batch, n_heads, head_dim, d_state].
inline std::vector<double> ssd(const SsdParams& p, std::vector<double>& state) {
  const int H = p.n_heads, P = p.head_dim, N = p.d_state, hpg = H / p.n_groups;
  std::vector<double> y(size_t(p.batch) * p.len * H * P);
  for (int b = 0; b < p.batch; ++b)
    for (int h = 0; h < H; ++h) {
      const int g = h / hpg;
      for (int t = 0; t < p.len; ++t) {
        const size_t row = size_t(b) * p.len + t;
        double delta = softplus(double(p.dt[row * p.lddt + h]) + p.dt_bias[h]);
        if (p.dt_max > 0) delta = std::min(std::max(delta, double(p.dt_min)), double(p.dt_max));
        const double dA = std::exp(delta * p.A[h]);
        for (int i = 0; i < P; ++i) {
          double* s = state.data() + ((size_t(b) * H + h) * P + i) * N;
          const double x = p.x[row * p.ldx + size_t(h) * P + i];
          double acc = 0;
          for (int n = 0; n < N; ++n) {
            s[n] = dA * s[n] + delta * x * p.B[row * p.ldbc + size_t(g) * N + n];
            acc += s[n] * p.C[row * p.ldbc + size_t(g) * N + n];
          }
          y[row * H * P + size_t(h) * P + i] = acc + p.D[h] * x;
        }
      }
    }
  return y;
}

inline std::vector<double> rmsnorm(const float* x, const float* weight, int rows, int cols, double eps) {
  std::vector<double> out(size_t(rows) * cols);
  for (int r = 0; r < rows; ++r) {
    double ss = 0;
    for (int i = 0; i < cols; ++i) ss += double(x[size_t(r) * cols + i]) * x[size_t(r) * cols + i];
    const double scale = 1.0 / std::sqrt(ss / cols + eps);
    for (int i = 0; i < cols; ++i) out[size_t(r) * cols + i] = weight[i] * x[size_t(r) * cols + i] * scale;
  }
  return out;
}

inline std::vector<double> gated_rmsnorm(const GatedRmsNormParams& p) {
  std::vector<double> out(size_t(p.rows) * p.cols);
  for (int r = 0; r < p.rows; ++r)
    for (int g0 = 0; g0 < p.cols; g0 += p.group_size) {
      std::vector<double> v(p.group_size);
      double ss = 0;
      for (int i = 0; i < p.group_size; ++i) {
        v[i] = double(p.y[size_t(r) * p.ldy + g0 + i]) * silu(p.z[size_t(r) * p.ldz + g0 + i]);
        ss += v[i] * v[i];
      }
      const double scale = 1.0 / std::sqrt(ss / p.group_size + p.eps);
      for (int i = 0; i < p.group_size; ++i) out[size_t(r) * p.cols + g0 + i] = p.weight[g0 + i] * v[i] * scale;
    }
  return out;
}

}  // namespace perfmamba::reference
