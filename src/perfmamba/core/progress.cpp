#include "perfmamba/core/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace perfmamba {

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

Progress::~Progress() {
  if (enabled_) std::fprintf(stderr, "\n");
}

void Progress::update(int64_t done, const std::string& extra) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double frac = total_ > 0 ? double(done) / double(total_) : 1.0;
  const int width = 30, filled = int(frac * width);
  std::string bar(size_t(filled), '#');
  bar.resize(size_t(width), '.');
  std::fprintf(stderr, "\r%s [%s] %3.0f%% %lld/%lld %s %.0f %s/s %s", label_.c_str(), bar.c_str(),
               100 * frac, static_cast<long long>(done), static_cast<long long>(total_),
               unit_.c_str(), secs > 0 ? double(done) / secs : 0.0, unit_.c_str(), extra.c_str());
  std::fflush(stderr);
}

}  // namespace perfmamba
