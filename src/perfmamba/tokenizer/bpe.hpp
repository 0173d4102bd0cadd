#pragma once
// Byte-pair-encoding model: vocabulary, ranked merges, and the merge loop for one pre-token.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace perfmamba {

class BpeModel {
 public:
  BpeModel(std::unordered_map<std::string, int32_t> vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, bool ignore_merges,
           const std::string& file);

  // Appends the ids of one pre-token, given as byte-level symbols (UTF-8).
  void encode_word(std::string_view word, std::vector<int32_t>& out);
  std::optional<int32_t> id(std::string_view token) const;
  const std::string* token(int32_t id) const;  // null for ids the model does not have
  int32_t max_id() const { return int32_t(id_to_token_.size()) - 1; }

 private:
  void merge(std::vector<int32_t>& symbols) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> id_to_token_;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;  // pair -> (rank, result)
  std::unordered_map<std::string, std::vector<int32_t>> cache_;
  bool ignore_merges_ = false;
};

}  // namespace perfmamba
