#include <algorithm>
#include <cmath>
#include <vector>

#include "perfmamba/backend/cpu/kernels.hpp"
#include "perfmamba/backend/cpu/math.hpp"

namespace perfmamba::cpu {
namespace {
// Channels per block: one AVX-512 register of f32. The state of a block lives in a
// [d_state][kBlock] tile, so every inner loop runs across channels (contiguous in x, dt, z and
// in the tile) and any d_state works, pruned ones included, with no wasted lanes.
constexpr int kBlock = 16;

void scan_block(const SelectiveScanParams& p, int b, int e0, std::vector<float>& tile) {
  const int N = p.d_state, nc = std::min(kBlock, p.d_inner - e0);
  tile.assign(size_t(N) * kBlock * 2, 0.0f);
  float* s = tile.data();                 // [N][kBlock] state
  float* at = s + size_t(N) * kBlock;     // [N][kBlock] A transposed
  float* state = p.ssm_state + size_t(b) * p.d_inner * N;
  for (int c = 0; c < nc; ++c)
    for (int n = 0; n < N; ++n) {
      s[size_t(n) * kBlock + c] = state[size_t(e0 + c) * N + n];
      at[size_t(n) * kBlock + c] = p.A[size_t(e0 + c) * N + n];
    }
  float delta[kBlock], dx[kBlock], y[kBlock];
  for (int t = 0; t < p.len; ++t) {
    const size_t row = size_t(b) * p.len + t;
    const float* x = p.x + row * p.ldx + e0;
    const float* dt = p.dt + row * p.lddt + e0;
    const float* Bt = p.B + row * p.ldbc;
    const float* Ct = p.C + row * p.ldbc;
#pragma omp simd
    for (int c = 0; c < nc; ++c) {
      delta[c] = softplus(dt[c] + p.dt_bias[e0 + c]);
      dx[c] = delta[c] * x[c];
      y[c] = 0.0f;
    }
    for (int n = 0; n < N; ++n) {
      float* sn = s + size_t(n) * kBlock;
      const float* an = at + size_t(n) * kBlock;
      const float bn = Bt[n], cn = Ct[n];
#pragma omp simd
      for (int c = 0; c < nc; ++c) {
        sn[c] = std::exp(delta[c] * an[c]) * sn[c] + dx[c] * bn;
        y[c] += sn[c] * cn;
      }
    }
    float* out = p.y + row * p.ldy + e0;
    const float* z = p.z ? p.z + row * p.ldz + e0 : nullptr;
#pragma omp simd
    for (int c = 0; c < nc; ++c) {
      const float v = y[c] + p.D[e0 + c] * x[c];
      out[c] = z ? v * silu(z[c]) : v;
    }
  }
  for (int c = 0; c < nc; ++c)
    for (int n = 0; n < N; ++n) state[size_t(e0 + c) * N + n] = s[size_t(n) * kBlock + c];
}
}  // namespace

void selective_scan(const SelectiveScanParams& p) {
  const int blocks = (p.d_inner + kBlock - 1) / kBlock;
#pragma omp parallel
  {
    std::vector<float> tile;
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < p.batch; ++b)
      for (int blk = 0; blk < blocks; ++blk) scan_block(p, b, blk * kBlock, tile);
  }
}

}  // namespace perfmamba::cpu
