// perfmamba run: prefill a prompt and generate with the state cache, streaming text.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "perfmamba/cli/common.hpp"
#include "perfmamba/core/error.hpp"
#include "perfmamba/io/mapped_file.hpp"
#include "perfmamba/model/generate.hpp"
#include "perfmamba/model/load.hpp"
#include "perfmamba/tokenizer/tokenizer.hpp"

namespace perfmamba::cli {
namespace {
struct RunOptions {
  CommonOptions common;
  std::string prompt, prompt_file, ids, tokenizer;
  bool prompt_given = false;
  int n_new = 128;
  int ctx = 0;  // 0: no limit
  bool ignore_eos = false;
  SamplingOptions sampling;
};

std::string read_prompt(const RunOptions& o) {
  if (o.prompt_file.empty()) return o.prompt;
  if (o.prompt_file == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  return read_text_file(o.prompt_file);
}

// Holds back an incomplete UTF-8 sequence at the end of the stream until its last byte comes.
class Utf8Stream {
 public:
  void write(const std::string& bytes) {
    pending_ += bytes;
    size_t cut = pending_.size();
    for (size_t back = 1; back <= std::min<size_t>(3, pending_.size()); ++back) {
      const auto c = static_cast<unsigned char>(pending_[pending_.size() - back]);
      if ((c & 0xc0) == 0x80) continue;  // continuation byte: look further back
      const size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
      if (need > back) cut = pending_.size() - back;
      break;
    }
    std::fwrite(pending_.data(), 1, cut, stdout);
    std::fflush(stdout);
    pending_.erase(0, cut);
  }
  ~Utf8Stream() { std::fwrite(pending_.data(), 1, pending_.size(), stdout); }

 private:
  std::string pending_;
};

void run(const RunOptions& o) {
  apply_threads(o.common);
  auto backend = make_backend(o.common.device, o.common.precision);
  LoadedModel lm = load_model(o.common.model, *backend, o.common.seed);
  MambaLM& model = *lm.model;
  std::optional<Tokenizer> tok;
  std::vector<int32_t> prompt;
  if (!o.ids.empty()) {
    require(!o.prompt_given && o.prompt_file.empty(), "", "--ids", "give either --ids or a text prompt");
    prompt = parse_ids(o.ids);
    const std::string path = tokenizer_path(o.common.model, o.tokenizer, /*required=*/false);
    if (!path.empty()) tok = Tokenizer::from_file(path);
  } else {
    tok = Tokenizer::from_file(tokenizer_path(o.common.model, o.tokenizer, /*required=*/true));
    prompt = tok->encode(read_prompt(o));
    if (prompt.empty()) {  // documented: an empty prompt starts from the end-of-text token
      require(model.config().eos_token_id >= 0, "", "--prompt",
              "empty prompt and the model has no end-of-text token to start from");
      prompt.push_back(model.config().eos_token_id);
    }
  }
  require(o.ctx == 0 || int(prompt.size()) <= o.ctx, "", "--prompt",
          "prompt has " + std::to_string(prompt.size()) + " tokens, longer than --ctx " + std::to_string(o.ctx));
  const int32_t stop = o.ignore_eos ? -1 : model.config().eos_token_id;
  Sampler sampler(o.sampling);
  std::vector<int32_t> generated;
  {
    Utf8Stream out;
    const bool text = tok.has_value() && o.ids.empty() && !o.common.json;
    const GenerationStats st = generate(model, prompt, o.n_new, sampler, stop, [&](int32_t id) {
      generated.push_back(id);
      if (o.common.json) return;
      if (text) out.write(tok->decode_one(id));
      else out.write((generated.size() > 1 ? " " : "") + std::to_string(id));
    });
    const double prefill_tps = st.prompt_tokens / std::max(st.prefill_seconds, 1e-9);
    const double decode_tps = st.generated_tokens / std::max(st.decode_seconds, 1e-9);
    if (o.common.json) {
      nlohmann::json j = {{"model", o.common.model},       {"prompt_ids", prompt},
                          {"generated_ids", generated},     {"stopped_at_eos", st.stopped_at_eos},
                          {"load_seconds", lm.load_seconds}, {"prefill_tokens_per_s", prefill_tps},
                          {"decode_tokens_per_s", decode_tps}};
      if (tok) j["text"] = tok->decode(generated);
      print_json(j);
    } else {
      out.write("\n");
      std::fprintf(stderr, "load %.2f s | prefill %d tokens, %.1f tokens/s | decode %d tokens, %.1f tokens/s%s\n",
                   lm.load_seconds, st.prompt_tokens, prefill_tps, st.generated_tokens, decode_tps,
                   st.stopped_at_eos ? " | stopped at end-of-text" : "");
    }
  }
}
}  // namespace

void register_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "Generate text (or token ids) from a prompt with the state cache");
  add_model_options(*cmd, o->common);
  add_device_option(*cmd, o->common);
  auto* p = cmd->add_option("--prompt,-p", o->prompt, "Prompt text (empty: start from end-of-text)");
  cmd->add_option("--prompt-file", o->prompt_file, "Read the prompt from a file ('-' for stdin)")->excludes(p);
  cmd->add_option("--ids", o->ids, "Prompt as comma-separated token ids instead of text");
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.json (default: the model directory's)");
  cmd->add_option("-n,--n-new", o->n_new, "Tokens to generate")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--ctx", o->ctx, "Refuse prompts longer than this many tokens (0: no limit)")->check(CLI::Range(0, 1 << 24));
  cmd->add_option("--temperature", o->sampling.temperature, "Sampling temperature; 0 = greedy")->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--top-k", o->sampling.top_k, "Sample among the k most likely tokens (0: all)")->check(CLI::Range(0, 1 << 24));
  cmd->add_option("--top-p", o->sampling.top_p, "Nucleus sampling mass")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--sample-seed", o->sampling.seed, "Seed of the sampler");
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating after the end-of-text token");
  cmd->callback([o, p] {
    o->prompt_given = p->count() > 0;
    run(*o);
  });
}

}  // namespace perfmamba::cli
