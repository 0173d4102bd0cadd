#pragma once
// Hardware counters of the CPU (cycles, instructions, last-level cache misses) through Linux
// perf_event_open, counted for every thread of this process in user space. Many VMs and
// containers do not expose them; open() then says why, and the profile records that note
// instead of numbers.
#include <memory>
#include <string>
#include <vector>

namespace perfmamba {

struct CounterValues {
  double cycles = 0, instructions = 0, llc_misses = 0;
  CounterValues operator-(const CounterValues& o) const {
    return {cycles - o.cycles, instructions - o.instructions, llc_misses - o.llc_misses};
  }
  CounterValues& operator+=(const CounterValues& o) {
    cycles += o.cycles, instructions += o.instructions, llc_misses += o.llc_misses;
    return *this;
  }
};

class CpuCounters {
 public:
  // Counters on every thread that exists now (call after the thread pools have started; threads
  // created later are not counted). Null with `why_not` set when the machine does not allow it.
  static std::unique_ptr<CpuCounters> open(std::string& why_not);
  ~CpuCounters();
  CpuCounters(const CpuCounters&) = delete;
  CpuCounters& operator=(const CpuCounters&) = delete;
  CounterValues read() const;  // running totals since open()

 private:
  CpuCounters() = default;
  std::vector<int> group_fds_;  // one group leader per thread
  std::vector<int> all_fds_;
};

}  // namespace perfmamba
