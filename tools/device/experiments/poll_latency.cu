// On the GPU machine: how long one poll of a flag in L2 (what a grid barrier's waiter does)
// takes while the SMs stream weights, and whether an SM that streams nothing itself polls faster
// than one that does. The decode step's barriers get slower with more bytes in flight
// (benchmarks.md, session 8); this tells whether the poll queues behind its own SM's loads or
// behind the whole memory system's.
// Built by pack_binaries.sh, run by shortfall_evidence.sh.
#include <cuda_runtime.h>

#include <cstdio>
#include <vector>

constexpr int kThreads = 512, kPolls = 2000;

__device__ unsigned long long now_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// Every block streams its slice of `buf` with `depth` 16-byte loads a lane in flight (warps 1..),
// unless it is one of the first `quiet` blocks; warp 0 lane 0 of the blocks in `probe` polls
// `flag` kPolls times, one after the other, and records the mean time of a poll.
__global__ void poll_under_load(const uint4* buf, size_t per_block, int depth, int quiet,
                                unsigned long long* flag, double* poll_ns, unsigned* sink,
                                unsigned long long* bytes) {
  __shared__ volatile int stop;
  if (threadIdx.x == 0) stop = 0;
  __syncthreads();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const bool streams = int(blockIdx.x) >= quiet;
  if (warp == 0) {
    if (lane == 0) {
      // Let the stream ramp up first.
      const unsigned long long t0 = now_ns();
      while (now_ns() - t0 < 20000) {
      }
      unsigned long long seen = 0, acc = 0;
      const unsigned long long start = now_ns();
      for (int i = 0; i < kPolls; ++i) {
        asm volatile("ld.acquire.gpu.global.u64 %0, [%1];" : "=l"(seen) : "l"(flag) : "memory");
        acc += seen;
      }
      const unsigned long long end = now_ns();
      poll_ns[blockIdx.x] = double(end - start) / kPolls;
      sink[blockIdx.x * 2 + 1] = unsigned(acc);
      stop = 1;
    }
    return;
  }
  if (!streams) return;
  const uint4* src = buf + size_t(blockIdx.x) * per_block;
  unsigned x = 0;
  size_t at = size_t(warp - 1) * 32 * 16 + lane, loaded = 0;
  const size_t step = size_t(kThreads / 32 - 1) * 32 * 16;
  while (!stop) {
    uint4 v[16];
#pragma unroll
    for (int u = 0; u < 16; ++u)
      if (u < depth) v[u] = __ldcs(src + (at + u * 32) % per_block);
#pragma unroll
    for (int u = 0; u < 16; ++u)
      if (u < depth) x ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
    at += step;
    loaded += size_t(depth) * 32 * 16;
  }
  if (x == 0x12345678u) sink[blockIdx.x * 2] = x;
  if (lane == 0) atomicAdd(bytes, (unsigned long long)loaded);
}

int main() {
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  const size_t per_block = (size_t(24) << 20) / 16;  // 24 MiB a block: mostly not in L2
  uint4* buf;
  unsigned long long *flag, *bytes;
  double* poll_ns;
  unsigned* sink;
  cudaMalloc(&buf, per_block * 16 * sms);
  cudaMemset(buf, 1, per_block * 16 * sms);
  cudaMalloc(&flag, 8);
  cudaMemset(flag, 0, 8);
  cudaMalloc(&bytes, 8);
  cudaMalloc(&poll_ns, sms * sizeof(double));
  cudaMalloc(&sink, 2 * sms * sizeof(unsigned));
  std::vector<double> host(sms);
  std::printf("%6s %6s %10s %10s %10s %10s\n", "depth", "quiet", "quiet ns", "stream ns", "max ns",
              "GB/s");
  struct Case {
    const char* name;
    int depth, quiet;
  };
  std::vector<Case> cases = {{"idle (no stream)", 0, 0}};
  for (int depth : {2, 4, 6, 8, 12, 16})
    for (int quiet : {0, sms / 8, sms / 4}) cases.push_back({"", depth, quiet});
  for (const Case& c : cases) {
    for (int rep = 0; rep < 3; ++rep) {
      cudaMemset(bytes, 0, 8);
      cudaEvent_t a, b;
      cudaEventCreate(&a);
      cudaEventCreate(&b);
      cudaEventRecord(a);
      poll_under_load<<<sms, kThreads>>>(buf, per_block, c.depth, c.quiet, flag, poll_ns, sink,
                                         bytes);
      cudaEventRecord(b);
      cudaEventSynchronize(b);
      float ms = 0;
      cudaEventElapsedTime(&ms, a, b);
      unsigned long long moved = 0;
      cudaMemcpy(&moved, bytes, 8, cudaMemcpyDeviceToHost);
      cudaMemcpy(host.data(), poll_ns, sms * sizeof(double), cudaMemcpyDeviceToHost);
      double quiet = 0, stream = 0, mx = 0;
      int nq = 0, ns = 0;
      for (int i = 0; i < sms; ++i) {
        (i < c.quiet ? (++nq, quiet) : (++ns, stream)) += host[i];
        mx = host[i] > mx ? host[i] : mx;
      }
      if (rep == 2)
        std::printf("%6d %6d %10.0f %10.0f %10.0f %10.0f\n", c.depth, c.quiet,
                    nq ? quiet / nq : 0.0, ns ? stream / ns : 0.0, mx, moved / (ms * 1e6));
    }
  }
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) std::printf("error: %s\n", cudaGetErrorString(e));
  return 0;
}
