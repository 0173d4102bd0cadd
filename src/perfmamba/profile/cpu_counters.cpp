#include "perfmamba/profile/cpu_counters.hpp"

#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace perfmamba {
namespace {
int open_counter(uint64_t config, pid_t tid, int group_fd) {
  perf_event_attr a{};
  a.size = sizeof a;
  a.type = PERF_TYPE_HARDWARE;
  a.config = config;
  a.exclude_kernel = 1;  // allowed at perf_event_paranoid 2, the common default
  a.exclude_hv = 1;
  a.read_format = PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
  return int(syscall(SYS_perf_event_open, &a, tid, -1, group_fd, 0));
}

std::string paranoid_level() {
  std::ifstream f("/proc/sys/kernel/perf_event_paranoid");
  std::string v;
  return f >> v ? v : "unknown";
}
}  // namespace

std::unique_ptr<CpuCounters> CpuCounters::open(std::string& why_not) {
  std::unique_ptr<CpuCounters> c(new CpuCounters);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    const pid_t tid = pid_t(std::stol(entry.path().filename().string()));
    const int leader = open_counter(PERF_COUNT_HW_CPU_CYCLES, tid, -1);
    if (leader < 0) {
      why_not = std::string("perf_event_open: ") + std::strerror(errno) +
                " (kernel.perf_event_paranoid = " + paranoid_level() + ")";
      return nullptr;
    }
    c->group_fds_.push_back(leader);
    c->all_fds_.push_back(leader);
    for (uint64_t cfg : {uint64_t(PERF_COUNT_HW_INSTRUCTIONS), uint64_t(PERF_COUNT_HW_CACHE_MISSES)}) {
      const int fd = open_counter(cfg, tid, leader);
      if (fd < 0) {
        why_not = std::string("perf_event_open (instructions / cache misses): ") + std::strerror(errno);
        return nullptr;
      }
      c->all_fds_.push_back(fd);
    }
  }
  if (ec || c->group_fds_.empty()) {
    why_not = "cannot list /proc/self/task";
    return nullptr;
  }
  return c;
}

CpuCounters::~CpuCounters() {
  for (int fd : all_fds_) close(fd);
}

CounterValues CpuCounters::read() const {
  CounterValues total;
  for (int fd : group_fds_) {
    uint64_t buf[6] = {};  // nr, time enabled, time running, cycles, instructions, cache misses
    if (::read(fd, buf, sizeof buf) != ssize_t(sizeof buf) || buf[0] != 3 || buf[2] == 0) continue;
    // scaled up when the kernel multiplexed the group (ran it part of the time)
    const double scale = double(buf[1]) / double(buf[2]);
    total += CounterValues{buf[3] * scale, buf[4] * scale, buf[5] * scale};
  }
  return total;
}

}  // namespace perfmamba
