#pragma once
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace perfmamba {

enum class DType : uint8_t { F32, F16, BF16, F64, I64, I32, I16, I8, U8, Bool };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // safetensors spelling: "F32", "BF16", ...
std::optional<DType> dtype_from_name(std::string_view name);
bool is_float(DType t);

// Conversions between the storage formats of checkpoints and the f32 compute type.
inline float bf16_to_f32(uint16_t v) {
  uint32_t bits = uint32_t(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline uint16_t f32_to_bf16(float f) {  // round to nearest even; NaN stays NaN
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}
float f16_to_f32(uint16_t v);
uint16_t f32_to_f16(float f);

// Converts n elements of a float dtype at src into f32 at dst.
void convert_to_f32(DType src_type, const void* src, float* dst, size_t n);
// Converts n f32 values into dst_type (F32, F16 or BF16).
void convert_from_f32(const float* src, DType dst_type, void* dst, size_t n);

}  // namespace perfmamba
