#pragma once
// Device memory for Tensors: a caching allocator registered with core's memory accounting.
// cudaMalloc/cudaFree synchronise the device and cost tens of microseconds, which every forward
// would pay for each activation buffer. Freed blocks are kept by rounded size and handed out
// again; all work runs on one stream, so a reused block is never still in use. That holds for one
// host thread per process using the backend (perfmamba's case): each thread's per-thread default
// stream is a different stream. When cudaMalloc fails, the cache is released and the allocation
// tried once more.
#include <cstddef>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace perfmamba::cuda {

class BlockCache {
 public:
  void* alloc(size_t bytes);
  void free(void* p);
  // While a graph is recorded, freed blocks are kept for it (its replays write them) instead of
  // being handed out again; end_reserve() gives them to the graph, release() takes them back.
  void begin_reserve();
  std::vector<void*> end_reserve();
  void release(const std::vector<void*>& blocks);
  // Told of every freed block (derived copies keyed by a buffer must not outlive it).
  void listen(const void* owner, std::function<void(void*)> fn);
  void unlisten(const void* owner);

 private:
  void release_locked();
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  std::unordered_map<void*, size_t> sizes_;
  std::unordered_map<const void*, std::function<void(void*)>> listeners_;
  bool reserving_ = false;
  std::vector<void*> reserved_;
};

// The process's cache (never destroyed: tensors may outlive static teardown).
BlockCache& block_cache();
// Makes Tensors on Device::CUDA come from block_cache() (once per process).
void register_cuda_memory();

}  // namespace perfmamba::cuda
