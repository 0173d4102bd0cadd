// perfmamba bench: prefill and decode throughput over sequence lengths and batch sizes, each set
// against the machine's limit (decode: bytes per token / measured copy bandwidth; prefill: model
// FLOPs / measured GEMM throughput at the same precision).
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "perfmamba/cli/common.hpp"
#include "perfmamba/core/error.hpp"
#include "perfmamba/model/inference_state.hpp"
#include "perfmamba/model/load.hpp"
#include "perfmamba/model/model_stats.hpp"
#include "perfmamba/model/presets.hpp"
#include "perfmamba/profile/kernel_bench.hpp"
#include "perfmamba/profile/machine_peaks.hpp"

namespace perfmamba::cli {
namespace {
struct BenchOptions {
  CommonOptions common;
  std::string seqlens = "64,256,1024,4096", batches = "1", decode_batches = "1";
  int repeats = 5, decode_steps = 32;
  bool kernels = false;
};

std::vector<int> positive_list(const std::string& text, const char* flag) {
  std::vector<int> v;
  for (int32_t x : parse_ids(text)) {
    require(x >= 1, "", flag, "values must be positive");
    v.push_back(x);
  }
  return v;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<int32_t> some_ids(size_t n, int vocab) {
  std::vector<int32_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = int32_t((uint64_t(i) * 2654435761u + 17) % uint64_t(vocab));
  return ids;
}

// --kernels: one layer's conv1d, projections and scan/SSD alone at the model's shapes (no weights needed).
void bench_kernels(const BenchOptions& o) {
  apply_threads(o.common);
  auto backend = make_backend(o.common.device, o.common.precision);
  const auto preset = preset_config(o.common.model);
  const MambaConfig c = preset ? *preset : read_config(o.common.model + "/config.json");
  const MachinePeaks peaks = measure_peaks(*backend);
  FILE* text = o.common.json ? stderr : stdout;
  std::fprintf(text, "%s layer kernels on %s | copy %.0f GB/s (measured); GB/s counts the fewest bytes each op must move\n",
               o.common.model.c_str(), backend->name().c_str(), peaks.copy_bytes_per_s / 1e9);
  nlohmann::json out = {{"model", o.common.model}, {"device", backend->name()}, {"copy_bytes_per_s", peaks.copy_bytes_per_s}};
  for (int b : positive_list(o.batches, "--batch"))
    for (int L : positive_list(o.seqlens, "--seqlen"))
      for (const KernelTiming& k : bench_layer_kernels(*backend, c, b, L, std::max(o.repeats, 3))) {
        const double bw = k.cost.bytes / k.seconds;
        out["kernels"].push_back({{"op", k.op}, {"batch", b}, {"len", L}, {"seconds", k.seconds}, {"min_bytes", k.cost.bytes},
                                  {"flops", k.cost.flops}, {"bytes_per_s", bw}, {"bandwidth_fraction", bw / peaks.copy_bytes_per_s}});
        std::fprintf(text, "%-15s batch %3d L %6d: %9.4f ms  %7.1f GB/s  %5.1f%% of copy BW  %8.1f GFLOP/s\n", k.op.c_str(), b, L,
                     1e3 * k.seconds, bw / 1e9, 100 * bw / peaks.copy_bytes_per_s, k.cost.flops / k.seconds / 1e9);
      }
  if (o.common.json) print_json(out);
}

void bench(const BenchOptions& o) {
  if (o.kernels) return bench_kernels(o);
  apply_threads(o.common);
  auto backend = make_backend(o.common.device, o.common.precision);
  LoadedModel lm = load_model(o.common.model, *backend, o.common.seed);
  MambaLM& m = *lm.model;
  const MambaConfig& c = m.config();
  const MachinePeaks peaks = measure_peaks(*backend);
  const ModelStats st = model_stats(c);
  const auto params = [&](const char* comp) {
    auto it = st.components.find(comp);
    return it == st.components.end() ? 0.0 : double(it->second.params);
  };
  // GEMM weights per token (the lm_head reads the embedding when tied), and everything else
  const double layer_gemm = params("in_proj") + params("x_proj") + params("dt_proj") + params("out_proj");
  const double head = c.tie_embeddings ? params("embedding") : params("lm_head");
  const double gemm_bytes = o.common.precision == "bf16" ? 2.0 : 4.0;
  const double other = double(st.total_params) - layer_gemm - params("lm_head") - params("embedding");
  auto clock = [&] {
    backend->synchronize();
    return std::chrono::steady_clock::now();
  };
  nlohmann::json out = {{"model", o.common.model}, {"device", backend->name()}, {"precision", o.common.precision},
                        {"copy_bytes_per_s", peaks.copy_bytes_per_s}, {"gemm_flops_per_s", peaks.gemm_flops_per_s}};
  std::fprintf(o.common.json ? stderr : stdout, "%s on %s, %s GEMMs | copy %.0f GB/s, GEMM %.1f TFLOP/s (measured)\n", o.common.model.c_str(),
              backend->name().c_str(), o.common.precision.c_str(), peaks.copy_bytes_per_s / 1e9, peaks.gemm_flops_per_s / 1e12);
  for (int b : positive_list(o.batches, "--batch"))
    for (int L : positive_list(o.seqlens, "--seqlen")) {
      const auto ids = some_ids(size_t(b) * size_t(L), c.vocab_size);
      std::vector<double> t;
      for (int r = 0; r <= o.repeats; ++r) {
        InferenceState s = m.new_state(b);
        const auto t0 = clock();
        m.prefill(ids.data(), b, L, s, false);
        const double sec = std::chrono::duration<double>(clock() - t0).count();
        if (r > 0) t.push_back(sec);  // the first is a warm-up
      }
      const double sec = median(t), tokens = double(b) * L;
      const double flops = 2.0 * layer_gemm * tokens + 2.0 * head * b;  // lm_head: last position only
      const double frac = flops / sec / peaks.gemm_flops_per_s;
      out["prefill"].push_back({{"batch", b}, {"len", L}, {"seconds", sec}, {"tokens_per_s", tokens / sec},
                                {"model_flops", flops}, {"compute_fraction", frac}});
      std::fprintf(o.common.json ? stderr : stdout, "prefill batch %3d L %6d: %10.1f tokens/s  %8.3f ms  %5.1f%% of GEMM peak\n", b, L, tokens / sec,
                  1e3 * sec, 100 * frac);
    }
  for (int b : positive_list(o.decode_batches, "--decode-batch")) {
    InferenceState s = m.new_state(b);
    const auto ctx = some_ids(size_t(b) * 16, c.vocab_size);
    m.prefill(ctx.data(), b, 16, s, false);
    const auto next = some_ids(size_t(b), c.vocab_size);
    // Greedy generation as a user runs it: each step's ids chosen on the device and fed to the
    // next; the mean step of a run of decode_steps, the median of three runs. Warm-up first (on
    // CUDA the first steps run plainly, then record the graph that the others replay).
    m.decode_greedy(next.data(), s, 4);
    std::vector<double> t;
    for (int r = 0; r < 3; ++r) {
      const auto t0 = clock();
      m.decode_greedy(next.data(), s, o.decode_steps);
      t.push_back(std::chrono::duration<double>(clock() - t0).count() / o.decode_steps);
    }
    const double sec = median(t);
    // Steps that also hand all logits to the host (what sampling on the host costs per step).
    for (int i = 0; i < 3; ++i) m.decode(next.data(), s);
    std::vector<double> tl;
    for (int i = 0; i < std::min(o.decode_steps, 16); ++i) {
      const auto t0 = clock();
      m.decode(next.data(), s);
      tl.push_back(std::chrono::duration<double>(clock() - t0).count());
    }
    const double bytes = (layer_gemm + head) * gemm_bytes + other * 4.0 +
                         2.0 * double(b) * double(st.ssm_state_bytes + st.conv_state_bytes);
    const double frac = bytes / peaks.copy_bytes_per_s / sec;
    out["decode"].push_back({{"batch", b}, {"seconds_per_step", sec}, {"tokens_per_s", b / sec},
                             {"bytes_per_step", bytes}, {"bandwidth_fraction", frac},
                             {"logits_to_host_seconds_per_step", median(tl)}});
    std::fprintf(o.common.json ? stderr : stdout,
                 "decode  batch %3d:          %10.1f tokens/s  %8.3f ms/step  %5.1f%% of bandwidth bound"
                 "  (%.3f ms/step with logits to the host)\n",
                 b, b / sec, 1e3 * sec, 100 * frac, 1e3 * median(tl));
  }
  if (o.common.json) print_json(out);
}
}  // namespace

void register_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand("bench", "Prefill and decode throughput against the machine's measured limits");
  add_model_options(*cmd, o->common);
  add_device_option(*cmd, o->common);
  cmd->add_option("--seqlen", o->seqlens, "Prefill lengths, comma-separated");
  cmd->add_option("--batch", o->batches, "Prefill batch sizes, comma-separated");
  cmd->add_option("--decode-batch", o->decode_batches, "Decode batch sizes, comma-separated");
  cmd->add_option("--repeats", o->repeats, "Timed prefill repeats (median)")->check(CLI::Range(1, 1000));
  cmd->add_flag("--kernels", o->kernels, "Time one layer's conv1d and scan/SSD alone at the model's shapes");
  cmd->add_option("--decode-steps", o->decode_steps, "Timed decode steps (median)")->check(CLI::Range(1, 100000));
  cmd->callback([o] { bench(*o); });
}

}  // namespace perfmamba::cli
