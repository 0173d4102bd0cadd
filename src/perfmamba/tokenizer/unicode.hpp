#pragma once
// UTF-8 checks and Unicode normalisation (NFC through utf8proc), for the tokenizer's input.
#include <string>
#include <string_view>

namespace perfmamba {

// Byte offset of the first invalid UTF-8 sequence, or npos when the text is valid.
size_t find_invalid_utf8(std::string_view text);
// NFC form of valid UTF-8 text (ASCII is returned unchanged without a copy through utf8proc).
std::string nfc(std::string_view text);

}  // namespace perfmamba
