#include "agent/sources/self_source.h"

#include <charconv>
#include <filesystem>

namespace plumbline::agent {

namespace {

bool ParseUint(std::string_view text, uint64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

void ParseSelfSourceOptions(ConfigMap section, SelfSourceOptions* out) {
  section.Bool("enabled", &out->enabled);
}

absl::StatusOr<ProcessStatus> ParseProcessStatus(std::string_view text) {
  ProcessStatus status;
  bool have_rss = false;
  for (std::string_view line : Split(text, '\n')) {
    std::vector<std::string_view> f = SplitFields(line);
    if (f.size() >= 2 && f[0] == "VmRSS:") {
      uint64_t kib = 0;
      if (!ParseUint(f[1], &kib) || (f.size() > 2 && f[2] != "kB") || kib > (1ull << 50)) {
        return absl::InvalidArgumentError(
            StrCat("/proc/self/status: bad VmRSS line \"", line.substr(0, 80), "\""));
      }
      status.resident_bytes = kib * 1024;
      have_rss = true;
    } else if (f.size() >= 2 && f[0] == "Threads:") {
      (void)ParseUint(f[1], &status.threads);
    }
  }
  if (!have_rss) return absl::InvalidArgumentError("/proc/self/status: no VmRSS line");
  return status;
}

absl::StatusOr<ProcessStat> ParseProcessStat(std::string_view text, double ticks_per_second) {
  // The command name (field 2) is in parentheses and may hold spaces and ')'.
  size_t close = text.rfind(')');
  if (close == std::string_view::npos) {
    return absl::InvalidArgumentError("/proc/self/stat: no command name");
  }
  std::vector<std::string_view> f = SplitFields(text.substr(close + 1));
  // After the name: state (3) ... utime (14), stime (15), starttime (22).
  constexpr size_t kUtime = 14 - 3, kStime = 15 - 3, kStart = 22 - 3;
  uint64_t utime = 0, stime = 0, start = 0;
  if (f.size() <= kStart || !ParseUint(f[kUtime], &utime) || !ParseUint(f[kStime], &stime) ||
      !ParseUint(f[kStart], &start)) {
    return absl::InvalidArgumentError("/proc/self/stat: truncated or garbled");
  }
  ProcessStat stat;
  stat.cpu_seconds = (static_cast<double>(utime) + static_cast<double>(stime)) / ticks_per_second;
  stat.started_after_boot = static_cast<double>(start) / ticks_per_second;
  return stat;
}

SelfSource::SelfSource(SourceContext context, double ticks_per_second)
    : context_(std::move(context)), ticks_per_second_(ticks_per_second) {}

absl::Status SelfSource::Collect(MetricWriter& out) {
  absl::Status first;
  auto keep = [&](absl::Status s) {
    if (first.ok()) first = std::move(s);
  };

  absl::StatusOr<std::string> status_text = context_.proc.Read("/proc/self/status");
  absl::StatusOr<ProcessStatus> status =
      status_text.ok() ? ParseProcessStatus(*status_text) : status_text.status();
  if (status.ok()) {
    out.Gauge("plumbline_agent_resident_memory_bytes", static_cast<double>(status->resident_bytes),
              {}, "bytes");
    if (status->threads > 0) {
      out.Gauge("plumbline_agent_threads", static_cast<double>(status->threads));
    }
  } else {
    keep(status.status());
  }

  absl::StatusOr<std::string> stat_text = context_.proc.Read("/proc/self/stat");
  absl::StatusOr<ProcessStat> stat =
      stat_text.ok() ? ParseProcessStat(*stat_text, ticks_per_second_) : stat_text.status();
  if (stat.ok()) {
    out.Counter("plumbline_agent_cpu_seconds_total", stat->cpu_seconds, {}, "seconds");
    if (!start_time_.has_value()) {
      // The start is counted from boot; /proc/stat says when that was.
      absl::StatusOr<std::string> host_stat = context_.proc.Read("/proc/stat");
      absl::StatusOr<ProcStat> boot =
          host_stat.ok() ? ParseProcStat(*host_stat, ticks_per_second_) : host_stat.status();
      if (boot.ok() && boot->boot_time_s > 0) {
        start_time_ = static_cast<double>(boot->boot_time_s) + stat->started_after_boot;
      }
    }
  } else {
    keep(stat.status());
  }
  if (start_time_.has_value()) {
    out.Gauge("plumbline_agent_start_time_seconds", *start_time_, {}, "seconds");
  }

  // The count includes the descriptor used to read the directory.
  std::error_code ec;
  uint64_t fds = 0;
  std::filesystem::directory_iterator it(context_.proc.root() + "/proc/self/fd", ec);
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) ++fds;
  if (!ec) {
    out.Gauge("plumbline_agent_open_fds", static_cast<double>(fds));
  } else {
    keep(absl::UnavailableError(StrCat(context_.proc.root(), "/proc/self/fd: ", ec.message())));
  }

  if (context_.counters != nullptr) {
    for (const CounterValue& c : context_.counters->Snapshot()) {
      if (EndsWith(c.name, "_total")) {
        out.Counter(c.name, c.value, c.labels);
      } else {
        out.Gauge(c.name, c.value, c.labels);
      }
    }
  }
  return first;
}

}  // namespace plumbline::agent
