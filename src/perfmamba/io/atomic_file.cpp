#include "perfmamba/io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "perfmamba/core/error.hpp"

namespace perfmamba {

AtomicFile::AtomicFile(std::string path, bool overwrite) : path_(std::move(path)) {
  if (!overwrite && std::filesystem::exists(path_))
    throw Error(path_, "", "already exists (pass --force to overwrite)");
  tmp_path_ = path_ + ".tmp.XXXXXX";
  std::vector<char> buf(tmp_path_.begin(), tmp_path_.end());
  buf.push_back('\0');
  fd_ = ::mkstemp(buf.data());
  if (fd_ < 0) throw Error(path_, "", std::string("cannot create: ") + std::strerror(errno));
  tmp_path_ = buf.data();
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_path_.c_str());
}

void AtomicFile::write(const void* data, size_t bytes) {
  const auto* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd_, p, bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(path_, "", std::string("write failed: ") + std::strerror(errno));
    }
    p += n;
    bytes -= size_t(n);
  }
}

void AtomicFile::commit() {
  ::fchmod(fd_, 0644);
  if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
    fd_ = -1;
    throw Error(path_, "", std::string("write failed: ") + std::strerror(errno));
  }
  fd_ = -1;
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0)
    throw Error(path_, "", std::string("cannot rename into place: ") + std::strerror(errno));
  committed_ = true;
}

void write_file_atomic(const std::string& path, const std::string& contents, bool overwrite) {
  AtomicFile f(path, overwrite);
  f.write(contents.data(), contents.size());
  f.commit();
}

}  // namespace perfmamba
