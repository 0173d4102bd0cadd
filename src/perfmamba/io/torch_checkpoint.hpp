#pragma once
// A torch.save file (zip format, PyTorch >= 1.6): the pickled state dict read by the restricted
// unpickler, tensors pointing into the memory-mapped storages (copied only when strided).
#include <map>
#include <string>
#include <vector>

#include "perfmamba/io/mapped_file.hpp"
#include "perfmamba/io/safetensors.hpp"

namespace perfmamba {

class TorchCheckpointFile {
 public:
  explicit TorchCheckpointFile(const std::string& path);
  const std::string& path() const { return file_.path(); }
  const std::map<std::string, TensorEntry>& tensors() const { return tensors_; }
  size_t file_bytes() const { return file_.size(); }

 private:
  MappedFile file_;
  std::map<std::string, TensorEntry> tensors_;
  std::vector<Tensor> copies_;  // contiguous copies of strided tensors
};

}  // namespace perfmamba
