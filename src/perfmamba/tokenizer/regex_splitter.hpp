#pragma once
// Splits text into pre-tokens with a PCRE2 regex (UTF + Unicode properties, JIT-compiled):
// each match is a piece and so is each gap between matches ("Isolated" behaviour).
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace perfmamba {

class RegexSplitter {
 public:
  RegexSplitter(const std::string& pattern, const std::string& file);
  ~RegexSplitter();
  RegexSplitter(const RegexSplitter&) = delete;
  RegexSplitter& operator=(const RegexSplitter&) = delete;
  std::vector<std::string_view> split(std::string_view text) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The split regex of GPT-2's ByteLevel pre-tokenizer (contractions, letters, numbers, other
// symbols, each with an optional leading space; whitespace runs).
extern const char* const kGpt2SplitPattern;

}  // namespace perfmamba
