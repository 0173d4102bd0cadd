#pragma once
// Parameter structs of the ops a Mamba block needs. Activations are token-major: row t = b*len+l
// of a [batch*len, width] matrix; `ld*` is the row stride in elements, so that views into a
// fused projection output (x and z halves of in_proj, B and C inside x_proj) need no copy.
// flops()/bytes() give the analytic cost of each op: the one source used by kernels' tests,
// benchmarks and the profiler.
#include <cstdint>

namespace perfmamba {

struct OpCost {
  double flops = 0;  // floating-point operations (FMA = 2)
  double bytes = 0;  // fewest bytes moved: each input read once, each output written once
};

// c[m, n] = a[m, k] @ w[n, k]^T (+ bias[n]) (+ c if accumulate)
struct GemmParams {
  int m = 0, n = 0, k = 0;
  const float* a = nullptr;
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
  float* out = nullptr;
  // Only the next op, a GEMM reading all of out, reads it: a backend that hands that GEMM its
  // own copy (bf16) may leave out unwritten.
  bool only_gemm_reads_out = false;
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
  float* out = nullptr;
  int ldo = 0;
  bool only_gemm_reads_out = false;  // as in AddRmsNormParams
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
  bool out_feeds_gemm = false;  // a GEMM reads out next (a backend may prepare that GEMM's input)
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
  float* y = nullptr;
  int ldy = 0;
  bool only_gemm_reads_y = false;  // as in AddRmsNormParams
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

}  // namespace perfmamba
