#pragma once
// Byte-level BPE tokenizer read from a Hugging Face tokenizer.json (GPT-NeoX, GPT-2 and any
// tokenizer of that family): added tokens matched first, NFC normalisation, the ByteLevel
// pre-tokenizer's split regex (or a Split regex), byte-to-unicode mapping, ranked BPE merges.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace perfmamba {

class BpeModel;
class ByteLevelMap;
class RegexSplitter;

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;
  bool normalized = false;  // matched on normalised text rather than on the raw input
  bool lstrip = false, rstrip = false, single_word = false;
};

class Tokenizer {
 public:
  static Tokenizer from_file(const std::string& path);
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Errors on invalid UTF-8 (naming the byte offset); never adds BOS/EOS by itself.
  std::vector<int32_t> encode(std::string_view text) const;
  std::string decode(const std::vector<int32_t>& ids) const;
  std::string decode_one(int32_t id) const;  // raw bytes of one token (may be partial UTF-8)
  std::optional<int32_t> token_id(std::string_view token) const;
  int32_t vocab_size() const;  // one past the largest id
  const std::string& path() const { return path_; }
  const std::vector<AddedToken>& added_tokens() const { return added_; }

  struct Impl;  // opaque: BPE model, byte map, split regex

 private:
  Tokenizer();
  void encode_normalized(std::string_view text, std::vector<int32_t>& out) const;
  void encode_plain(std::string_view text, std::vector<int32_t>& out) const;
  std::unique_ptr<Impl> impl_;
  std::vector<AddedToken> added_;
  std::string path_;
};

}  // namespace perfmamba
