#include "perfmamba/io/safetensors.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "perfmamba/core/error.hpp"
#include "perfmamba/io/atomic_file.hpp"

namespace perfmamba {
namespace {
using nlohmann::json;

// The format's own cap on the header; anything larger is corruption or an attack.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

TensorEntry parse_entry(const std::string& path, const std::string& name, const json& j,
                        const uint8_t* data_start, uint64_t data_size) {
  const std::string field = "tensor '" + name + "'";
  require(j.is_object(), path, field, "header entry is not an object");
  require(j.contains("dtype") && j["dtype"].is_string(), path, field, "missing string 'dtype'");
  const auto dtype = dtype_from_name(j["dtype"].get<std::string>());
  require(dtype.has_value(), path, field, "unknown dtype '" + j["dtype"].get<std::string>() + "'");
  require(j.contains("shape") && j["shape"].is_array(), path, field, "missing array 'shape'");
  TensorEntry e;
  e.name = name;
  e.dtype = *dtype;
  uint64_t numel = 1;
  for (const auto& d : j["shape"]) {
    require(d.is_number_unsigned(), path, field, "shape has a non-integer or negative entry");
    const uint64_t v = d.get<uint64_t>();
    require(v == 0 || numel <= data_size / v, path, field,
            "shape " + j["shape"].dump() + " is larger than the file's data");
    numel *= v;
    e.shape.push_back(int64_t(v));
  }
  const auto& off = j.contains("data_offsets") ? j["data_offsets"] : json();
  require(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() &&
              off[1].is_number_unsigned(),
          path, field, "data_offsets must be two non-negative integers");
  const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
  require(begin <= end, path, field, "data_offsets begin after they end");
  require(end <= data_size, path, field,
          "data ends at byte " + std::to_string(end) + " but the file holds only " +
              std::to_string(data_size) + " data bytes (truncated?)");
  require(end - begin == numel * dtype_size(e.dtype), path, field,
          "data_offsets span " + std::to_string(end - begin) + " bytes but shape " +
              j["shape"].dump() + " of " + dtype_name(e.dtype) + " needs " +
              std::to_string(numel * dtype_size(e.dtype)));
  e.data = data_start + begin;
  e.nbytes = size_t(end - begin);
  return e;
}
}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
  const uint64_t size = file_.size();
  require(size >= 8, path, "header", "file is " + std::to_string(size) +
                                         " bytes, too short for a safetensors header");
  const uint64_t header_len = read_u64_le(file_.data());
  require(header_len <= kMaxHeaderBytes, path, "header",
          "header length " + std::to_string(header_len) + " exceeds the 100 MiB limit");
  require(header_len <= size - 8, path, "header",
          "header length " + std::to_string(header_len) + " runs past the end of the " +
              std::to_string(size) + "-byte file (truncated?)");
  const char* hdr = reinterpret_cast<const char*>(file_.data() + 8);
  json header = json::parse(hdr, hdr + header_len, nullptr, /*allow_exceptions=*/false);
  require(!header.is_discarded(), path, "header", "header is not valid JSON");
  require(header.is_object(), path, "header", "header is not a JSON object");

  const uint8_t* data_start = file_.data() + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      require(it->is_object(), path, "__metadata__", "is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        require(m->is_string(), path, "__metadata__." + m.key(), "value is not a string");
        metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    TensorEntry e = parse_entry(path, it.key(), *it, data_start, data_size);
    e.file = &file_.path();
    tensors_.emplace(it.key(), std::move(e));
  }
  // Overlapping tensors would alias each other's bytes: a corrupted or crafted file.
  std::vector<const TensorEntry*> order;
  for (const auto& [_, e] : tensors_) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->data < b->data; });
  for (size_t i = 1; i < order.size(); ++i)
    require(order[i - 1]->data + order[i - 1]->nbytes <= order[i]->data, path,
            "tensor '" + order[i]->name + "'", "data overlaps tensor '" + order[i - 1]->name + "'");
}

const TensorEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

Tensor entry_to_tensor(const TensorEntry& e) {
  Tensor t = Tensor::empty(e.shape, e.dtype);
  if (e.nbytes) std::memcpy(t.raw(), e.data, e.nbytes);
  return t;
}

Tensor entry_to_f32(const TensorEntry& e) {
  const std::string file = e.file ? *e.file : "";
  require(is_float(e.dtype), file, "tensor '" + e.name + "'",
          std::string("dtype ") + dtype_name(e.dtype) + " is not a floating-point type");
  Tensor out = Tensor::empty(e.shape, DType::F32);
  const size_t n = size_t(out.numel());
  if (reinterpret_cast<uintptr_t>(e.data) % dtype_size(e.dtype) == 0) {
    convert_to_f32(e.dtype, e.data, out.f32(), n);
  } else {  // the format does not promise alignment: go through an aligned copy
    Tensor staged = entry_to_tensor(e);
    convert_to_f32(e.dtype, staged.raw(), out.f32(), n);
  }
  const float* p = out.f32();
  size_t bad = n;
#pragma omp parallel for reduction(min : bad) if (n > (1 << 20))
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) bad = std::min(bad, i);
  require(bad == n, file, "tensor '" + e.name + "'",
          "holds a non-finite value (" + std::to_string(p[bad < n ? bad : 0]) + ") at flat index " +
              std::to_string(bad));
  return out;
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata, bool overwrite) {
  // Data is laid out in name order, the order in which the JSON header lists the entries.
  std::vector<const TensorToWrite*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->name < b->name; });
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto* t : order) {
    const uint64_t bytes = uint64_t(t->tensor->numel()) * dtype_size(t->dtype);
    header[t->name] = {{"dtype", dtype_name(t->dtype)},
                       {"shape", t->tensor->shape()},
                       {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(h.size()) >> (8 * i));
  AtomicFile out(path, overwrite);
  out.write(len, 8);
  out.write(h.data(), h.size());
  for (const auto* t : order) {
    if (t->dtype == t->tensor->dtype()) {
      out.write(t->tensor->raw(), t->tensor->nbytes());
    } else {
      std::vector<uint8_t> buf(size_t(t->tensor->numel()) * dtype_size(t->dtype));
      convert_from_f32(t->tensor->f32(), t->dtype, buf.data(), size_t(t->tensor->numel()));
      out.write(buf.data(), buf.size());
    }
  }
  out.commit();
}

}  // namespace perfmamba
