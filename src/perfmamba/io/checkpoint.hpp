#pragma once
// A Hugging Face model directory: config.json plus model.safetensors, or shards listed by
// model.safetensors.index.json. All shards are memory-mapped; tensors are looked up by name.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "perfmamba/io/config.hpp"
#include "perfmamba/io/safetensors.hpp"

namespace perfmamba {

class Checkpoint {
 public:
  explicit Checkpoint(const std::string& dir);
  const std::string& dir() const { return dir_; }
  const std::string& config_path() const { return config_path_; }
  const TensorEntry* find(const std::string& name) const;
  std::vector<std::string> names() const;
  size_t total_bytes() const;  // sum of the safetensors file sizes
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }

 private:
  std::string dir_, config_path_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorEntry*> index_;
};

}  // namespace perfmamba
