#pragma once
// Writes a model in the Hugging Face layout (config.json + model.safetensors), so that
// transformers and perfmamba load it: the output of `convert` and, later, of `prune`.
#include <string>

#include "perfmamba/core/dtype.hpp"
#include "perfmamba/io/config.hpp"
#include "perfmamba/model/weights.hpp"

namespace perfmamba {

struct ExportOptions {
  DType dtype = DType::F32;    // storage dtype of the weights: F32, BF16 or F16
  bool overwrite = false;      // replace files already in the output directory
  std::string tokenizer_from;  // tokenizer.json to copy beside the model ("" = none)
};

void export_hf(const MambaConfig& c, ModelWeights& w, const std::string& out_dir, const ExportOptions& o);

}  // namespace perfmamba
