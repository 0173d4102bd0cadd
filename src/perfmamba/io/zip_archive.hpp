#pragma once
// Read-only view of the uncompressed ("stored") entries of a zip archive held in memory, as
// torch.save writes them; ZIP64 aware. Every offset and size is checked against the buffer.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace perfmamba {

class ZipArchive {
 public:
  ZipArchive(const uint8_t* data, size_t size, std::string path);
  // Entry bytes, or nullptr when absent; `size` receives the length.
  const uint8_t* find(const std::string& name, size_t& size) const;
  const std::map<std::string, std::pair<size_t, size_t>>& entries() const { return entries_; }

 private:
  const uint8_t* data_;
  std::map<std::string, std::pair<size_t, size_t>> entries_;  // name -> (offset, size)
};

}  // namespace perfmamba
