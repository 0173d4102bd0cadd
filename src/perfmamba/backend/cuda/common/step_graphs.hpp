#pragma once
// Decode steps recorded as CUDA graphs and replayed (Backend::run_step). A step's ops run plainly
// the first time its key comes (which also settles the GEMMs' algorithm choices and makes the
// weights' bf16 copies), are recorded the second time, and replay as one launch from then on.
// Blocks the recorded ops allocate and free are kept for the graph while it lives (its replays
// write them). A key whose recording fails runs plainly from then on.
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include <cuda_runtime.h>

#include "perfmamba/backend/backend.hpp"

namespace perfmamba::cuda {

class WeightCache;

class StepGraphs {
 public:
  explicit StepGraphs(WeightCache& weights) : weights_(weights) {}
  ~StepGraphs();
  StepGraphs(const StepGraphs&) = delete;
  StepGraphs& operator=(const StepGraphs&) = delete;

  void run(const StepKey& key, const std::function<void()>& ops);
  void forget(const void* owner);
  bool recording() const { return recording_; }

 private:
  struct Graph {
    cudaGraphExec_t exec = nullptr;
    std::vector<void*> reserved;  // blocks its replays use
    ~Graph();
  };
  struct Entry {
    StepKey key;
    std::unique_ptr<Graph> graph;  // null until the second run
    bool failed = false;
  };
  std::unique_ptr<Graph> record(const std::function<void()>& ops);

  static constexpr size_t kMaxEntries = 8;  // states alive at once in one process, as used
  WeightCache& weights_;
  std::deque<Entry> entries_;
  bool recording_ = false;
};

}  // namespace perfmamba::cuda
