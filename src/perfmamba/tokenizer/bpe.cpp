#include "perfmamba/tokenizer/bpe.hpp"

#include <queue>

#include "perfmamba/core/error.hpp"

namespace perfmamba {
namespace {
uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

size_t utf8_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4; }

constexpr size_t kMaxCacheEntries = 1 << 18;
}  // namespace

BpeModel::BpeModel(std::unordered_map<std::string, int32_t> vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges,
                   bool ignore_merges, const std::string& file)
    : vocab_(std::move(vocab)), ignore_merges_(ignore_merges) {
  int32_t max_id = -1;
  for (const auto& [tok, id] : vocab_) {
    require(id >= 0 && id < (1 << 24), file, "model.vocab", "id " + std::to_string(id) + " out of range");
    max_id = std::max(max_id, id);
  }
  id_to_token_.resize(size_t(max_id + 1));
  for (const auto& [tok, id] : vocab_) id_to_token_[size_t(id)] = tok;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const auto ia = vocab_.find(a), ib = vocab_.find(b), ir = vocab_.find(a + b);
    require(ia != vocab_.end() && ib != vocab_.end() && ir != vocab_.end(), file,
            "model.merges[" + std::to_string(rank) + "]",
            "merge '" + a + " " + b + "' uses a token missing from the vocabulary");
    merges_.try_emplace(pair_key(ia->second, ib->second), int32_t(rank), ir->second);
  }
}

std::optional<int32_t> BpeModel::id(std::string_view token) const {
  auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::token(int32_t id) const {
  if (id < 0 || size_t(id) >= id_to_token_.size() || id_to_token_[size_t(id)].empty()) return nullptr;
  return &id_to_token_[size_t(id)];
}

// Repeatedly merges the adjacent pair of lowest rank (leftmost on ties): a heap of candidate
// pairs over a linked list of symbols, so long words cost O(n log n), not O(n^2).
void BpeModel::merge(std::vector<int32_t>& sym) const {
  const int n = int(sym.size());
  if (n < 2) return;
  std::vector<int> prev(n), next(n);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Cand {
    int32_t rank;
    int pos;
    int32_t left, right;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<>> heap;
  auto push = [&](int i) {
    if (i < 0 || next[i] < 0) return;
    auto it = merges_.find(pair_key(sym[i], sym[next[i]]));
    if (it != merges_.end()) heap.push({it->second.first, i, sym[i], sym[next[i]]});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  std::vector<bool> dead(n, false);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    const int j = next[c.pos];
    if (dead[c.pos] || j < 0 || sym[c.pos] != c.left || sym[j] != c.right) continue;  // stale
    sym[c.pos] = merges_.at(pair_key(c.left, c.right)).second;
    dead[j] = true;
    next[c.pos] = next[j];
    if (next[j] >= 0) prev[next[j]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  std::vector<int32_t> out;
  for (int i = 0; i >= 0; i = next[i]) out.push_back(sym[i]);
  sym.swap(out);
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) {
  if (ignore_merges_) {
    if (auto whole = id(word)) {
      out.push_back(*whole);
      return;
    }
  }
  auto cached = cache_.find(std::string(word));
  if (cached != cache_.end()) {
    out.insert(out.end(), cached->second.begin(), cached->second.end());
    return;
  }
  std::vector<int32_t> sym;
  for (size_t i = 0; i < word.size();) {
    const size_t len = std::min(utf8_len(static_cast<unsigned char>(word[i])), word.size() - i);
    // A symbol outside the vocabulary is dropped, as the reference BPE does without unk_token.
    if (auto v = id(word.substr(i, len))) sym.push_back(*v);
    i += len;
  }
  merge(sym);
  if (cache_.size() >= kMaxCacheEntries) cache_.clear();
  cache_.emplace(word, sym);
  out.insert(out.end(), sym.begin(), sym.end());
}

}  // namespace perfmamba
