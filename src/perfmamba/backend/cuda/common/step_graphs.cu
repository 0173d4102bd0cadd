#include "perfmamba/backend/cuda/common/step_graphs.hpp"

#include <algorithm>

#include "perfmamba/backend/cuda/common/block_cache.hpp"
#include "perfmamba/backend/cuda/common/check.hpp"
#include "perfmamba/backend/cuda/common/weight_cache.hpp"

namespace perfmamba::cuda {

StepGraphs::Graph::~Graph() {
  cudaDeviceSynchronize();  // a replay may still be writing the reserved blocks
  if (exec) cudaGraphExecDestroy(exec);
  block_cache().release(reserved);
}

StepGraphs::~StepGraphs() { entries_.clear(); }

void StepGraphs::run(const StepKey& key, const std::function<void()>& ops) {
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& e) { return e.key == key; });
  if (it == entries_.end()) {  // first time: plainly
    if (entries_.size() >= kMaxEntries) entries_.pop_front();
    entries_.push_back({key, nullptr, false});
    return ops();
  }
  if (it->failed) return ops();
  if (!it->graph) {
    it->graph = record(ops);
    if (!it->graph) {
      it->failed = true;
      return ops();  // the recorded ops did not run
    }
  }
  PM_CUDA(cudaGraphLaunch(it->graph->exec, cudaStreamPerThread));
}

void StepGraphs::forget(const void* owner) {
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [&](const Entry& e) { return e.key.owner == owner; }),
                 entries_.end());
}

std::unique_ptr<StepGraphs::Graph> StepGraphs::record(const std::function<void()>& ops) {
  block_cache().begin_reserve();
  if (cudaStreamBeginCapture(cudaStreamPerThread, cudaStreamCaptureModeRelaxed) != cudaSuccess) {
    cudaGetLastError();
    block_cache().release(block_cache().end_reserve());
    return nullptr;
  }
  recording_ = true;
  weights_.begin_recording();
  cudaGraph_t graph = nullptr;
  auto finish = [&] {
    cudaError_t err = cudaStreamEndCapture(cudaStreamPerThread, &graph);
    recording_ = false;
    auto g = std::make_unique<Graph>();
    g->reserved = block_cache().end_reserve();
    // A weight copy first made while recording was only recorded, never filled: the graph
    // would convert it at every replay. Drop both; plain ops make the copy anew.
    if (weights_.end_recording(g->reserved) && err == cudaSuccess) err = cudaErrorNotReady;
    if (err == cudaSuccess) err = cudaGraphInstantiate(&g->exec, graph, 0);
    if (graph) cudaGraphDestroy(graph);
    if (err != cudaSuccess) {
      cudaGetLastError();
      g->exec = nullptr;
      return std::unique_ptr<Graph>();  // ~Graph hands the blocks back
    }
    return g;
  };
  try {
    ops();
  } catch (...) {
    finish();  // ends the recording and hands back what it reserved
    throw;
  }
  return finish();
}

}  // namespace perfmamba::cuda
