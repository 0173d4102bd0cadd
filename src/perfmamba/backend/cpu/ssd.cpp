#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "perfmamba/backend/cpu/kernels.hpp"
#include "perfmamba/backend/cpu/math.hpp"

namespace perfmamba::cpu {
namespace {

struct Rows {  // pointers to row `row` of every input, for head h
  const float *x, *B, *C;
  float dt_raw;
};

inline float discretize(const SsdParams& p, float dt_raw, int h) {
  float d = softplus(dt_raw + p.dt_bias[h]);
  if (p.dt_max > 0.0f) d = std::min(std::max(d, p.dt_min), p.dt_max);
  return d;
}

inline Rows rows(const SsdParams& p, size_t row, int h) {
  const int g = h / (p.n_heads / p.n_groups);
  return {p.x + row * p.ldx + size_t(h) * p.head_dim, p.B + row * p.ldbc + size_t(g) * p.d_state,
          p.C + row * p.ldbc + size_t(g) * p.d_state, p.dt[row * p.lddt + h]};
}

// One chunk of one (batch, head): intra-chunk output from the precomputed C B^T, the
// contribution of the incoming state, the D skip, then the state handed to the next chunk.
// Decays are differences of a double-precision cumulative sum: within a chunk of 256 tokens
// the f32 differences of large sums would lose most of their digits.
struct ChunkScratch {
  std::vector<double> cum;
  std::vector<float> delta, M, tmp, xw;
};

void chunk_head(const SsdParams& p, int b, int h, int t0, int q, const float* CB,
                ChunkScratch& w) {
  const int P = p.head_dim, N = p.d_state;
  const size_t row0 = size_t(b) * p.len + t0;
  const Rows r0 = rows(p, row0, h);
  w.cum.resize(q);
  w.delta.resize(q);
  double acc = 0.0;
  for (int s = 0; s < q; ++s) {
    w.delta[s] = discretize(p, p.dt[(row0 + s) * p.lddt + h], h);
    acc += double(w.delta[s]) * p.A[h];
    w.cum[s] = acc;
  }
  // M = (C B^T) o decay(t, s) o delta(s), lower triangular
  w.M.assign(size_t(q) * q, 0.0f);
  for (int t = 0; t < q; ++t) {
    const double ct = w.cum[t];
#pragma omp simd
    for (int s = 0; s <= t; ++s)
      w.M[size_t(t) * q + s] =
          CB[size_t(t) * q + s] * exp_fast(float(ct - w.cum[s])) * w.delta[s];
  }
  float* y = p.y + row0 * p.ldy + size_t(h) * P;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, q, P, q, 1.0f, w.M.data(), q, r0.x,
              p.ldx, 0.0f, y, p.ldy);
  // Incoming state: y[t] += exp(cum[t]) * C[t] S^T, with S laid out [P][N].
  float* S = p.ssm_state + (size_t(b) * p.n_heads + h) * P * N;
  w.tmp.resize(size_t(q) * P);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, q, P, N, 1.0f, r0.C, p.ldbc, S, N, 0.0f,
              w.tmp.data(), P);
  for (int t = 0; t < q; ++t) {
    const float decay = float(std::exp(w.cum[t]));
    const float* x = r0.x + size_t(t) * p.ldx;
    float* yt = y + size_t(t) * p.ldy;
    const float* tt = w.tmp.data() + size_t(t) * P;
#pragma omp simd
    for (int i = 0; i < P; ++i) yt[i] += decay * tt[i] + p.D[h] * x[i];
  }
  // S <- exp(cum[q-1]) S + sum_s exp(cum[q-1] - cum[s]) delta[s] x[s]^T B[s]
  w.xw.resize(size_t(q) * P);
  for (int s = 0; s < q; ++s) {
    const float f = float(std::exp(w.cum[q - 1] - w.cum[s])) * w.delta[s];
    const float* x = r0.x + size_t(s) * p.ldx;
#pragma omp simd
    for (int i = 0; i < P; ++i) w.xw[size_t(s) * P + i] = f * x[i];
  }
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, P, N, q, 1.0f, w.xw.data(), P, r0.B,
              p.ldbc, float(std::exp(w.cum[q - 1])), S, N);
}
}  // namespace

void ssd_chunked(const SsdParams& p) {
  const int Q = p.chunk_size, G = p.n_groups;
  std::vector<float> CB(size_t(p.batch) * G * Q * Q);
  for (int t0 = 0; t0 < p.len; t0 += Q) {
    const int q = std::min(Q, p.len - t0);
#pragma omp parallel
    {
#pragma omp for collapse(2)
      for (int b = 0; b < p.batch; ++b)
        for (int g = 0; g < G; ++g) {
          const Rows r = rows(p, size_t(b) * p.len + t0, g * (p.n_heads / G));
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, q, q, p.d_state, 1.0f, r.C,
                      p.ldbc, r.B, p.ldbc, 0.0f, CB.data() + (size_t(b) * G + g) * Q * Q, q);
        }
      ChunkScratch scratch;
#pragma omp for collapse(2)
      for (int b = 0; b < p.batch; ++b)
        for (int h = 0; h < p.n_heads; ++h) {
          const int g = h / (p.n_heads / G);
          chunk_head(p, b, h, t0, q, CB.data() + (size_t(b) * G + g) * Q * Q, scratch);
        }
    }
  }
}

void ssd_recurrent(const SsdParams& p) {
  const int P = p.head_dim, N = p.d_state;
#pragma omp parallel for collapse(2) if (size_t(p.batch) * p.n_heads * P * N > 8192)
  for (int b = 0; b < p.batch; ++b) {
    for (int h = 0; h < p.n_heads; ++h) {
      float* S = p.ssm_state + (size_t(b) * p.n_heads + h) * P * N;
      for (int t = 0; t < p.len; ++t) {
        const size_t row = size_t(b) * p.len + t;
        const Rows r = rows(p, row, h);
        const float delta = discretize(p, r.dt_raw, h);
        const float dA = exp_fast(delta * p.A[h]);
        float* y = p.y + row * p.ldy + size_t(h) * P;
        for (int i = 0; i < P; ++i) {
          float* s = S + size_t(i) * N;
          const float dx = delta * r.x[i];
          float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
          for (int n = 0; n < N; ++n) {
            s[n] = dA * s[n] + dx * r.B[n];
            acc += s[n] * r.C[n];
          }
          y[i] = acc + p.D[h] * r.x[i];
        }
      }
    }
  }
}

}  // namespace perfmamba::cpu
