#include "perfmamba/tokenizer/regex_splitter.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>


#include "perfmamba/core/error.hpp"

namespace perfmamba {

const char* const kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct RegexSplitter::Impl {
  pcre2_code* code = nullptr;
  pcre2_match_data* match = nullptr;
};

RegexSplitter::RegexSplitter(const std::string& pattern, const std::string& file)
    : impl_(std::make_unique<Impl>()) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &err, &offset, nullptr);
  if (!impl_->code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    throw Error(file, "pre_tokenizer.pattern",
                "regex does not compile at offset " + std::to_string(offset) + ": " +
                    reinterpret_cast<const char*>(msg));
  }
  pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter
  impl_->match = pcre2_match_data_create_from_pattern(impl_->code, nullptr);
}

RegexSplitter::~RegexSplitter() {
  if (impl_) {
    pcre2_match_data_free(impl_->match);
    pcre2_code_free(impl_->code);
  }
}

std::vector<std::string_view> RegexSplitter::split(std::string_view text) const {
  std::vector<std::string_view> out;
  size_t pos = 0, last = 0;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  while (pos <= text.size()) {
    // The input was validated as UTF-8 once, up front.
    const int rc = pcre2_match(impl_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK,
                               impl_->match, nullptr);
    if (rc < 0) break;
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(impl_->match);
    const size_t b = ov[0], e = ov[1];
    if (b > last) out.push_back(text.substr(last, b - last));
    if (e > b) out.push_back(text.substr(b, e - b));
    last = e;
    if (e == b) {  // empty match: step one character forward
      if (e >= text.size()) break;
      pos = e + 1;
      while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xc0) == 0x80) ++pos;
    } else {
      pos = e;
    }
  }
  if (last < text.size()) out.push_back(text.substr(last));
  return out;
}

}  // namespace perfmamba
