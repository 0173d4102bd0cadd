#pragma once
// A one-line progress bar on stderr for long work; silent when stderr is not a terminal, so
// logs and CI output stay clean.
#include <chrono>
#include <cstdint>
#include <string>

namespace perfmamba {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "");
  ~Progress();  // finishes the line
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  void update(int64_t done, const std::string& extra = "");

 private:
  std::string label_, unit_;
  int64_t total_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace perfmamba
