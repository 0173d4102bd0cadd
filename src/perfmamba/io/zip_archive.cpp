#include "perfmamba/io/zip_archive.hpp"

#include "perfmamba/core/error.hpp"

namespace perfmamba {
namespace {
struct Reader {
  const uint8_t* data;
  size_t size;
  const std::string& path;
  uint64_t u(size_t off, int bytes) const {
    require(off + size_t(bytes) <= size && off + size_t(bytes) >= off, path, "zip",
            "structure points past the end of the file (truncated?)");
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | data[off + size_t(i)];
    return v;
  }
};
constexpr uint32_t kEocd = 0x06054b50, kZip64Locator = 0x07064b50, kZip64Eocd = 0x06064b50;
constexpr uint32_t kCentral = 0x02014b50, kLocal = 0x04034b50;
}  // namespace

ZipArchive::ZipArchive(const uint8_t* data, size_t size, std::string path) : data_(data) {
  const Reader r{data, size, path};
  require(size >= 22, path, "zip", "too short to be a zip archive");
  // The end-of-central-directory record sits in the last 22 + 65535 bytes (comment).
  size_t eocd = SIZE_MAX;
  for (size_t back = 22; back <= std::min<size_t>(size, 22 + 65535); ++back)
    if (r.u(size - back, 4) == kEocd) {
      eocd = size - back;
      break;
    }
  require(eocd != SIZE_MAX, path, "zip", "no end-of-central-directory record: not a zip archive or truncated");
  uint64_t count = r.u(eocd + 10, 2), cd_size = r.u(eocd + 12, 4), cd_offset = r.u(eocd + 16, 4);
  if ((count == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) && eocd >= 20 &&
      r.u(eocd - 20, 4) == kZip64Locator) {
    const uint64_t z = r.u(eocd - 20 + 8, 8);
    require(z < size && r.u(size_t(z), 4) == kZip64Eocd, path, "zip", "bad ZIP64 end record");
    count = r.u(size_t(z) + 32, 8);
    cd_size = r.u(size_t(z) + 40, 8);
    cd_offset = r.u(size_t(z) + 48, 8);
  }
  require(cd_offset <= size && cd_size <= size - cd_offset, path, "zip", "central directory out of bounds");
  size_t p = size_t(cd_offset);
  for (uint64_t i = 0; i < count; ++i) {
    require(r.u(p, 4) == kCentral, path, "zip", "corrupt central directory entry " + std::to_string(i));
    const uint64_t method = r.u(p + 10, 2);
    uint64_t csize = r.u(p + 20, 4), usize = r.u(p + 24, 4), local = r.u(p + 42, 4);
    const size_t nlen = size_t(r.u(p + 28, 2)), elen = size_t(r.u(p + 30, 2)), clen = size_t(r.u(p + 32, 2));
    r.u(p + 46 + nlen + elen + clen - 1, 1);  // bounds of the variable part
    std::string name(reinterpret_cast<const char*>(data + p + 46), nlen);
    // ZIP64 extra field: the 64-bit values, in this order, for each field that read all-ones.
    for (size_t e = p + 46 + nlen; e + 4 <= p + 46 + nlen + elen;) {
      const uint64_t id = r.u(e, 2), len = r.u(e + 2, 2);
      if (id == 1) {
        size_t q = e + 4;
        if (usize == 0xffffffff) usize = r.u(q, 8), q += 8;
        if (csize == 0xffffffff) csize = r.u(q, 8), q += 8;
        if (local == 0xffffffff) local = r.u(q, 8);
      }
      e += 4 + size_t(len);
    }
    require(method == 0 && csize == usize, path, "zip entry '" + name + "'",
            "is compressed (method " + std::to_string(method) + "); only stored entries are read");
    require(local < size && r.u(size_t(local), 4) == kLocal, path, "zip entry '" + name + "'", "bad local header");
    const size_t start = size_t(local) + 30 + size_t(r.u(size_t(local) + 26, 2)) + size_t(r.u(size_t(local) + 28, 2));
    require(start <= size && usize <= size - start, path, "zip entry '" + name + "'",
            "data runs past the end of the file (truncated?)");
    entries_[name] = {start, size_t(usize)};
    p += 46 + nlen + elen + clen;
  }
}

const uint8_t* ZipArchive::find(const std::string& name, size_t& size) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return nullptr;
  size = it->second.second;
  return data_ + it->second.first;
}

}  // namespace perfmamba
