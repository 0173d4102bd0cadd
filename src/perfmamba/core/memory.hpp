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

void* allocate(Device device, size_t bytes);
void release(Device device, void* ptr, size_t bytes);
MemoryStats memory_stats(Device device);
// Starts a new peak window: peak := current.
void reset_peak_memory(Device device);

}  // namespace perfmamba
