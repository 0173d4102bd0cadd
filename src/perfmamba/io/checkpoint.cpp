#include "perfmamba/io/checkpoint.hpp"

#include <filesystem>

#include "perfmamba/core/error.hpp"
#include "perfmamba/io/json_fields.hpp"
#include "perfmamba/io/mapped_file.hpp"

namespace perfmamba {
namespace fs = std::filesystem;

Checkpoint::Checkpoint(const std::string& dir, Layout layout) : dir_(dir) {
  require(fs::is_directory(dir), dir, "", "not a model directory (or unknown preset name)");
  config_path_ = (fs::path(dir) / "config.json").string();
  require(fs::exists(config_path_), config_path_, "", "missing: a model directory needs config.json");
  const std::string single = (fs::path(dir) / "model.safetensors").string();
  const std::string index = (fs::path(dir) / "model.safetensors.index.json").string();
  if (fs::exists(index)) {
    const auto j = parse_json_lenient(read_text_file(index), index);
    require(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(), index,
            "weight_map", "missing or not an object");
    std::map<std::string, SafetensorsFile*> opened;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      require(it->is_string(), index, "weight_map." + it.key(), "shard name is not a string");
      const std::string shard = it->get<std::string>();
      require(shard.find('/') == std::string::npos && shard != ".." && !shard.empty(), index,
              "weight_map." + it.key(), "shard name '" + shard + "' is not a plain file name");
      if (!opened.count(shard)) {
        files_.push_back(std::make_unique<SafetensorsFile>((fs::path(dir) / shard).string()));
        opened[shard] = files_.back().get();
      }
      const TensorEntry* e = opened[shard]->find(it.key());
      require(e != nullptr, opened[shard]->path(), "tensor '" + it.key() + "'",
              "listed in model.safetensors.index.json but not in this shard");
      index_[it.key()] = e;
    }
  } else if (fs::exists(single)) {
    files_.push_back(std::make_unique<SafetensorsFile>(single));
    for (const auto& [name, e] : files_.back()->tensors()) index_[name] = &e;
  } else if (fs::exists(fs::path(dir) / "pytorch_model.bin")) {
    torch_ = std::make_unique<TorchCheckpointFile>((fs::path(dir) / "pytorch_model.bin").string());
    for (const auto& [name, e] : torch_->tensors()) {
      // The one name that differs between the layouts.
      const bool emb = layout == Layout::StateSpaces && name == "backbone.embedding.weight";
      index_[emb ? "backbone.embeddings.weight" : name] = &e;
    }
  } else {
    throw Error(dir, "", "no model.safetensors or model.safetensors.index.json");
  }
}

const TensorEntry* Checkpoint::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : index_) out.push_back(name);
  return out;
}

size_t Checkpoint::total_bytes() const {
  size_t n = torch_ ? torch_->file_bytes() : 0;
  for (const auto& f : files_) n += f->file_bytes();
  return n;
}

}  // namespace perfmamba
