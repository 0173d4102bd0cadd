#pragma once
// The byte-level alphabet of GPT-2-style BPE: every byte maps to one printable Unicode
// character, so that any byte string is a string of vocabulary symbols.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace perfmamba {

class ByteLevelMap {
 public:
  ByteLevelMap();
  // UTF-8 encoding of the character that stands for byte b.
  const std::string& encode(uint8_t b) const { return to_char_[b]; }
  std::string encode(std::string_view bytes) const;
  // Inverse of encode for one token string; false if a character is not in the alphabet.
  bool decode(std::string_view token, std::string& out_bytes) const;

 private:
  std::array<std::string, 256> to_char_;
  std::array<int16_t, 512> from_codepoint_;  // every code point of the alphabet is < 512
};

}  // namespace perfmamba
