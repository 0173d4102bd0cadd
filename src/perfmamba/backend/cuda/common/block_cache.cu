#include "perfmamba/backend/cuda/common/block_cache.hpp"

#include <cuda_runtime.h>

#include "perfmamba/backend/cuda/common/check.hpp"
#include "perfmamba/core/memory.hpp"

namespace perfmamba::cuda {

void* BlockCache::alloc(size_t bytes) {
  const size_t size = (bytes + 511) / 512 * 512;
  std::lock_guard<std::mutex> lock(mu_);
  auto& list = free_[size];
  if (!list.empty()) {
    void* p = list.back();
    list.pop_back();
    return p;
  }
  void* p = nullptr;
  if (cudaMalloc(&p, size) != cudaSuccess) {
    cudaGetLastError();
    release_locked();
    PM_CUDA(cudaMalloc(&p, size));
  }
  sizes_[p] = size;
  return p;
}

void BlockCache::free(void* p) {
  std::vector<std::function<void(void*)>> listeners;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sizes_.find(p);
    if (it != sizes_.end()) (reserving_ ? reserved_ : free_[it->second]).push_back(p);
    for (auto& [owner, fn] : listeners_) listeners.push_back(fn);
  }
  for (auto& fn : listeners) fn(p);
}

void BlockCache::begin_reserve() {
  std::lock_guard<std::mutex> lock(mu_);
  reserving_ = true;
  reserved_.clear();
}

std::vector<void*> BlockCache::end_reserve() {
  std::lock_guard<std::mutex> lock(mu_);
  reserving_ = false;
  return std::move(reserved_);
}

void BlockCache::release(const std::vector<void*>& blocks) {
  std::lock_guard<std::mutex> lock(mu_);
  for (void* p : blocks) free_[sizes_.at(p)].push_back(p);
}

void BlockCache::listen(const void* owner, std::function<void(void*)> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  listeners_[owner] = std::move(fn);
}

void BlockCache::unlisten(const void* owner) {
  std::lock_guard<std::mutex> lock(mu_);
  listeners_.erase(owner);
}

void BlockCache::release_locked() {
  for (auto& [size, list] : free_)
    for (void* p : list) {
      cudaFree(p);
      sizes_.erase(p);
    }
  free_.clear();
}

BlockCache& block_cache() {
  static BlockCache* c = new BlockCache;
  return *c;
}

namespace {
void* cuda_alloc(size_t bytes) { return block_cache().alloc(bytes); }
void cuda_free(void* p) { block_cache().free(p); }
void cuda_zero(void* p, size_t bytes) { PM_CUDA(cudaMemset(p, 0, bytes)); }
void cuda_copy(void* dst, const void* src, size_t bytes, int kind) {
  const cudaMemcpyKind k = kind == 0   ? cudaMemcpyHostToDevice
                           : kind == 1 ? cudaMemcpyDeviceToHost
                                       : cudaMemcpyDeviceToDevice;
  PM_CUDA(cudaMemcpy(dst, src, bytes, k));
}
}  // namespace

void register_cuda_memory() {
  register_device_memory(Device::CUDA, {cuda_alloc, cuda_free, cuda_zero, cuda_copy});
}

}  // namespace perfmamba::cuda
