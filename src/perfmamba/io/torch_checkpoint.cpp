#include "perfmamba/io/torch_checkpoint.hpp"

#include <cstring>

#include "perfmamba/core/error.hpp"
#include "perfmamba/io/pickle.hpp"
#include "perfmamba/io/zip_archive.hpp"

namespace perfmamba {
namespace {
using Kind = PyValue::Kind;

// Copies a strided view element by element into a contiguous tensor.
Tensor gather_strided(const uint8_t* base, DType dtype, const Shape& size, const Shape& stride) {
  Tensor out = Tensor::empty(size, dtype);
  const size_t es = dtype_size(dtype);
  auto* dst = static_cast<uint8_t*>(out.raw());
  std::vector<int64_t> idx(size.size(), 0);
  for (int64_t n = 0; n < out.numel(); ++n) {
    int64_t off = 0;
    for (size_t d = 0; d < size.size(); ++d) off += idx[d] * stride[d];
    std::memcpy(dst + size_t(n) * es, base + size_t(off) * es, es);
    for (size_t d = size.size(); d-- > 0;) {
      if (++idx[d] < size[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}
}  // namespace

TorchCheckpointFile::TorchCheckpointFile(const std::string& path) : file_(path) {
  require(file_.size() >= 4 && std::memcmp(file_.data(), "PK\x03\x04", 4) == 0, path, "format",
          "not a zip-format torch.save file (the legacy pre-1.6 format is not read; re-save it with "
          "a current PyTorch)");
  const ZipArchive zip(file_.data(), file_.size(), path);
  std::string prefix;
  for (const auto& [name, _] : zip.entries()) {
    const size_t n = name.size();
    if (n >= 9 && name.compare(n - 9, 9, "/data.pkl") == 0) {
      require(prefix.empty(), path, "data.pkl", "more than one pickle in the archive");
      prefix = name.substr(0, n - 9);
    }
  }
  require(!prefix.empty(), path, "data.pkl", "missing: not a torch.save archive");
  size_t pkl_size = 0;
  const uint8_t* pkl = zip.find(prefix + "/data.pkl", pkl_size);
  const PyRef root = unpickle(pkl, pkl_size, path);
  require(root->kind == Kind::Dict, path, "data.pkl", "the pickled object is not a state dict");

  for (size_t i = 0; i < root->items.size(); i += 2) {
    const PyRef& key = root->items[i];
    const PyRef& t = root->items[i + 1];
    require(key->kind == Kind::Str, path, "data.pkl", "state dict key is not a string");
    const std::string field = "tensor '" + key->s + "'";
    require(t->kind == Kind::Tensor, path, field, "value is not a tensor");
    const PyValue& st = *t->storage;
    size_t bytes = 0;
    const uint8_t* data = zip.find(prefix + "/data/" + st.s, bytes);
    require(data != nullptr, path, field, "storage '" + st.s + "' is missing from the archive");
    const size_t es = dtype_size(st.dtype);
    require(uint64_t(st.numel) <= bytes / es, path, field,
            "storage '" + st.s + "' holds " + std::to_string(bytes) + " bytes, fewer than its " +
                std::to_string(st.numel) + " elements need");
    // The view must stay inside its storage: offset + sum((size-1) * stride) < numel.
    require(t->offset >= 0, path, field, "negative storage offset");
    int64_t numel = 1, last = t->offset;
    bool contiguous = true;
    int64_t expect = 1;
    for (size_t d = t->size.size(); d-- > 0;) {
      const int64_t n = t->size[d], s = t->stride[d];
      require(n >= 0 && s >= 0, path, field, "negative size or stride");
      require(n == 0 || s <= (INT64_MAX - last) / std::max<int64_t>(n, 1), path, field, "stride overflows");
      if (n > 0) last += (n - 1) * s;
      require(numel <= INT64_MAX / std::max<int64_t>(n, 1), path, field, "size overflows");
      numel *= n;
      if (n != 1 && s != expect) contiguous = false;
      expect *= n;
    }
    require(numel == 0 || last < st.numel, path, field,
            "view reaches element " + std::to_string(last) + " of a storage of " + std::to_string(st.numel));
    TensorEntry e;
    e.name = key->s;
    e.dtype = st.dtype;
    e.shape = t->size;
    e.nbytes = size_t(numel) * es;
    e.file = &file_.path();
    if (contiguous || numel == 0) {
      e.data = data + size_t(t->offset) * es;
    } else {
      copies_.push_back(gather_strided(data + size_t(t->offset) * es, st.dtype, t->size, t->stride));
      e.data = static_cast<const uint8_t*>(copies_.back().raw());
    }
    tensors_[key->s] = e;
  }
}

}  // namespace perfmamba
