#pragma once
// Parameter structs of the ops a Mamba block needs. Activations are token-major: row t = b*len+l
// of a [batch*len, width] matrix; `ld*` is the row stride in elements, so that views into a
// fused projection output (x and z halves of in_proj, B and C inside x_proj) need no copy.
// flops()/bytes() give the analytic cost of each op: the one source used by kernels' tests,
// benchmarks and the profiler.
#include <cstddef>
#include <cstdint>

#include "perfmamba/core/dtype.hpp"

namespace perfmamba {

class Tensor;

// An activation matrix an op reads: f32, or bf16 where the backend takes its GEMM inputs in bf16
// (Backend::gemm_input_dtype()). The producer writes it in that type, so no op between two GEMMs
// has to guess what the next one wants. Made implicitly from a float pointer.
struct ActIn {
  const void* data = nullptr;
  DType dtype = DType::F32;
  ActIn() = default;
  ActIn(std::nullptr_t) {}                     // NOLINT(google-explicit-constructor)
  ActIn(const float* p) : data(p) {}           // NOLINT(google-explicit-constructor)
  ActIn(const void* p, DType t) : data(p), dtype(t) {}
  explicit operator bool() const { return data != nullptr; }
  bool is_bf16() const { return dtype == DType::BF16; }
  const float* f32() const;          // the f32 data; throws for another type
  ActIn at(size_t elements) const;  // the same matrix, `elements` further on
};
// An activation matrix an op writes (see ActIn).
struct ActOut {
  void* data = nullptr;
  DType dtype = DType::F32;
  ActOut() = default;
  ActOut(std::nullptr_t) {}             // NOLINT(google-explicit-constructor)
  ActOut(float* p) : data(p) {}         // NOLINT(google-explicit-constructor)
  ActOut(void* p, DType t) : data(p), dtype(t) {}
  explicit operator bool() const { return data != nullptr; }
  bool is_bf16() const { return dtype == DType::BF16; }
  float* f32() const;
  ActOut at(size_t elements) const;
  operator ActIn() const { return {data, dtype}; }  // NOLINT(google-explicit-constructor)
};
// A tensor of f32 or bf16 as an op's output (or input), `offset` elements in.
ActOut act(Tensor& t, size_t offset = 0);
ActIn act(const Tensor& t, size_t offset = 0);

struct OpCost {
  double flops = 0;  // floating-point operations (FMA = 2)
  double bytes = 0;  // fewest bytes moved: each input read once, each output written once
};

// c[m, n] = a[m, k] @ w[n, k]^T (+ bias[n]) (+ c if accumulate)
struct GemmParams {
  int m = 0, n = 0, k = 0;
  ActIn a;  // bf16 only where the backend's gemm_input_dtype() is bf16
  int lda = 0;
  const float* w = nullptr;  // row-major [n, k]: a PyTorch Linear weight
  const float* bias = nullptr;
  float* c = nullptr;
  int ldc = 0;
  bool accumulate = false;
  // weight_bytes: bytes per weight element as the backend stores them (2 with bf16 GEMMs)
  OpCost cost(int weight_bytes = 4) const;
};

// residual += delta (if delta); out = residual / rms(residual) * weight, row by row.
struct AddRmsNormParams {
  int rows = 0, cols = 0;
  float* residual = nullptr;
  const float* delta = nullptr;
  const float* weight = nullptr;
  float eps = 1e-5f;
  ActOut out;  // [rows, cols]
  OpCost cost() const;
};

// out = rmsnorm_groupwise(y * silu(z)) * weight (Mamba-2 gated norm, norm after gate)
struct GatedRmsNormParams {
  int rows = 0, cols = 0, group_size = 0;
  const float* y = nullptr;
  int ldy = 0;
  const float* z = nullptr;
  int ldz = 0;
  const float* weight = nullptr;
  float eps = 1e-5f;
  ActOut out;
  int ldo = 0;  // equal to cols where out is bf16
  OpCost cost() const;
};

// Causal depthwise conv over time, optionally followed by SiLU. conv_state [batch, width-1,
// channels] holds the inputs before the first token; it is read as history (zeros when null)
// and, when non-null, overwritten with the last width-1 inputs, so prefill and decode steps
// chain exactly.
struct Conv1dParams {
  int batch = 0, len = 0, channels = 0, width = 0;
  const float* x = nullptr;
  int ldx = 0;
  const float* weight = nullptr;  // [channels, width]
  const float* bias = nullptr;    // [channels] or null
  float* conv_state = nullptr;
  bool silu = true;
  float* out = nullptr;
  int ldo = 0;
  // Optional: the output again in bf16, packed [batch * len, channels], for a bf16 GEMM that reads
  // it (Mamba-1's x_proj, while the scan reads the f32 out).
  void* out_bf16 = nullptr;
  OpCost cost() const;
};

// Mamba-1 selective scan with fused discretisation and gating:
//   delta = softplus(dt + dt_bias); s = exp(delta*A) * s + delta*x*B; y = s.C + D*x;
//   y *= silu(z). ssm_state [batch, d_inner, d_state] is the initial state and receives the
//   final one.
struct SelectiveScanParams {
  int batch = 0, len = 0, d_inner = 0, d_state = 0;
  const float* x = nullptr;
  int ldx = 0;
  const float* dt = nullptr;
  int lddt = 0;
  const float* dt_bias = nullptr;  // [d_inner]
  const float* A = nullptr;        // [d_inner, d_state], already -exp(A_log)
  const float* B = nullptr;
  const float* C = nullptr;
  int ldbc = 0;
  const float* D = nullptr;  // [d_inner]
  const float* z = nullptr;  // gate, or null for none
  int ldz = 0;
  float* ssm_state = nullptr;
  ActOut y;
  int ldy = 0;  // equal to d_inner where y is bf16
  OpCost cost() const;
};

// Mamba-2 SSD: heads of head_dim channels; head h uses group h / (n_heads / n_groups) of B, C.
//   delta = clamp(softplus(dt + dt_bias)); s = exp(delta*A_h) s + delta * x B^T;
//   y = s C + D_h x. ssm_state [batch, n_heads, head_dim, d_state] in/out.
struct SsdParams {
  int batch = 0, len = 0, n_heads = 0, head_dim = 0, d_state = 0, n_groups = 1;
  int chunk_size = 256;
  const float* x = nullptr;
  int ldx = 0;
  const float* B = nullptr;
  const float* C = nullptr;
  int ldbc = 0;
  const float* dt = nullptr;
  int lddt = 0;
  const float* dt_bias = nullptr;      // [n_heads]
  float dt_min = 0.0f, dt_max = 0.0f;  // clamp when dt_max > 0
  const float* A = nullptr;            // [n_heads], already -exp(A_log)
  const float* D = nullptr;            // [n_heads]
  float* ssm_state = nullptr;
  float* y = nullptr;
  int ldy = 0;
  OpCost cost() const;  // of the chunked algorithm
};

// One Mamba-1 layer for one token of one sequence (a batch-1 decode step) as a single op:
//   residual += delta (if delta); u = rmsnorm(residual) * norm; then the Mamba-1 mixer of u
//   (in_proj, conv step with SiLU, x_proj, dt_proj, scan step with softplus, D skip and SiLU(z)
//   gate, out_proj) into out. The ops one by one compute the same; a backend that can fuse them
//   saves a launch and a trip through memory per op. Weights are the f32 tensors of the layer
//   (a backend keeps its own GEMM copies); conv_state [d_conv-1, d_inner] and ssm_state
//   [d_inner, d_state] are updated. It has no cost(): the profiler times the ops one by one and
//   never receives it.
struct Mamba1StepParams {
  int d_model = 0, d_inner = 0, d_state = 0, dt_rank = 0, d_conv = 0;
  float* residual = nullptr;
  const float* delta = nullptr;  // the previous layer's out, or null
  const float* norm = nullptr;
  float eps = 1e-5f;
  const float* in_proj = nullptr;  // [2 d_inner, d_model]
  const float* in_proj_bias = nullptr;
  const float* conv_weight = nullptr;  // [d_inner, d_conv]
  const float* conv_bias = nullptr;
  float* conv_state = nullptr;
  const float* x_proj = nullptr;   // [dt_rank + 2 d_state, d_inner]
  const float* dt_proj = nullptr;  // [d_inner, dt_rank]
  const float* dt_bias = nullptr;
  const float* A = nullptr;  // [d_inner, d_state], already -exp(A_log)
  const float* D = nullptr;
  float* ssm_state = nullptr;
  const float* out_proj = nullptr;  // [d_model, d_inner]
  const float* out_proj_bias = nullptr;
  float* out = nullptr;  // [d_model]; may be the buffer delta points at
};

// One Mamba-2 layer for one token of one sequence (a batch-1 decode step) as a single op, like
// Mamba1StepParams: residual += delta (if delta); u = rmsnorm(residual) * norm; in_proj of u into
// z, xBC and dt; conv step with SiLU over xBC; SSD step (softplus(dt + dt_bias), clamped when
// dt_max > 0) with D skip; gated group RMSNorm y * silu(z); out_proj into out. conv_state
// [d_conv-1, d_inner + 2 n_groups d_state] and ssm_state [n_heads, head_dim, d_state] are updated.
struct Mamba2StepParams {
  int d_model = 0, d_inner = 0, d_state = 0, n_heads = 0, head_dim = 0, n_groups = 1, d_conv = 0;
  float* residual = nullptr;
  const float* delta = nullptr;  // the previous layer's out, or null
  const float* norm = nullptr;
  float eps = 1e-5f;               // both norms'
  const float* in_proj = nullptr;  // [2 d_inner + 2 n_groups d_state + n_heads, d_model]
  const float* in_proj_bias = nullptr;
  const float* conv_weight = nullptr;  // [d_inner + 2 n_groups d_state, d_conv]
  const float* conv_bias = nullptr;
  float* conv_state = nullptr;
  const float* dt_bias = nullptr;  // [n_heads]
  float dt_min = 0.0f, dt_max = 0.0f;
  const float* A = nullptr;  // [n_heads], already -exp(A_log)
  const float* D = nullptr;  // [n_heads]
  float* ssm_state = nullptr;
  const float* gated_norm = nullptr;  // [d_inner]
  const float* out_proj = nullptr;    // [d_model, d_inner]
  const float* out_proj_bias = nullptr;
  float* out = nullptr;  // [d_model]; may be the buffer delta points at
  int conv_dim() const { return d_inner + 2 * n_groups * d_state; }
  int in_proj_rows() const { return d_inner + conv_dim() + n_heads; }
};

// out[t, :] = table[ids[t], :]
struct EmbeddingParams {
  int tokens = 0, dim = 0, vocab = 0;
  const int32_t* ids = nullptr;
  const float* table = nullptr;
  float* out = nullptr;
  OpCost cost() const;
};

// out[r] = the column of the largest x[r, :] (the first of equals; NaN never wins): greedy
// decoding's choice, made where the logits are.
struct ArgmaxParams {
  int rows = 0, cols = 0;
  const float* x = nullptr;
  int ldx = 0;
  int32_t* out = nullptr;
  OpCost cost() const;
};

}  // namespace perfmamba
