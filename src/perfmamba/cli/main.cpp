// perfmamba: run, profile and prune Mamba language models. Each subcommand lives in its own
// file; this one only dispatches and turns errors into one line and a non-zero exit.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <new>

#include "perfmamba/cli/common.hpp"
#include "perfmamba/core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"perfmamba: run, profile and prune selective state space language models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "perfmamba 0.1.0");
  perfmamba::cli::register_inspect(app);
  perfmamba::cli::register_run(app);
  perfmamba::cli::register_eval(app);
  perfmamba::cli::register_convert(app);
  perfmamba::cli::register_profile(app);
  perfmamba::cli::register_prune(app);
  perfmamba::cli::register_compare(app);
  perfmamba::cli::register_bench(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const perfmamba::Error& e) {
    std::fprintf(stderr, "perfmamba: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "perfmamba: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "perfmamba: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
