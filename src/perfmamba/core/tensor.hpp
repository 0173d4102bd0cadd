#pragma once
// A dense, contiguous, row-major n-d array with shared ownership of its buffer. Views into a
// tensor are expressed as (pointer, leading dimension) pairs in op parameter structs, not as
// strided tensors: the ops we need are few and each knows its layout.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "perfmamba/core/dtype.hpp"
#include "perfmamba/core/memory.hpp"

namespace perfmamba {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[2, 3]"
int64_t shape_numel(const Shape& s);

class Tensor {
 public:
  Tensor() = default;
  static Tensor empty(Shape shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor zeros(Shape shape, DType dtype = DType::F32, Device device = Device::CPU);

  bool defined() const { return buffer_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  int rank() const { return int(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }

  void* raw() { return buffer_ ? buffer_->ptr : nullptr; }
  const void* raw() const { return buffer_ ? buffer_->ptr : nullptr; }
  float* f32() { return static_cast<float*>(checked(DType::F32)); }
  const float* f32() const { return static_cast<const float*>(const_cast<Tensor*>(this)->checked(DType::F32)); }

  // Same buffer, new shape of equal element count.
  Tensor reshaped(Shape shape) const;
  Tensor clone() const;
  // A copy on another device (this tensor itself when already there).
  Tensor to(Device device) const;

 private:
  struct Buffer {
    void* ptr = nullptr;
    size_t bytes = 0;
    Device device = Device::CPU;
    ~Buffer();
  };
  void* checked(DType want);
  std::shared_ptr<Buffer> buffer_;
  Shape shape_;
  DType dtype_ = DType::F32;
  Device device_ = Device::CPU;
};

}  // namespace perfmamba
