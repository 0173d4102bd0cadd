#include "perfmamba/backend/ops.hpp"

#include <algorithm>

#include "perfmamba/backend/backend.hpp"
#include "perfmamba/core/error.hpp"
#include "perfmamba/core/tensor.hpp"

namespace perfmamba {
namespace {
constexpr double kF = 4.0;  // bytes of an f32

void require_f32(DType t) {
  if (t != DType::F32)
    throw Error("", "activation", std::string("expected f32, found ") + dtype_name(t));
}
void require_act_type(const Tensor& t) {
  if (t.dtype() != DType::F32 && t.dtype() != DType::BF16)
    throw Error("", "activation", std::string("expected f32 or bf16, found ") + dtype_name(t.dtype()));
}
double bytes_of(DType t) { return double(dtype_size(t)); }
}  // namespace

const float* ActIn::f32() const {
  if (data) require_f32(dtype);
  return static_cast<const float*>(data);
}
ActIn ActIn::at(size_t elements) const {
  return {static_cast<const char*>(data) + elements * dtype_size(dtype), dtype};
}
float* ActOut::f32() const {
  if (data) require_f32(dtype);
  return static_cast<float*>(data);
}
ActOut ActOut::at(size_t elements) const {
  return {static_cast<char*>(data) + elements * dtype_size(dtype), dtype};
}
ActOut act(Tensor& t, size_t offset) {
  require_act_type(t);
  return ActOut(t.raw(), t.dtype()).at(offset);
}
ActIn act(const Tensor& t, size_t offset) {
  require_act_type(t);
  return ActIn(t.raw(), t.dtype()).at(offset);
}

const char* component_name(Component c) {
  static const char* const names[] = {"embedding",  "norm",     "in_proj", "conv1d",
                                      "x_proj",     "dt_proj",  "scan",    "ssd",
                                      "gated_norm", "out_proj", "norm_f",  "lm_head"};
  return names[static_cast<int>(c)];
}

OpCost GemmParams::cost(int weight_bytes) const {
  return {2.0 * m * n * k + (bias ? double(m) * n : 0.0),
          bytes_of(a.dtype) * double(m) * k +
              kF * (double(m) * n * (accumulate ? 2 : 1) + (bias ? n : 0)) +
              double(weight_bytes) * n * k};
}

OpCost AddRmsNormParams::cost() const {
  const double e = double(rows) * cols;
  return {e * (delta ? 5 : 4), kF * (e * (delta ? 3 : 1) + cols) + bytes_of(out.dtype) * e};
}

OpCost GatedRmsNormParams::cost() const {
  const double e = double(rows) * cols;
  // silu ~ 5 flops, gate, square-sum, scale
  return {e * 10, kF * (2 * e + cols) + bytes_of(out.dtype) * e};
}

OpCost Conv1dParams::cost() const {
  const double e = double(batch) * len * channels;
  return {e * (2.0 * width + (silu ? 5 : 0)),
          kF * (2 * e + double(channels) * (width + 1) +
                (conv_state ? 2.0 * batch * (width - 1) * channels : 0)) +
              (out_bf16 ? 2.0 * e : 0.0)};
}

OpCost SelectiveScanParams::cost() const {
  const double tokens = double(batch) * len, e = tokens * d_inner, en = e * d_state;
  // per (t, e, n): exp, 2 mul for decay/drive, 1 fma state, 1 fma output  ~ 7 flops
  return {en * 7 + e * 12,
          kF * (e * (z ? 3 : 2) /* x, dt, z */ + tokens * 2 * d_state + double(d_inner) * d_state +
                2.0 * batch * d_inner * d_state /* state in + out */ + 2.0 * d_inner) +
              bytes_of(y.dtype) * e};
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

OpCost ArgmaxParams::cost() const {
  return {double(rows) * cols, kF * double(rows) * cols + 4.0 * rows};
}

}  // namespace perfmamba
