#include "perfmamba/backend/cuda/common/weight_cache.hpp"

#include <cstdint>

#include "perfmamba/backend/cuda/common/block_cache.hpp"
#include "perfmamba/backend/cuda/common/convert.hpp"

namespace perfmamba::cuda {
namespace {
void convert_plain(const float* w, void* copy, size_t count, size_t) {
  to_bf16(w, copy, 1, int64_t(count), int64_t(count));
}
void convert_transposed(const float* w, void* copy, size_t count, size_t rows) {
  to_bf16_transposed(w, copy, int64_t(rows), int64_t(count / rows));
}
}  // namespace

WeightCache::WeightCache() {
  block_cache().listen(this, [this](void* p) { forget(p); });
}

WeightCache::~WeightCache() {
  block_cache().unlisten(this);
  for (auto* map : {&plain_, &transposed_})
    for (auto& [key, copy] : *map) block_cache().free(copy.data);
}

const void* WeightCache::bf16(const float* w, size_t count, bool* made) {
  return find_or_make(plain_, w, count, made, convert_plain, 1);
}

const void* WeightCache::bf16_transposed(const float* w, size_t rows, size_t cols, bool* made) {
  return find_or_make(transposed_, w, rows * cols, made, convert_transposed, rows);
}

const void* WeightCache::find_or_make(Map& map, const float* w, size_t count, bool* made,
                                      void (*convert)(const float*, void*, size_t, size_t),
                                      size_t rows) {
  auto it = map.find(w);
  if (it != map.end() && it->second.count == count) return it->second.data;
  if (made) *made = true;
  if (it != map.end()) {
    block_cache().free(it->second.data);
    map.erase(it);
  }
  void* copy = block_cache().alloc(count * 2);
  try {
    convert(w, copy, count, rows);
  } catch (...) {
    block_cache().free(copy);
    throw;
  }
  map[w] = {copy, count};
  if (recording_) made_while_recording_.push_back(w);
  return copy;
}

bool WeightCache::end_recording(std::vector<void*>& blocks_for_graph) {
  recording_ = false;
  const bool any = !made_while_recording_.empty();
  for (const float* w : made_while_recording_)
    for (auto* map : {&plain_, &transposed_}) {
      auto it = map->find(w);
      if (it == map->end()) continue;
      blocks_for_graph.push_back(it->second.data);
      map->erase(it);
    }
  made_while_recording_.clear();
  return any;
}

void WeightCache::forget(void* freed) {
  for (auto* map : {&plain_, &transposed_}) {
    auto it = map->find(static_cast<const float*>(freed));
    if (it == map->end()) continue;
    void* copy = it->second.data;
    map->erase(it);
    block_cache().free(copy);
  }
}

}  // namespace perfmamba::cuda
