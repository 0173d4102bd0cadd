#pragma once
// safetensors: 8-byte little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets}, then the raw data. Reading maps the file and validates every
// header entry against the file's real size before any tensor is touched.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "perfmamba/core/tensor.hpp"
#include "perfmamba/io/mapped_file.hpp"

namespace perfmamba {

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  const uint8_t* data = nullptr;  // inside the mapping; may be unaligned
  size_t nbytes = 0;
  const std::string* file = nullptr;  // path of the file that holds it
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  const std::string& path() const { return file_.path(); }
  const std::map<std::string, TensorEntry>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorEntry* find(const std::string& name) const;
  size_t file_bytes() const { return file_.size(); }

 private:
  MappedFile file_;
  std::map<std::string, TensorEntry> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Copies an entry into a new f32 tensor (converting f16/bf16/f64), erroring on NaN or Inf.
Tensor entry_to_f32(const TensorEntry& e);
// Copies an entry of any dtype into a new tensor of the same dtype.
Tensor entry_to_tensor(const TensorEntry& e);

struct TensorToWrite {
  std::string name;
  DType dtype;  // storage dtype in the file; the tensor is converted from f32 if needed
  const Tensor* tensor;
};
// Writes a safetensors file atomically (temporary file + rename).
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata, bool overwrite);

}  // namespace perfmamba
