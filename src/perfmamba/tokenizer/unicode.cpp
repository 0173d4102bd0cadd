#include "perfmamba/tokenizer/unicode.hpp"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "perfmamba/core/error.hpp"

namespace perfmamba {

size_t find_invalid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    utf8proc_int32_t cp;
    const auto n = utf8proc_iterate(p + i, utf8proc_ssize_t(text.size() - i), &cp);
    if (n < 0 || cp < 0) return i;
    i += size_t(n);
  }
  return std::string_view::npos;
}

std::string nfc(std::string_view text) {
  bool ascii = true;
  for (unsigned char c : text) ascii &= c < 0x80;
  if (ascii) return std::string(text);
  utf8proc_uint8_t* out = nullptr;
  const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                              utf8proc_ssize_t(text.size()), &out,
                              utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> guard(out, &std::free);
  if (n < 0) throw Error("", "text", std::string("cannot normalise: ") + utf8proc_errmsg(n));
  return std::string(reinterpret_cast<const char*>(out), size_t(n));
}

}  // namespace perfmamba
