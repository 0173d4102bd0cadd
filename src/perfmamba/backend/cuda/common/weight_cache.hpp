#pragma once
// bf16 copies of f32 weight matrices for the bf16 GEMMs, made on first use. Keyed by the f32
// buffer and its size: weights live as long as their model, and a copy is dropped as soon as the
// allocator frees its f32 buffer, so a reused address never meets a stale copy.
#include <cstddef>
#include <unordered_map>
#include <vector>

namespace perfmamba::cuda {

class WeightCache {
 public:
  WeightCache();
  ~WeightCache();
  WeightCache(const WeightCache&) = delete;
  WeightCache& operator=(const WeightCache&) = delete;

  // The copy of w (count floats) as [rows, cols] bf16; `made` is set when this call made it
  // (its conversion kernel is the last one queued).
  const void* bf16(const float* w, size_t count, bool* made = nullptr);
  // The copy of the [rows, cols] weight w transposed: [cols, rows] bf16 (the fused Mamba-1/2
  // steps read out_proj a channel's column at a time).
  const void* bf16_transposed(const float* w, size_t rows, size_t cols, bool* made);

  // While a graph is recorded, a copy made for the first time is only recorded, never filled:
  // end_recording() drops those copies (their blocks go with the failed graph) and says whether
  // there were any (then the recording must not be used).
  void begin_recording() { made_while_recording_.clear(), recording_ = true; }
  bool end_recording(std::vector<void*>& blocks_for_graph);

 private:
  struct Copy {
    void* data;
    size_t count;
  };
  using Map = std::unordered_map<const float*, Copy>;
  const void* find_or_make(Map& map, const float* w, size_t count, bool* made,
                           void (*convert)(const float*, void*, size_t, size_t), size_t rows);
  void forget(void* freed);

  Map plain_, transposed_;
  bool recording_ = false;
  std::vector<const float*> made_while_recording_;
};

}  // namespace perfmamba::cuda
