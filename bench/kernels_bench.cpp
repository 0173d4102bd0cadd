// CPU kernel micro-benchmarks at the 130m shapes, with achieved GB/s and GFLOP/s computed from
// the ops' analytic costs (ops.hpp), the same numbers the profiler uses.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "perfmamba/backend/cpu/kernels.hpp"

namespace {
using namespace perfmamba;

std::vector<float> random_vec(size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

void report(benchmark::State& state, const OpCost& c) {
  state.counters["GB/s"] = benchmark::Counter(c.bytes * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] = benchmark::Counter(c.flops * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

// Mamba-1 130m: d_inner 1536, d_state 16
void BM_SelectiveScan(benchmark::State& state) {
  const int L = int(state.range(0)), E = 1536, N = 16, ldbc = 2 * N;
  auto x = random_vec(size_t(L) * E, -1, 1, 1), dt = random_vec(size_t(L) * E, -4, 0, 2);
  auto bias = random_vec(E, -1, 0, 3), A = random_vec(size_t(E) * N, -8, -1, 4);
  auto bc = random_vec(size_t(L) * ldbc, -1, 1, 5), D = random_vec(E, -1, 1, 6);
  auto z = random_vec(size_t(L) * E, -1, 1, 7), s = random_vec(size_t(E) * N, 0, 0, 8);
  std::vector<float> y(size_t(L) * E);
  SelectiveScanParams p;
  p.batch = 1, p.len = L, p.d_inner = E, p.d_state = N, p.x = x.data(), p.ldx = E;
  p.dt = dt.data(), p.lddt = E, p.dt_bias = bias.data(), p.A = A.data(), p.B = bc.data();
  p.C = bc.data() + N, p.ldbc = ldbc, p.D = D.data(), p.z = z.data(), p.ldz = E;
  p.ssm_state = s.data(), p.y = y.data(), p.ldy = E;
  for (auto _ : state) cpu::selective_scan(p);
  report(state, p.cost());
}

// Mamba-2 130m: 24 heads of 64, d_state 128, one group, chunk 256
void BM_SsdChunked(benchmark::State& state) {
  const int L = int(state.range(0)), H = 24, P = 64, N = 128, E = H * P, ld = E + 2 * N;
  auto xbc = random_vec(size_t(L) * ld, -1, 1, 1), dt = random_vec(size_t(L) * H, -4, 0, 2);
  auto bias = random_vec(H, -1, 0, 3), A = random_vec(H, -8, -1, 4), D = random_vec(H, -1, 1, 5);
  std::vector<float> s(size_t(H) * P * N), y(size_t(L) * E);
  SsdParams p;
  p.batch = 1, p.len = L, p.n_heads = H, p.head_dim = P, p.d_state = N, p.n_groups = 1;
  p.chunk_size = 256, p.x = xbc.data(), p.ldx = ld, p.B = xbc.data() + E, p.C = xbc.data() + E + N;
  p.ldbc = ld, p.dt = dt.data(), p.lddt = H, p.dt_bias = bias.data(), p.A = A.data(), p.D = D.data();
  p.ssm_state = s.data(), p.y = y.data(), p.ldy = E;
  for (auto _ : state) cpu::ssd_chunked(p);
  report(state, p.cost());
}

void BM_Conv1d(benchmark::State& state) {
  const int L = int(state.range(0)), C = 1536, K = 4;
  auto x = random_vec(size_t(L) * C, -1, 1, 1), w = random_vec(size_t(C) * K, -1, 1, 2);
  auto b = random_vec(C, -1, 1, 3);
  std::vector<float> out(size_t(L) * C);
  Conv1dParams p{1, L, C, K, x.data(), C, w.data(), b.data(), nullptr, true, out.data(), C};
  for (auto _ : state) cpu::conv1d(p);
  report(state, p.cost());
}

// The memory-bandwidth ceiling the decode numbers are judged against: a 1 GiB copy, counting
// bytes read plus bytes written.
void BM_MemoryCopy(benchmark::State& state) {
  const size_t n = size_t(1) << 28;  // floats
  std::vector<float> a(n, 1.0f), b(n, 0.0f);
  for (auto _ : state) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; ++i) b[i] = a[i];
    benchmark::DoNotOptimize(b.data());
  }
  state.counters["GB/s"] = benchmark::Counter(8.0 * n * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

BENCHMARK(BM_MemoryCopy)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SelectiveScan)->Arg(512)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SsdChunked)->Arg(512)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Conv1d)->Arg(512)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();
}  // namespace

BENCHMARK_MAIN();
