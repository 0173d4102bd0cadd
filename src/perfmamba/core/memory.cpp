#include "perfmamba/core/memory.hpp"

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "perfmamba/core/error.hpp"

namespace perfmamba {
namespace {
struct Counters {
  std::atomic<int64_t> current{0}, peak{0}, count{0};
};
Counters g_counters[2];
DeviceMemoryOps g_device_ops[2];

void account(Device d, int64_t delta) {
  auto& c = g_counters[static_cast<int>(d)];
  const int64_t now = c.current.fetch_add(delta) + delta;
  int64_t peak = c.peak.load();
  while (now > peak && !c.peak.compare_exchange_weak(peak, now)) {
  }
  if (delta > 0) c.count.fetch_add(1);
}
}  // namespace

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

void register_device_memory(Device device, const DeviceMemoryOps& ops) {
  g_device_ops[static_cast<int>(device)] = ops;
}

const DeviceMemoryOps& device_memory(Device device) {
  const auto& ops = g_device_ops[static_cast<int>(device)];
  if (!ops.alloc) throw Error("", "device", std::string(device_name(device)) + " is not available in this build or process");
  return ops;
}

void* allocate(Device device, size_t bytes) {
  if (device != Device::CPU) {
    void* p = bytes ? device_memory(device).alloc(bytes) : nullptr;
    account(device, int64_t(bytes));
    return p;
  }
  // 64-byte alignment: whole cache lines and aligned AVX-512 loads.
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* p = rounded ? std::aligned_alloc(64, rounded) : nullptr;
  if (rounded && !p) throw std::bad_alloc();
  account(device, int64_t(bytes));
  return p;
}

void release(Device device, void* ptr, size_t bytes) {
  if (device == Device::CPU) std::free(ptr);
  else if (ptr) device_memory(device).free(ptr);
  account(device, -int64_t(bytes));
}

MemoryStats memory_stats(Device device) {
  auto& c = g_counters[static_cast<int>(device)];
  return {c.current.load(), c.peak.load(), c.count.load()};
}

void reset_peak_memory(Device device) {
  auto& c = g_counters[static_cast<int>(device)];
  c.peak.store(c.current.load());
}

}  // namespace perfmamba
