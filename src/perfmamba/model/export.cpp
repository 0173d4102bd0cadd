#include "perfmamba/model/export.hpp"

#include <filesystem>

#include "perfmamba/core/error.hpp"
#include "perfmamba/io/atomic_file.hpp"
#include "perfmamba/io/mapped_file.hpp"
#include "perfmamba/io/safetensors.hpp"

namespace perfmamba {
namespace fs = std::filesystem;

void export_hf(const MambaConfig& c, ModelWeights& w, const std::string& out_dir, const ExportOptions& o) {
  require(o.dtype == DType::F32 || o.dtype == DType::BF16 || o.dtype == DType::F16, out_dir, "--dtype",
          "expected f32, bf16 or f16");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  require(!ec && fs::is_directory(out_dir), out_dir, "", "cannot create the output directory");
  MambaConfig hf = c;
  hf.layout = Layout::HuggingFace;
  std::vector<TensorToWrite> tensors;
  for (const WeightSlot& s : weight_slots(hf, w)) tensors.push_back({s.name, o.dtype, s.tensor});
  // Write the weights first: a config.json beside missing weights would look like a model.
  write_safetensors((fs::path(out_dir) / "model.safetensors").string(), tensors, {{"format", "pt"}}, o.overwrite);
  nlohmann::json config = to_hf_config(hf);
  config["torch_dtype"] = o.dtype == DType::F32 ? "float32" : o.dtype == DType::BF16 ? "bfloat16" : "float16";
  write_file_atomic((fs::path(out_dir) / "config.json").string(), config.dump(2) + "\n", o.overwrite);
  if (!o.tokenizer_from.empty())
    write_file_atomic((fs::path(out_dir) / "tokenizer.json").string(), read_text_file(o.tokenizer_from), o.overwrite);
}

}  // namespace perfmamba
