#pragma once
// A restricted unpickler for torch.save state dicts. It builds plain values and understands
// exactly what a state dict needs: containers, strings, numbers, storage persistent ids and
// the tensor rebuild calls. Any other global or call is refused, so loading a checkpoint can
// never execute code. Nesting depth and object counts are bounded against pickle bombs.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "perfmamba/core/dtype.hpp"
#include "perfmamba/core/tensor.hpp"

namespace perfmamba {

struct PyValue;
using PyRef = std::shared_ptr<PyValue>;

struct PyValue {
  enum class Kind { None, Bool, Int, Float, Str, Tuple, List, Dict, Global, Storage, Tensor };
  Kind kind = Kind::None;
  int64_t i = 0;
  double f = 0;
  std::string s;             // Str; Global: "module.name"; Storage: key
  std::vector<PyRef> items;  // Tuple/List; Dict: key, value, key, value...
  int depth = 0;             // container nesting below this value
  bool frozen = false;       // placed inside another container: no further changes
  // Storage
  DType dtype = DType::F32;
  int64_t numel = 0;
  // Tensor (_rebuild_tensor_v2)
  PyRef storage;
  int64_t offset = 0;
  Shape size, stride;
};

// Unpickles `data`; errors name `file` and the byte offset of the offending opcode.
PyRef unpickle(const uint8_t* data, size_t size, const std::string& file);

}  // namespace perfmamba
