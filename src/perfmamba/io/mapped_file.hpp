#pragma once
// Read-only memory map of a whole file. Checkpoints are mapped, not read, so that opening a
// multi-gigabyte model costs nothing until tensors are touched.
#include <cstddef>
#include <cstdint>
#include <string>

namespace perfmamba {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws Error naming the path
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

std::string read_text_file(const std::string& path);  // throws Error naming the path

}  // namespace perfmamba
