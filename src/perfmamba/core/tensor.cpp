#include "perfmamba/core/tensor.hpp"

#include <cstring>
#include <stdexcept>

#include "perfmamba/core/error.hpp"

namespace perfmamba {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

Tensor::Buffer::~Buffer() {
  if (ptr) release(device, ptr, bytes);
}

Tensor Tensor::empty(Shape shape, DType dtype, Device device) {
  for (auto d : shape)
    if (d < 0) throw std::invalid_argument("negative tensor dimension " + shape_str(shape));
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  t.buffer_ = std::make_shared<Buffer>();
  t.buffer_->bytes = t.nbytes();
  t.buffer_->device = device;
  t.buffer_->ptr = allocate(device, t.buffer_->bytes);
  return t;
}

Tensor Tensor::zeros(Shape shape, DType dtype, Device device) {
  Tensor t = empty(std::move(shape), dtype, device);
  if (!t.nbytes()) return t;
  if (device == Device::CPU) std::memset(t.raw(), 0, t.nbytes());
  else device_memory(device).memset_zero(t.raw(), t.nbytes());
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == device_) return *this;
  Tensor t = empty(shape_, dtype_, device);
  if (!nbytes()) return t;
  if (device_ == Device::CPU) device_memory(device).copy(t.raw(), raw(), nbytes(), 0);
  else if (device == Device::CPU) device_memory(device_).copy(t.raw(), raw(), nbytes(), 1);
  else throw std::logic_error("copy between two accelerators");
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (shape_numel(shape) != numel())
    throw std::logic_error("reshape " + shape_str(shape_) + " -> " + shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_, device_);
  if (!nbytes()) return t;
  if (device_ == Device::CPU) std::memcpy(t.raw(), raw(), nbytes());
  else device_memory(device_).copy(t.raw(), raw(), nbytes(), 2);
  return t;
}

void* Tensor::checked(DType want) {
  if (dtype_ != want)
    throw std::logic_error(std::string("tensor is ") + dtype_name(dtype_) + ", expected " +
                           dtype_name(want));
  return raw();
}

}  // namespace perfmamba
