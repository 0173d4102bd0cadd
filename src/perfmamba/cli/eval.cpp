// perfmamba eval: perplexity of a text file under a sliding window.
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "perfmamba/cli/common.hpp"
#include "perfmamba/core/error.hpp"
#include "perfmamba/core/progress.hpp"
#include "perfmamba/eval/perplexity.hpp"
#include "perfmamba/io/mapped_file.hpp"
#include "perfmamba/model/load.hpp"
#include "perfmamba/tokenizer/tokenizer.hpp"

namespace perfmamba::cli {
namespace {
struct EvalOptions {
  CommonOptions common;
  std::string ppl_file, tokenizer;
  PerplexityOptions ppl;
  int64_t max_tokens = 0;
};

void eval(const EvalOptions& o) {
  apply_threads(o.common);
  require(!o.ppl_file.empty(), "", "--ppl", "give a text file to score");
  const Tokenizer tok = Tokenizer::from_file(tokenizer_path(o.common.model, o.tokenizer, true));
  const std::string text = read_text_file(o.ppl_file);
  std::vector<int32_t> ids;
  try {
    ids = tok.encode(text);
  } catch (const Error& e) {
    throw Error(o.ppl_file, e.field(), e.message());
  }
  if (o.max_tokens > 0 && int64_t(ids.size()) > o.max_tokens) ids.resize(size_t(o.max_tokens));
  require(ids.size() >= 2, o.ppl_file, "", "holds fewer than 2 tokens: nothing to score");
  // Bits per byte over the bytes the scored tokens stand for (the first token is context only).
  const double bytes = double(tok.decode(ids).size() - tok.decode_one(ids[0]).size());

  auto backend = make_backend(o.common.device);
  LoadedModel lm = load_model(o.common.model, *backend, o.common.seed);
  PerplexityResult r;
  {
    std::optional<Progress> bar;
    r = perplexity(*lm.model, ids, o.ppl, [&](int64_t done, int64_t total) {
      if (!bar) bar.emplace("perplexity", total, "tokens");
      bar->update(done);
    });
  }
  const double bpb = r.nll_sum / std::log(2.0) / bytes;
  if (o.common.json) {
    print_json({{"model", o.common.model}, {"file", o.ppl_file}, {"ppl", r.ppl()},
                {"mean_nll", r.mean_nll()}, {"tokens", r.tokens}, {"windows", r.windows},
                {"bits_per_byte", bpb}, {"ctx", o.ppl.ctx}, {"stride", o.ppl.stride},
                {"seconds", r.seconds}, {"tokens_per_s", double(r.tokens) / r.seconds}});
  } else {
    std::printf("perplexity %.4f  (mean NLL %.5f nats, %.4f bits/byte) over %lld tokens in %lld windows "
                "(ctx %d, stride %d), %.1f s\n",
                r.ppl(), r.mean_nll(), bpb, static_cast<long long>(r.tokens),
                static_cast<long long>(r.windows), o.ppl.ctx, o.ppl.stride, r.seconds);
  }
}
}  // namespace

void register_eval(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  auto* cmd = app.add_subcommand("eval", "Perplexity of a text file");
  add_model_options(*cmd, o->common);
  add_device_option(*cmd, o->common);
  cmd->add_option("--ppl", o->ppl_file, "Text file to score")->required();
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.json (default: the model directory's)");
  cmd->add_option("--ctx", o->ppl.ctx, "Window length in tokens")->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--stride", o->ppl.stride, "Window step in tokens (<= ctx)")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--batch", o->ppl.batch, "Windows per forward")->check(CLI::Range(1, 4096));
  cmd->add_option("--max-tokens", o->max_tokens, "Score only the first N tokens of the file")->check(CLI::Range(int64_t(0), int64_t(1) << 40));
  cmd->callback([o] { eval(*o); });
}

}  // namespace perfmamba::cli
