#include "agent/proc_parsers.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace plumbline::agent {

namespace {

bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

std::vector<std::string_view> Fields(std::string_view line) { return SplitFields(line); }

bool ParseI64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// A finite, non-negative decimal such as "0.52" or "350735.47".
bool ParseNonNegativeDouble(std::string_view s, double* out) {
  if (s.empty() || s[0] == '-' || s[0] == '+') return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size() && std::isfinite(*out);
}

// Undoes the octal escapes /proc/mounts uses for space, tab, newline and
// backslash ("\040"); anything else is kept as it is.
std::string UnescapeOctal(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// Quotes a piece of a garbled file for an error message: at most 40 bytes,
// non-printable bytes as '?', so a message never carries binary garbage.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < 40; ++i) {
    char c = s[i];
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  if (s.size() > 40) out += "...";
  out += "\"";
  return out;
}

}  // namespace

absl::StatusOr<ProcStat> ParseProcStat(std::string_view text, double ticks_per_second) {
  if (ticks_per_second <= 0) return absl::InvalidArgumentError("ticks_per_second must be > 0");
  ProcStat stat;
  bool saw_total = false;
  int line_no = 0;
  for (std::string_view line : Split(text, '\n')) {
    ++line_no;
    std::vector<std::string_view> f = Fields(line);
    if (f.empty()) continue;
    auto error = [&](std::string_view what) {
      return absl::InvalidArgumentError(StrCat("/proc/stat:", line_no, ": ", what));
    };
    if (f[0].rfind("cpu", 0) == 0) {
      // user nice system idle [iowait irq softirq steal guest guest_nice]
      if (f.size() < 5) {
        return error(StrCat(f[0], " line has ", f.size() - 1, " fields, expected at least 4"));
      }
      double v[8] = {};
      for (size_t i = 1; i < f.size() && i <= 8; ++i) {
        uint64_t ticks = 0;
        if (!ParseU64(f[i], &ticks)) return error(StrCat("bad number \"", f[i], "\""));
        v[i - 1] = static_cast<double>(ticks) / ticks_per_second;
      }
      CpuTimes t{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
      if (f[0] == "cpu") {
        stat.total = t;
        saw_total = true;
      } else {
        uint64_t index = 0;
        if (!ParseU64(f[0].substr(3), &index) || index > 65535) {
          return error(StrCat("bad cpu name \"", f[0], "\""));
        }
        if (index != stat.per_cpu.size()) {
          // Offline CPUs leave gaps; keep positions so cpuN stays cpuN.
          if (index < stat.per_cpu.size()) return error("cpu lines out of order");
          stat.per_cpu.resize(index);
        }
        stat.per_cpu.push_back(t);
      }
      continue;
    }
    uint64_t* target = nullptr;
    if (f[0] == "ctxt") target = &stat.context_switches;
    if (f[0] == "processes") target = &stat.processes_forked;
    if (f[0] == "procs_running") target = &stat.procs_running;
    if (f[0] == "procs_blocked") target = &stat.procs_blocked;
    if (f[0] == "btime") {
      uint64_t bt = 0;
      if (f.size() < 2 || !ParseU64(f[1], &bt) || bt > (1ULL << 40)) return error("bad btime");
      stat.boot_time_s = static_cast<int64_t>(bt);
    } else if (target != nullptr) {
      if (f.size() < 2 || !ParseU64(f[1], target)) return error(StrCat("bad ", f[0]));
    }
  }
  if (!saw_total) return absl::InvalidArgumentError("/proc/stat: no \"cpu\" line");
  return stat;
}

absl::StatusOr<MemInfo> ParseMemInfo(std::string_view text) {
  MemInfo m;
  bool have_total = false, have_free = false, have_available = false;
  int line_no = 0;
  for (std::string_view line : Split(text, '\n')) {
    ++line_no;
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError(
          StrCat("/proc/meminfo:", line_no, ": expected \"Key: value\""));
    }
    std::string_view key = line.substr(0, colon);
    std::vector<std::string_view> f = Fields(line.substr(colon + 1));
    uint64_t value = 0;
    if (f.empty() || !ParseU64(f[0], &value)) {
      return absl::InvalidArgumentError(StrCat("/proc/meminfo:", line_no, ": bad value for ", key));
    }
    if (f.size() > 1) {
      if (f[1] != "kB") {
        return absl::InvalidArgumentError(
            StrCat("/proc/meminfo:", line_no, ": unknown unit \"", f[1], "\""));
      }
      if (value > (UINT64_MAX >> 10)) {
        return absl::InvalidArgumentError(StrCat("/proc/meminfo:", line_no, ": overflow"));
      }
      value *= 1024;
    }
    if (key == "MemTotal") {
      m.total = value;
      have_total = true;
    } else if (key == "MemFree") {
      m.free = value;
      have_free = true;
    } else if (key == "MemAvailable") {
      m.available = value;
      have_available = true;
    } else if (key == "Buffers") {
      m.buffers = value;
    } else if (key == "Cached") {
      m.cached = value;
    } else if (key == "SwapTotal") {
      m.swap_total = value;
    } else if (key == "SwapFree") {
      m.swap_free = value;
    }
  }
  if (!have_total || !have_free) {
    return absl::InvalidArgumentError("/proc/meminfo: MemTotal or MemFree missing");
  }
  if (!have_available) m.available = m.free + m.buffers + m.cached;
  if (m.available > m.total) m.available = m.total;
  return m;
}

absl::StatusOr<LoadAvg> ParseLoadAvg(std::string_view text) {
  auto error = [](std::string_view what) {
    return absl::InvalidArgumentError(StrCat("/proc/loadavg: ", what));
  };
  std::vector<std::string_view> f = Fields(TrimSpace(Split(text, '\n')[0]));
  if (f.size() < 4) return error(StrCat("has ", f.size(), " fields, expected 5"));
  LoadAvg l;
  double* loads[] = {&l.load1, &l.load5, &l.load15};
  for (size_t i = 0; i < 3; ++i) {
    if (!ParseNonNegativeDouble(f[i], loads[i])) return error(StrCat("bad load ", Quote(f[i])));
  }
  size_t slash = f[3].find('/');
  if (slash == std::string_view::npos || !ParseU64(f[3].substr(0, slash), &l.running_threads) ||
      !ParseU64(f[3].substr(slash + 1), &l.total_threads)) {
    return error(StrCat("bad running/total ", Quote(f[3])));
  }
  return l;
}

absl::StatusOr<Uptime> ParseUptime(std::string_view text) {
  std::vector<std::string_view> f = Fields(TrimSpace(Split(text, '\n')[0]));
  if (f.empty()) return absl::InvalidArgumentError("/proc/uptime: empty");
  Uptime u;
  if (!ParseNonNegativeDouble(f[0], &u.uptime_s)) {
    return absl::InvalidArgumentError(StrCat("/proc/uptime: bad uptime ", Quote(f[0])));
  }
  if (f.size() > 1 && !ParseNonNegativeDouble(f[1], &u.idle_s)) {
    return absl::InvalidArgumentError(StrCat("/proc/uptime: bad idle time ", Quote(f[1])));
  }
  return u;
}

absl::StatusOr<std::vector<MountEntry>> ParseMounts(std::string_view text) {
  std::vector<MountEntry> mounts;
  int line_no = 0;
  for (std::string_view line : Split(text, '\n')) {
    ++line_no;
    std::vector<std::string_view> f = Fields(line);
    if (f.empty()) continue;
    if (f.size() < 4) {
      return absl::InvalidArgumentError(
          StrCat("/proc/mounts:", line_no, ": has ", f.size(), " fields, expected at least 4"));
    }
    MountEntry m;
    m.device = UnescapeOctal(f[0]);
    m.mountpoint = UnescapeOctal(f[1]);
    m.fstype = UnescapeOctal(f[2]);
    if (m.mountpoint.empty() || m.mountpoint[0] != '/') {
      return absl::InvalidArgumentError(
          StrCat("/proc/mounts:", line_no, ": mount point ", Quote(f[1]), " is not absolute"));
    }
    for (std::string_view option : Split(f[3], ',')) {
      if (option == "ro") m.read_only = true;
    }
    mounts.push_back(std::move(m));
  }
  return mounts;
}

absl::StatusOr<std::vector<DiskStats>> ParseDiskStats(std::string_view text) {
  std::vector<DiskStats> disks;
  int line_no = 0;
  for (std::string_view line : Split(text, '\n')) {
    ++line_no;
    std::vector<std::string_view> f = Fields(line);
    if (f.empty()) continue;
    auto error = [&](std::string_view what) {
      return absl::InvalidArgumentError(StrCat("/proc/diskstats:", line_no, ": ", what));
    };
    if (f.size() < 14) return error(StrCat("has ", f.size(), " fields, expected at least 14"));
    DiskStats d;
    uint64_t major = 0, minor = 0;
    if (!ParseU64(f[0], &major) || !ParseU64(f[1], &minor) || major > UINT32_MAX ||
        minor > UINT32_MAX) {
      return error("bad device number");
    }
    d.major = static_cast<uint32_t>(major);
    d.minor = static_cast<uint32_t>(minor);
    d.device = std::string(f[2]);
    uint64_t* targets[] = {&d.reads_completed, &d.reads_merged,       &d.sectors_read,
                           &d.read_time_ms,    &d.writes_completed,   &d.writes_merged,
                           &d.sectors_written, &d.write_time_ms,      &d.ios_in_progress,
                           &d.io_time_ms,      &d.weighted_io_time_ms};
    uint64_t discards_merged = 0, discard_time_ms = 0;
    uint64_t* discard_targets[] = {&d.discards_completed, &discards_merged, &d.sectors_discarded,
                                   &discard_time_ms};
    for (size_t i = 3; i < f.size(); ++i) {
      uint64_t value = 0;
      if (!ParseU64(f[i], &value)) return error(StrCat("bad number ", Quote(f[i])));
      if (i - 3 < 11) *targets[i - 3] = value;
      if (i - 3 >= 11 && i - 3 < 15 && f.size() >= 18) *discard_targets[i - 14] = value;
    }
    disks.push_back(std::move(d));
  }
  return disks;
}

absl::StatusOr<std::vector<NetDevStats>> ParseNetDev(std::string_view text) {
  std::vector<NetDevStats> interfaces;
  int line_no = 0;
  for (std::string_view line : Split(text, '\n')) {
    ++line_no;
    if (TrimSpace(line).empty() || line.find('|') != std::string_view::npos) continue;  // headers
    auto error = [&](std::string_view what) {
      return absl::InvalidArgumentError(StrCat("/proc/net/dev:", line_no, ": ", what));
    };
    // Old kernels glue large counters to the colon ("eth0:1234567"), so split there.
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return error("expected \"interface: counters\"");
    NetDevStats n;
    n.interface = std::string(TrimSpace(line.substr(0, colon)));
    if (n.interface.empty()) return error("empty interface name");
    std::vector<std::string_view> f = Fields(line.substr(colon + 1));
    if (f.size() < 16) return error(StrCat("has ", f.size(), " counters, expected 16"));
    uint64_t values[16];
    for (size_t i = 0; i < 16; ++i) {
      if (!ParseU64(f[i], &values[i])) return error(StrCat("bad number ", Quote(f[i])));
    }
    n.rx_bytes = values[0];
    n.rx_packets = values[1];
    n.rx_errors = values[2];
    n.rx_drops = values[3];
    n.tx_bytes = values[8];
    n.tx_packets = values[9];
    n.tx_errors = values[10];
    n.tx_drops = values[11];
    interfaces.push_back(std::move(n));
  }
  return interfaces;
}

absl::StatusOr<PidStat> ParsePidStat(std::string_view text, double ticks_per_second) {
  if (ticks_per_second <= 0) return absl::InvalidArgumentError("ticks_per_second must be > 0");
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return absl::InvalidArgumentError("stat: no \"(comm)\"");
  }
  PidStat p;
  if (!ParseI64(TrimSpace(text.substr(0, open)), &p.pid) || p.pid <= 0) {
    return absl::InvalidArgumentError(StrCat("stat: bad pid ", Quote(text.substr(0, open))));
  }
  p.comm = std::string(text.substr(open + 1, close - open - 1));
  // Field 3 (state) is f[0]; field N is f[N - 3].
  std::vector<std::string_view> f = Fields(TrimSpace(text.substr(close + 1)));
  if (f.size() < 22) {
    return absl::InvalidArgumentError(
        StrCat("stat: has ", f.size() + 2, " fields, expected at least 24"));
  }
  auto number = [&](int field, uint64_t* out) { return ParseU64(f[field - 3], out); };
  uint64_t utime = 0, stime = 0;
  if (f[0].size() != 1 || !ParseI64(f[1], &p.ppid) || !number(14, &utime) || !number(15, &stime) ||
      !number(20, &p.num_threads) || !number(22, &p.start_ticks) || !number(24, &p.rss_pages)) {
    return absl::InvalidArgumentError(StrCat("stat: bad field for pid ", p.pid));
  }
  p.state = f[0][0];
  p.utime_s = static_cast<double>(utime) / ticks_per_second;
  p.stime_s = static_cast<double>(stime) / ticks_per_second;
  return p;
}

std::string JoinCmdline(std::string_view raw) {
  while (!raw.empty() && raw.back() == '\0') raw.remove_suffix(1);
  std::string out(raw);
  for (char& c : out) {
    if (c == '\0') c = ' ';
  }
  return out;
}

bool CgroupHasUnit(std::string_view cgroup_text, std::string_view unit) {
  if (unit.empty()) return false;
  for (std::string_view line : Split(cgroup_text, '\n')) {
    // "hierarchy-ID:controllers:path"
    size_t first = line.find(':');
    if (first == std::string_view::npos) continue;
    size_t second = line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    for (std::string_view component : Split(line.substr(second + 1), '/')) {
      if (component == unit) return true;
    }
  }
  return false;
}

absl::StatusOr<std::vector<std::string>> ProcFs::List(std::string_view path) const {
  std::string full = StrCat(root_, path);
  DIR* dir = ::opendir(full.c_str());
  if (dir == nullptr) {
    int err = errno;
    std::string message = StrCat(full, ": ", std::strerror(err));
    if (err == ENOENT || err == ESRCH) return absl::NotFoundError(message);
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
    return absl::UnavailableError(message);
  }
  std::vector<std::string> names;
  while (dirent* entry = ::readdir(dir)) {
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    names.emplace_back(name);
  }
  ::closedir(dir);
  return names;
}

absl::StatusOr<std::string> ProcFs::Read(std::string_view path) const {
  std::string full = StrCat(root_, path);
  int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(StrCat(full, ": ", std::strerror(errno)));
  constexpr size_t kMax = 4 << 20;
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return absl::UnavailableError(StrCat(full, ": ", std::strerror(err)));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMax) {
      ::close(fd);
      return absl::OutOfRangeError(StrCat(full, ": larger than 4 MiB"));
    }
  }
  ::close(fd);
  return out;
}

}  // namespace plumbline::agent
