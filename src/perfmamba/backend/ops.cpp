#include "perfmamba/backend/ops.hpp"

#include <algorithm>

#include "perfmamba/backend/backend.hpp"

namespace perfmamba {
namespace {
constexpr double kF = 4.0;  // bytes of an f32
}

const char* component_name(Component c) {
  static const char* const names[] = {"embedding",  "norm",     "in_proj", "conv1d",
                                      "x_proj",     "dt_proj",  "scan",    "ssd",
                                      "gated_norm", "out_proj", "norm_f",  "lm_head"};
  return names[static_cast<int>(c)];
}

OpCost GemmParams::cost(int weight_bytes) const {
  return {2.0 * m * n * k + (bias ? double(m) * n : 0.0),
          kF * (double(m) * k + double(m) * n * (accumulate ? 2 : 1) + (bias ? n : 0)) +
              double(weight_bytes) * n * k};
}

OpCost AddRmsNormParams::cost() const {
  const double e = double(rows) * cols;
  return {e * (delta ? 5 : 4), kF * (e * (delta ? 4 : 2) + cols)};
}

OpCost GatedRmsNormParams::cost() const {
  const double e = double(rows) * cols;
  return {e * 10, kF * (3 * e + cols)};  // silu ~ 5 flops, gate, square-sum, scale
}

OpCost Conv1dParams::cost() const {
  const double e = double(batch) * len * channels;
  return {e * (2.0 * width + (silu ? 5 : 0)),
          kF * (2 * e + double(channels) * (width + 1) +
                (conv_state ? 2.0 * batch * (width - 1) * channels : 0))};
}

OpCost SelectiveScanParams::cost() const {
  const double tokens = double(batch) * len, e = tokens * d_inner, en = e * d_state;
  // per (t, e, n): exp, 2 mul for decay/drive, 1 fma state, 1 fma output  ~ 7 flops
  return {en * 7 + e * 12,
          kF * (e * 4 /* x, dt, z, y */ + tokens * 2 * d_state + double(d_inner) * d_state +
                2.0 * batch * d_inner * d_state /* state in + out */ + 2.0 * d_inner)};
}

OpCost SsdParams::cost() const {
  const double q = std::min(chunk_size, std::max(len, 1));
  const double tokens = double(batch) * len, hp = double(n_heads) * head_dim;
  const double n = d_state;
  // intra-chunk: C B^T (q*q*n per group) and (L o CB) X (q*q*p per head) per chunk;
  // chunk states B^T X (q*n*p per head); inter-chunk output C S (q*n*p per head).
  const double flops =
      tokens * (2.0 * q * n * n_groups + 2.0 * q * hp + 4.0 * n * hp) + tokens * hp * 4;
  const double bytes = kF * (tokens * (2.0 * hp + 2.0 * n * n_groups + n_heads) +
                             2.0 * batch * hp * n + 3.0 * n_heads);
  return {flops, bytes};
}

OpCost EmbeddingParams::cost() const {
  return {0.0, kF * 2.0 * tokens * dim + 4.0 * tokens};
}

}  // namespace perfmamba
