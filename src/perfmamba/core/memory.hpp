#pragma once
// Memory accounting: every Tensor buffer is taken through allocate()/release() so that the
// profiler can report current and peak bytes per device without asking the OS.
#include <cstddef>
#include <cstdint>

namespace perfmamba {

enum class Device : uint8_t { CPU, CUDA };
const char* device_name(Device d);

struct MemoryStats {
  int64_t current_bytes = 0;
  int64_t peak_bytes = 0;
  int64_t total_allocations = 0;
};

// How a non-CPU device allocates and moves bytes. The CUDA backend registers its functions when
// it is created, so that core code (Tensor) needs no CUDA headers.
struct DeviceMemoryOps {
  void* (*alloc)(size_t bytes) = nullptr;
  void (*free)(void* ptr) = nullptr;
  void (*memset_zero)(void* ptr, size_t bytes) = nullptr;
  // kind: 0 host->device, 1 device->host, 2 device->device
  void (*copy)(void* dst, const void* src, size_t bytes, int kind) = nullptr;
};
void register_device_memory(Device device, const DeviceMemoryOps& ops);
const DeviceMemoryOps& device_memory(Device device);  // throws if none is registered

void* allocate(Device device, size_t bytes);
void release(Device device, void* ptr, size_t bytes);
MemoryStats memory_stats(Device device);
// Starts a new peak window: peak := current.
void reset_peak_memory(Device device);

}  // namespace perfmamba
