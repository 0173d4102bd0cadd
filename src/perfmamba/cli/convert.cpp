// perfmamba convert: any model perfmamba reads (state-spaces torch.save, HF safetensors, a
// preset) written in the Hugging Face layout.
#include <filesystem>

#include "perfmamba/cli/common.hpp"
#include "perfmamba/core/error.hpp"
#include "perfmamba/model/export.hpp"
#include "perfmamba/model/load.hpp"

namespace perfmamba::cli {
namespace {
struct ConvertOptions {
  CommonOptions common;
  std::string out, dtype = "f32";
  bool force = false;
};

DType parse_dtype(const std::string& s) {
  if (s == "f32" || s == "float32") return DType::F32;
  if (s == "bf16" || s == "bfloat16") return DType::BF16;
  if (s == "f16" || s == "float16") return DType::F16;
  throw Error("", "--dtype", "expected f32, bf16 or f16, found '" + s + "'");
}

void convert(const ConvertOptions& o) {
  apply_threads(o.common);
  ExportOptions e;
  e.dtype = parse_dtype(o.dtype);
  e.overwrite = o.force;
  e.tokenizer_from = tokenizer_path(o.common.model, "", false);
  require(std::filesystem::weakly_canonical(o.out) != std::filesystem::weakly_canonical(o.common.model), o.out,
          "--out", "is the input directory; choose another");
  auto backend = make_cpu_backend();
  LoadedModel lm = load_model(o.common.model, *backend, o.common.seed);
  export_hf(lm.model->config(), lm.model->mutable_weights(), o.out, e);
  if (o.common.json) print_json({{"model", o.common.model}, {"out", o.out}, {"dtype", o.dtype}});
  else std::printf("wrote %s (Hugging Face layout, %s)\n", o.out.c_str(), o.dtype.c_str());
}
}  // namespace

void register_convert(CLI::App& app) {
  auto o = std::make_shared<ConvertOptions>();
  auto* cmd = app.add_subcommand("convert", "Write a model in the Hugging Face layout (config.json + safetensors)");
  add_model_options(*cmd, o->common);
  cmd->add_option("--out,-o", o->out, "Output directory")->required();
  cmd->add_option("--dtype", o->dtype, "Weight storage type: f32, bf16, f16");
  cmd->add_flag("--force", o->force, "Replace files that already exist in the output directory");
  cmd->callback([o] { convert(*o); });
}

}  // namespace perfmamba::cli
