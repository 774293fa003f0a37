// Parsers for the /proc files the agent reads. Each takes the file's text
// and never throws or crashes on garbage: a truncated or garbled file gives
// an InvalidArgument error naming the file and line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace plumbline::agent {

// CPU time in seconds, by mode, as /proc/stat counts it.
struct CpuTimes {
  double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  double Total() const { return user + nice + system + idle + iowait + irq + softirq + steal; }
  // Time not spent idle or waiting for I/O.
  double Busy() const { return Total() - idle - iowait; }
};

struct ProcStat {
  CpuTimes total;                // the "cpu" line: all CPUs together
  std::vector<CpuTimes> per_cpu;  // "cpu0", "cpu1", ... in order
  uint64_t context_switches = 0;
  int64_t boot_time_s = 0;       // Unix seconds
  uint64_t processes_forked = 0;
  uint64_t procs_running = 0;
  uint64_t procs_blocked = 0;
};

// `ticks_per_second` is sysconf(_SC_CLK_TCK), normally 100.
absl::StatusOr<ProcStat> ParseProcStat(std::string_view text, double ticks_per_second);

// Bytes.
struct MemInfo {
  uint64_t total = 0, free = 0, available = 0, buffers = 0, cached = 0;
  uint64_t swap_total = 0, swap_free = 0;
  uint64_t Used() const { return total > available ? total - available : 0; }
};

// MemTotal and MemFree are required; MemAvailable falls back to
// MemFree + Buffers + Cached on kernels without it.
absl::StatusOr<MemInfo> ParseMemInfo(std::string_view text);

// Reads whole small files below an injectable root ("" for the real one), so
// tests point the agent at fixture trees.
class ProcFs {
 public:
  explicit ProcFs(std::string root = "") : root_(std::move(root)) {}
  // `path` is absolute as seen on the host, e.g. "/proc/stat". Files are
  // capped at 4 MiB; /proc files report size 0, so this reads until EOF.
  absl::StatusOr<std::string> Read(std::string_view path) const;
  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

}  // namespace plumbline::agent
