#include "perfmamba/tokenizer/byte_level.hpp"

namespace perfmamba {
namespace {
std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else {  // the alphabet stays below U+0800: two bytes at most
    s += char(0xc0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3f));
  }
  return s;
}
}  // namespace

// Printable Latin-1 bytes stand for themselves; the other 68 bytes (controls, space, DEL, NBSP,
// soft hyphen) take the code points 256, 257, ... in byte order.
ByteLevelMap::ByteLevelMap() {
  from_codepoint_.fill(-1);
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
    const uint32_t cp = printable ? b : next++;
    to_char_[b] = utf8(cp);
    from_codepoint_[cp] = int16_t(b);
  }
}

std::string ByteLevelMap::encode(std::string_view bytes) const {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += to_char_[b];
  return out;
}

bool ByteLevelMap::decode(std::string_view token, std::string& out) const {
  const size_t start = out.size();
  for (size_t i = 0; i < token.size();) {
    const auto c = static_cast<unsigned char>(token[i]);
    uint32_t cp;
    if (c < 0x80) {
      cp = c;
      i += 1;
    } else if ((c & 0xe0) == 0xc0 && i + 1 < token.size()) {
      cp = (uint32_t(c & 0x1f) << 6) | (static_cast<unsigned char>(token[i + 1]) & 0x3f);
      i += 2;
    } else {
      out.resize(start);
      return false;
    }
    if (cp >= from_codepoint_.size() || from_codepoint_[cp] < 0) {
      out.resize(start);
      return false;
    }
    out += char(from_codepoint_[cp]);
  }
  return true;
}

}  // namespace perfmamba
