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
  CpuTimes total;                 // the "cpu" line: all CPUs together
  std::vector<CpuTimes> per_cpu;  // "cpu0", "cpu1", ... in order
  uint64_t context_switches = 0;
  int64_t boot_time_s = 0;  // Unix seconds
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

// /proc/loadavg: "0.52 0.58 0.59 3/1012 123456".
struct LoadAvg {
  double load1 = 0, load5 = 0, load15 = 0;
  uint64_t running_threads = 0;  // runnable scheduling entities (threads)
  uint64_t total_threads = 0;    // all scheduling entities (threads)
};
absl::StatusOr<LoadAvg> ParseLoadAvg(std::string_view text);

// /proc/uptime: seconds since boot, and idle seconds summed over all CPUs.
struct Uptime {
  double uptime_s = 0, idle_s = 0;
};
absl::StatusOr<Uptime> ParseUptime(std::string_view text);

// One line of /proc/mounts, with the kernel's octal escapes (\040 for a
// space, ...) undone.
struct MountEntry {
  std::string device, mountpoint, fstype;
  bool read_only = false;  // "ro" among the mount options
};
absl::StatusOr<std::vector<MountEntry>> ParseMounts(std::string_view text);

// One device of /proc/diskstats. Sectors are 512 bytes whatever the device's
// real sector size; times are milliseconds.
struct DiskStats {
  uint32_t major = 0, minor = 0;
  std::string device;
  uint64_t reads_completed = 0, reads_merged = 0, sectors_read = 0, read_time_ms = 0;
  uint64_t writes_completed = 0, writes_merged = 0, sectors_written = 0, write_time_ms = 0;
  uint64_t ios_in_progress = 0, io_time_ms = 0, weighted_io_time_ms = 0;
  // Kernels from 4.18 on; zero before.
  uint64_t discards_completed = 0, sectors_discarded = 0;
};
// Accepts the 14-, 18- and 20-field layouts of different kernels.
absl::StatusOr<std::vector<DiskStats>> ParseDiskStats(std::string_view text);

// One interface of /proc/net/dev.
struct NetDevStats {
  std::string interface;
  uint64_t rx_bytes = 0, rx_packets = 0, rx_errors = 0, rx_drops = 0;
  uint64_t tx_bytes = 0, tx_packets = 0, tx_errors = 0, tx_drops = 0;
};
absl::StatusOr<std::vector<NetDevStats>> ParseNetDev(std::string_view text);

// /proc/PID/stat. The command name in parentheses may itself hold spaces and
// parentheses; it ends at the last ')'.
struct PidStat {
  int64_t pid = 0;
  std::string comm;
  char state = '?';
  int64_t ppid = 0;
  double utime_s = 0, stime_s = 0;  // user and system CPU seconds
  uint64_t num_threads = 0;
  uint64_t start_ticks = 0;  // clock ticks after boot
  uint64_t rss_pages = 0;    // resident set, in pages
};
absl::StatusOr<PidStat> ParsePidStat(std::string_view text, double ticks_per_second);

// /proc/PID/cmdline: NUL-separated arguments joined by single spaces
// (trailing NULs dropped). Empty for kernel threads and zombies.
std::string JoinCmdline(std::string_view raw);

// True if a line of /proc/PID/cgroup (v1 or v2) has `unit` (e.g.
// "nginx.service") as one component of its path.
bool CgroupHasUnit(std::string_view cgroup_text, std::string_view unit);

// Reads whole small files below an injectable root ("" for the real one), so
// tests point the agent at fixture trees.
class ProcFs {
 public:
  explicit ProcFs(std::string root = "") : root_(std::move(root)) {}
  // `path` is absolute as seen on the host, e.g. "/proc/stat". Files are
  // capped at 4 MiB; /proc files report size 0, so this reads until EOF.
  absl::StatusOr<std::string> Read(std::string_view path) const;
  // Names of the entries of a directory (without "." and ".."), e.g.
  // List("/proc/42/fd"). Unordered.
  absl::StatusOr<std::vector<std::string>> List(std::string_view path) const;
  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

}  // namespace plumbline::agent
