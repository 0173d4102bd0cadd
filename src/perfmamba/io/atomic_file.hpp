#pragma once
// Writes a file through a temporary sibling and renames it into place on commit(), so that a
// crash or an error never leaves a half-written output or clobbers what the user had.
#include <cstddef>
#include <string>

namespace perfmamba {

class AtomicFile {
 public:
  // overwrite=false: refuse when `path` already exists.
  AtomicFile(std::string path, bool overwrite);
  ~AtomicFile();  // removes the temporary unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);
  void commit();  // flush, fsync, rename over `path`

 private:
  std::string path_, tmp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

void write_file_atomic(const std::string& path, const std::string& contents, bool overwrite);

}  // namespace perfmamba
