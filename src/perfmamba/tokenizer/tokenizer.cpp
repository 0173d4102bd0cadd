#include "perfmamba/tokenizer/tokenizer.hpp"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "perfmamba/core/error.hpp"
#include "perfmamba/io/json_fields.hpp"
#include "perfmamba/io/mapped_file.hpp"
#include "perfmamba/tokenizer/bpe.hpp"
#include "perfmamba/tokenizer/byte_level.hpp"
#include "perfmamba/tokenizer/regex_splitter.hpp"
#include "perfmamba/tokenizer/unicode.hpp"

namespace perfmamba {
using nlohmann::json;

struct Tokenizer::Impl {
  std::unique_ptr<BpeModel> bpe;
  ByteLevelMap bytes;
  std::unique_ptr<RegexSplitter> splitter;  // null: no regex split (use_regex false)
  bool nfc = false;
  bool add_prefix_space = false;
  std::unordered_map<int32_t, size_t> added_by_id;  // id -> index in added_
  std::array<bool, 256> first_byte[2] = {};  // [normalized]: can an added token start here?
};

namespace {
[[noreturn]] void unsupported(const std::string& file, const std::string& field, const json& j) {
  throw Error(file, field, "unsupported: " + j.dump().substr(0, 120) +
                               " (perfmamba reads byte-level BPE tokenizers: GPT-2, GPT-NeoX)");
}

bool read_normalizer(const json& n, const std::string& file) {
  if (n.is_null()) return false;
  const std::string type = n.value("type", "");
  if (type == "NFC") return true;
  if (type == "Sequence" && n.contains("normalizers")) {
    bool any = false;
    for (const auto& s : n["normalizers"]) any |= read_normalizer(s, file);
    return any;
  }
  unsupported(file, "normalizer", n);
}


void read_byte_level(const json& p, const std::string& file, Tokenizer::Impl& impl) {
  impl.add_prefix_space = p.value("add_prefix_space", false);
  if (p.value("use_regex", true))
    impl.splitter = std::make_unique<RegexSplitter>(kGpt2SplitPattern, file);
}

// The ByteLevel step, alone or after a Split regex, as GPT-2/NeoX and newer tokenizers write it.
void read_pre_tokenizer(const json& p, const std::string& file, Tokenizer::Impl& impl) {
  const std::string type = p.is_object() ? p.value("type", "") : "";
  if (type == "ByteLevel") return read_byte_level(p, file, impl);
  if (type == "Sequence" && p.contains("pretokenizers") && p["pretokenizers"].size() == 2) {
    const json& split = p["pretokenizers"][0];
    const json& level = p["pretokenizers"][1];
    if (split.value("type", "") == "Split" && split.value("behavior", "") == "Isolated" &&
        !split.value("invert", false) && split.contains("pattern") &&
        split["pattern"].contains("Regex") && level.value("type", "") == "ByteLevel" &&
        !level.value("use_regex", true)) {
      read_byte_level(level, file, impl);
      impl.splitter = std::make_unique<RegexSplitter>(split["pattern"]["Regex"].get<std::string>(), file);
      return;
    }
  }
  unsupported(file, "pre_tokenizer", p);
}

std::vector<std::pair<std::string, std::string>> read_merges(const json& m, const std::string& file) {
  std::vector<std::pair<std::string, std::string>> merges;
  if (!m.is_array()) throw Error(file, "model.merges", "missing or not a list");
  merges.reserve(m.size());
  for (size_t i = 0; i < m.size(); ++i) {
    const json& e = m[i];
    if (e.is_string()) {  // "a b" (older files)
      const std::string s = e.get<std::string>();
      const size_t sp = s.find(' ', 1);
      require(sp != std::string::npos, file, "model.merges[" + std::to_string(i) + "]", "expected 'a b'");
      merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {  // ["a", "b"]
      merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
    } else {
      throw Error(file, "model.merges[" + std::to_string(i) + "]", "expected a pair of strings");
    }
  }
  return merges;
}

bool is_word_char(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }
}  // namespace

Tokenizer::Tokenizer() : impl_(std::make_unique<Impl>()) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_file(const std::string& path) {
  const json j = parse_json_lenient(read_text_file(path), path);
  require(j.is_object(), path, "", "not a tokenizer.json object");
  Tokenizer t;
  t.path_ = path;
  require(j.contains("model") && j["model"].is_object(), path, "model", "missing");
  const json& m = j["model"];
  if (m.value("type", "BPE") != "BPE") unsupported(path, "model.type", m["type"]);
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix", "dropout", "unk_token"})
    if (m.contains(key) && !m[key].is_null()) unsupported(path, std::string("model.") + key, m[key]);
  if (m.value("byte_fallback", false)) unsupported(path, "model.byte_fallback", m["byte_fallback"]);
  require(m.contains("vocab") && m["vocab"].is_object(), path, "model.vocab", "missing or not an object");
  std::unordered_map<std::string, int32_t> vocab;
  for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) {
    require(it->is_number_integer(), path, "model.vocab." + it.key(), "id is not an integer");
    vocab.emplace(it.key(), it->get<int32_t>());
  }
  t.impl_->bpe = std::make_unique<BpeModel>(std::move(vocab), read_merges(m.value("merges", json()), path),
                                            m.value("ignore_merges", false), path);
  t.impl_->nfc = read_normalizer(j.value("normalizer", json()), path);
  require(j.contains("pre_tokenizer"), path, "pre_tokenizer", "missing");
  read_pre_tokenizer(j["pre_tokenizer"], path, *t.impl_);
  const json dec = j.value("decoder", json());
  if (!dec.is_null() && dec.value("type", "") != "ByteLevel") unsupported(path, "decoder", dec);

  for (const json& a : j.value("added_tokens", json::array())) {
    AddedToken tok;
    require(a.contains("id") && a["id"].is_number_integer() && a.contains("content") &&
                a["content"].is_string() && !a["content"].get<std::string>().empty(),
            path, "added_tokens", "entry needs an integer id and a non-empty content");
    tok.id = a["id"].get<int32_t>();
    tok.content = a["content"].get<std::string>();
    tok.special = a.value("special", false);
    tok.normalized = a.value("normalized", !tok.special);
    tok.lstrip = a.value("lstrip", false);
    tok.rstrip = a.value("rstrip", false);
    tok.single_word = a.value("single_word", false);
    t.impl_->added_by_id[tok.id] = t.added_.size();
    t.impl_->first_byte[tok.normalized][static_cast<unsigned char>(tok.content[0])] = true;
    t.added_.push_back(tok);
  }
  return t;
}

std::optional<int32_t> Tokenizer::token_id(std::string_view token) const {
  for (const auto& a : added_)
    if (a.content == token) return a.id;
  return impl_->bpe->id(token);
}

int32_t Tokenizer::vocab_size() const {
  int32_t n = impl_->bpe->max_id() + 1;
  for (const auto& a : added_) n = std::max(n, a.id + 1);
  return n;
}

namespace {
struct Match {
  size_t begin = 0, end = 0;  // span consumed (with stripped whitespace)
  const AddedToken* token = nullptr;
};

// Leftmost-longest match of the added tokens of one kind (raw or normalised) from `from`.
Match find_added(std::string_view text, size_t from, const std::vector<AddedToken>& added,
                 bool normalized, const std::array<bool, 256>& first_byte) {
  for (size_t i = from; i < text.size(); ++i) {
    if (!first_byte[static_cast<unsigned char>(text[i])]) continue;
    const AddedToken* best = nullptr;
    for (const auto& a : added) {
      if (a.normalized != normalized || a.content.size() > text.size() - i) continue;
      if (text.compare(i, a.content.size(), a.content) != 0) continue;
      if (best && best->content.size() >= a.content.size()) continue;
      const size_t e = i + a.content.size();
      if (a.single_word && ((i > 0 && is_word_char(text[i - 1])) ||
                            (e < text.size() && is_word_char(text[e]))))
        continue;
      best = &a;
    }
    if (!best) continue;
    Match m{i, i + best->content.size(), best};
    if (best->lstrip)
      while (m.begin > from && std::isspace(static_cast<unsigned char>(text[m.begin - 1]))) --m.begin;
    if (best->rstrip)
      while (m.end < text.size() && std::isspace(static_cast<unsigned char>(text[m.end]))) ++m.end;
    return m;
  }
  return {text.size(), text.size(), nullptr};
}
}  // namespace

// Pre-tokenize and BPE a stretch of normalised text that holds no added token.
void Tokenizer::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  std::string prefixed;
  if (impl_->add_prefix_space && text.front() != ' ') {
    prefixed.reserve(text.size() + 1);
    prefixed.append(1, ' ').append(text);
    text = prefixed;
  }
  auto word = [&](std::string_view piece) { impl_->bpe->encode_word(impl_->bytes.encode(piece), out); };
  if (!impl_->splitter) return word(text);
  for (std::string_view piece : impl_->splitter->split(text)) word(piece);
}

namespace {
// Emits the added tokens of one kind found in `text` and hands the stretches between them to
// `between`.
template <class Between>
void split_on_added(std::string_view text, const std::vector<AddedToken>& added, bool normalized,
                    const std::array<bool, 256>& first_byte, std::vector<int32_t>& out, Between&& between) {
  for (size_t pos = 0; pos < text.size();) {
    const Match m = find_added(text, pos, added, normalized, first_byte);
    between(text.substr(pos, m.begin - pos));
    if (!m.token) break;
    out.push_back(m.token->id);
    pos = m.end;
  }
}
}  // namespace

void Tokenizer::encode_normalized(std::string_view text, std::vector<int32_t>& out) const {
  const std::string norm = impl_->nfc ? nfc(text) : std::string(text);
  split_on_added(norm, added_, /*normalized=*/true, impl_->first_byte[1], out,
                 [&](std::string_view piece) { encode_plain(piece, out); });
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  const size_t bad = find_invalid_utf8(text);
  require(bad == std::string_view::npos, path_, "input text",
          "invalid UTF-8 at byte offset " + std::to_string(bad));
  std::vector<int32_t> out;
  out.reserve(text.size() / 3);
  // Tokens marked normalized=false are matched on the raw text, before normalisation.
  split_on_added(text, added_, /*normalized=*/false, impl_->first_byte[0], out,
                 [&](std::string_view piece) { encode_normalized(piece, out); });
  return out;
}

std::string Tokenizer::decode_one(int32_t id) const {
  std::string token;
  auto added = impl_->added_by_id.find(id);
  if (added != impl_->added_by_id.end()) token = added_[added->second].content;
  else if (const std::string* t = impl_->bpe->token(id)) token = *t;
  else throw Error(path_, "token id", std::to_string(id) + " is not in the vocabulary");
  std::string bytes;
  // A token with a character outside the byte alphabet (e.g. an added run of spaces) is its
  // own UTF-8 text, as in the reference ByteLevel decoder.
  if (!impl_->bytes.decode(token, bytes)) bytes = token;
  return bytes;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) out += decode_one(id);
  return out;
}

}  // namespace perfmamba
