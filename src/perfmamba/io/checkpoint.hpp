#pragma once
// A model directory: config.json plus model.safetensors, shards listed by
// model.safetensors.index.json, or a torch.save pytorch_model.bin. Files are memory-mapped;
// tensors are looked up by name.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "perfmamba/io/config.hpp"
#include "perfmamba/io/safetensors.hpp"
#include "perfmamba/io/torch_checkpoint.hpp"

namespace perfmamba {

// Tensors are indexed by their Hugging Face names whatever the layout: a state-spaces
// checkpoint's names are mapped on open.
class Checkpoint {
 public:
  Checkpoint(const std::string& dir, Layout layout = Layout::HuggingFace);
  const std::string& dir() const { return dir_; }
  const std::string& config_path() const { return config_path_; }
  const TensorEntry* find(const std::string& name) const;
  std::vector<std::string> names() const;
  size_t total_bytes() const;  // sum of the safetensors file sizes
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }

 private:
  std::string dir_, config_path_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::unique_ptr<TorchCheckpointFile> torch_;
  std::map<std::string, const TensorEntry*> index_;
};

}  // namespace perfmamba
