#include "agent/proc_parsers.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
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
        return error(StrCat(f[0], " line has ", f.size() - 1,
                                  " fields, expected at least 4"));
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
      return absl::InvalidArgumentError(
          StrCat("/proc/meminfo:", line_no, ": bad value for ", key));
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
