#include "agent/sources/host_source.h"

#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace plumbline::agent {

namespace {

void WriteCpuModes(MetricWriter& out, const CpuTimes& t, const Labels& extra) {
  const std::pair<const char*, double> modes[] = {
      {"user", t.user},     {"nice", t.nice}, {"system", t.system},   {"idle", t.idle},
      {"iowait", t.iowait}, {"irq", t.irq},   {"softirq", t.softirq}, {"steal", t.steal}};
  for (const auto& [mode, seconds] : modes) {
    Labels labels = extra;
    labels.emplace_back("mode", mode);
    out.Counter("host_cpu_seconds_total", seconds, labels, "seconds");
  }
}

absl::Status CompilePatterns(const std::vector<std::string>& patterns,
                             std::vector<std::regex>* out) {
  out->clear();
  for (const std::string& p : patterns) {
    try {
      out->emplace_back(p, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
      return absl::InvalidArgumentError(StrCat("bad regular expression \"", p, "\": ", e.what()));
    }
  }
  return absl::OkStatus();
}

bool MatchesAny(const std::vector<std::regex>& patterns, const std::string& text) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::regex& r) { return std::regex_match(text, r); });
}

void CheckPatterns(ConfigMap& section, std::string_view key,
                   const std::vector<std::string>& patterns) {
  std::vector<std::regex> compiled;
  absl::Status s = CompilePatterns(patterns, &compiled);
  if (!s.ok()) section.Error(key, ToStd(s.message()));
}

double Num(uint64_t v) { return static_cast<double>(v); }

}  // namespace

void ParseHostSourceOptions(ConfigMap section, HostSourceOptions* out) {
  section.Bool("enabled", &out->enabled);
  section.Bool("per_cpu", &out->per_cpu);
  section.StringList("fs_types_exclude", &out->fs_types_exclude);
  section.StringList("mounts_exclude", &out->mounts_exclude);
  section.StringList("disk_devices_exclude", &out->disk_devices_exclude);
  section.StringList("network_devices_exclude", &out->network_devices_exclude);
  CheckPatterns(section, "mounts_exclude", out->mounts_exclude);
  CheckPatterns(section, "disk_devices_exclude", out->disk_devices_exclude);
  CheckPatterns(section, "network_devices_exclude", out->network_devices_exclude);
}

absl::StatusOr<FsUsage> StatFs(const std::string& mountpoint) {
  struct statvfs st {};
  if (::statvfs(mountpoint.c_str(), &st) != 0) {
    return absl::UnavailableError(StrCat("statvfs ", mountpoint, ": ", std::strerror(errno)));
  }
  uint64_t unit = st.f_frsize != 0 ? st.f_frsize : st.f_bsize;
  FsUsage u;
  u.size_bytes = static_cast<uint64_t>(st.f_blocks) * unit;
  u.free_bytes = static_cast<uint64_t>(st.f_bfree) * unit;
  u.available_bytes = static_cast<uint64_t>(st.f_bavail) * unit;
  u.files = st.f_files;
  u.files_free = st.f_ffree;
  return u;
}

HostSource::HostSource(ProcFs fs, HostSourceOptions options, double ticks_per_second,
                       StatFsFunction statfs)
    : fs_(std::move(fs)),
      options_(std::move(options)),
      ticks_per_second_(ticks_per_second),
      statfs_(std::move(statfs)) {
  patterns_status_ = CompilePatterns(options_.mounts_exclude, &mounts_exclude_);
  if (patterns_status_.ok()) {
    patterns_status_ = CompilePatterns(options_.disk_devices_exclude, &disks_exclude_);
  }
  if (patterns_status_.ok()) {
    patterns_status_ = CompilePatterns(options_.network_devices_exclude, &network_exclude_);
  }
}

absl::Status HostSource::Start() { return patterns_status_; }

absl::Status HostSource::Collect(MetricWriter& out) {
  // Every reading stands on its own: one broken file must not hide the
  // others' data. The errors are reported together.
  absl::Status required[] = {CollectCpu(out), CollectMemory(out)};
  // These files may be missing where /proc is restricted (some containers
  // and sandboxes): that reading is then unavailable, said once in the log,
  // not an error every interval. Garbled content is an error.
  absl::Status optional[] = {CollectLoad(out),   CollectProcessCount(out),
                             CollectUptime(out), CollectFilesystems(out),
                             CollectDisks(out),  CollectNetwork(out)};
  std::vector<absl::Status> results(std::begin(required), std::end(required));
  for (absl::Status& s : optional) {
    if (s.code() == absl::StatusCode::kNotFound) {
      std::string message(ToStd(s.message()));
      if (unavailable_logged_.insert(message).second) {
        spdlog::warn("host: reading unavailable: {}", message);
      }
      continue;
    }
    results.push_back(std::move(s));
  }
  absl::Status first;
  std::string messages;
  for (const absl::Status& s : results) {
    if (s.ok()) continue;
    if (first.ok()) first = s;
    if (!messages.empty()) messages += "; ";
    messages += ToStd(s.message());
  }
  if (first.ok()) return first;
  return absl::Status(first.code(), messages);
}

absl::Status HostSource::CollectCpu(MetricWriter& out) {
  ASSIGN_OR_RETURN(std::string text, fs_.Read("/proc/stat"));
  ASSIGN_OR_RETURN(ProcStat stat, ParseProcStat(text, ticks_per_second_));
  WriteCpuModes(out, stat.total, {});
  if (options_.per_cpu) {
    for (size_t i = 0; i < stat.per_cpu.size(); ++i) {
      WriteCpuModes(out, stat.per_cpu[i], {{"cpu", std::to_string(i)}});
    }
  }
  out.Gauge("host_cpu_count", static_cast<double>(stat.per_cpu.size()));
  if (previous_.has_value()) {
    double total = stat.total.Total() - previous_->Total();
    double busy = stat.total.Busy() - previous_->Busy();
    // A counter going backwards (hibernation, counter wrap) gives no reading.
    if (total > 0 && busy >= 0 && busy <= total) {
      out.Gauge("host_cpu_utilization", busy / total, {}, "ratio");
    }
  }
  previous_ = stat.total;
  out.Counter("host_context_switches_total", static_cast<double>(stat.context_switches));
  out.Gauge("host_boot_time_seconds", static_cast<double>(stat.boot_time_s), {}, "seconds");
  out.Gauge("host_procs_running", static_cast<double>(stat.procs_running));
  out.Gauge("host_procs_blocked", static_cast<double>(stat.procs_blocked));
  return absl::OkStatus();
}

absl::Status HostSource::CollectMemory(MetricWriter& out) {
  ASSIGN_OR_RETURN(std::string text, fs_.Read("/proc/meminfo"));
  ASSIGN_OR_RETURN(MemInfo m, ParseMemInfo(text));
  auto bytes = [](uint64_t v) { return static_cast<double>(v); };
  out.Gauge("host_memory_total_bytes", bytes(m.total), {}, "bytes");
  out.Gauge("host_memory_available_bytes", bytes(m.available), {}, "bytes");
  out.Gauge("host_memory_used_bytes", bytes(m.Used()), {}, "bytes");
  out.Gauge("host_memory_free_bytes", bytes(m.free), {}, "bytes");
  out.Gauge("host_memory_buffers_bytes", bytes(m.buffers), {}, "bytes");
  out.Gauge("host_memory_cached_bytes", bytes(m.cached), {}, "bytes");
  if (m.total > 0)
    out.Gauge("host_memory_used_ratio", bytes(m.Used()) / bytes(m.total), {}, "ratio");
  out.Gauge("host_swap_total_bytes", bytes(m.swap_total), {}, "bytes");
  out.Gauge("host_swap_free_bytes", bytes(m.swap_free), {}, "bytes");
  return absl::OkStatus();
}

absl::Status HostSource::CollectLoad(MetricWriter& out) {
  ASSIGN_OR_RETURN(std::string text, fs_.Read("/proc/loadavg"));
  ASSIGN_OR_RETURN(LoadAvg l, ParseLoadAvg(text));
  out.Gauge("host_load1", l.load1);
  out.Gauge("host_load5", l.load5);
  out.Gauge("host_load15", l.load15);
  out.Gauge("host_threads", Num(l.total_threads));
  out.Gauge("host_threads_running", Num(l.running_threads));
  return absl::OkStatus();
}

absl::Status HostSource::CollectProcessCount(MetricWriter& out) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs_.List("/proc"));
  uint64_t processes = 0;
  for (const std::string& n : names) {
    if (!n.empty() &&
        std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      ++processes;
    }
  }
  // A real /proc always holds at least the agent itself.
  if (processes == 0) {
    return absl::NotFoundError(StrCat(fs_.root(), "/proc: no process directories"));
  }
  out.Gauge("host_processes", Num(processes));
  return absl::OkStatus();
}

absl::Status HostSource::CollectUptime(MetricWriter& out) {
  ASSIGN_OR_RETURN(std::string text, fs_.Read("/proc/uptime"));
  ASSIGN_OR_RETURN(Uptime u, ParseUptime(text));
  out.Gauge("host_uptime_seconds", u.uptime_s, {}, "seconds");
  return absl::OkStatus();
}

absl::Status HostSource::CollectFilesystems(MetricWriter& out) {
  ASSIGN_OR_RETURN(std::string text, fs_.Read("/proc/mounts"));
  ASSIGN_OR_RETURN(std::vector<MountEntry> mounts, ParseMounts(text));
  std::vector<std::string> seen;  // a mount point mounted over twice counts once (the top one)
  for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) {
    const MountEntry& m = *it;
    const auto& types = options_.fs_types_exclude;
    if (std::find(types.begin(), types.end(), m.fstype) != types.end()) continue;
    if (MatchesAny(mounts_exclude_, m.mountpoint)) continue;
    if (std::find(seen.begin(), seen.end(), m.mountpoint) != seen.end()) continue;
    seen.push_back(m.mountpoint);
    Labels labels = {{"mountpoint", m.mountpoint}, {"fstype", m.fstype}, {"device", m.device}};
    absl::StatusOr<FsUsage> usage = statfs_(m.mountpoint);
    // An unreadable mount (permissions, a stale handle) is data about that
    // mount, not a failure of the whole reading.
    out.Gauge("host_filesystem_device_error", usage.ok() ? 0 : 1, labels);
    if (!usage.ok()) continue;
    out.Gauge("host_filesystem_size_bytes", Num(usage->size_bytes), labels, "bytes");
    out.Gauge("host_filesystem_free_bytes", Num(usage->free_bytes), labels, "bytes");
    out.Gauge("host_filesystem_available_bytes", Num(usage->available_bytes), labels, "bytes");
    uint64_t used =
        usage->size_bytes > usage->free_bytes ? usage->size_bytes - usage->free_bytes : 0;
    out.Gauge("host_filesystem_used_bytes", Num(used), labels, "bytes");
    // Used share as df shows it: of the space non-root users can have.
    uint64_t usable = used + usage->available_bytes;
    if (usable > 0)
      out.Gauge("host_filesystem_used_ratio", Num(used) / Num(usable), labels, "ratio");
    out.Gauge("host_filesystem_files", Num(usage->files), labels);
    out.Gauge("host_filesystem_files_free", Num(usage->files_free), labels);
    out.Gauge("host_filesystem_readonly", m.read_only ? 1 : 0, labels);
  }
  return absl::OkStatus();
}

absl::Status HostSource::CollectDisks(MetricWriter& out) {
  ASSIGN_OR_RETURN(std::string text, fs_.Read("/proc/diskstats"));
  ASSIGN_OR_RETURN(std::vector<DiskStats> disks, ParseDiskStats(text));
  constexpr double kSectorBytes = 512;
  for (const DiskStats& d : disks) {
    if (MatchesAny(disks_exclude_, d.device)) continue;
    Labels labels = {{"device", d.device}};
    out.Counter("host_disk_reads_completed_total", Num(d.reads_completed), labels);
    out.Counter("host_disk_writes_completed_total", Num(d.writes_completed), labels);
    out.Counter("host_disk_read_bytes_total", Num(d.sectors_read) * kSectorBytes, labels, "bytes");
    out.Counter("host_disk_written_bytes_total", Num(d.sectors_written) * kSectorBytes, labels,
                "bytes");
    out.Counter("host_disk_read_time_seconds_total", Num(d.read_time_ms) / 1000, labels, "seconds");
    out.Counter("host_disk_write_time_seconds_total", Num(d.write_time_ms) / 1000, labels,
                "seconds");
    out.Counter("host_disk_io_time_seconds_total", Num(d.io_time_ms) / 1000, labels, "seconds");
    out.Counter("host_disk_io_time_weighted_seconds_total", Num(d.weighted_io_time_ms) / 1000,
                labels, "seconds");
    out.Gauge("host_disk_io_now", Num(d.ios_in_progress), labels);
  }
  return absl::OkStatus();
}

absl::Status HostSource::CollectNetwork(MetricWriter& out) {
  ASSIGN_OR_RETURN(std::string text, fs_.Read("/proc/net/dev"));
  ASSIGN_OR_RETURN(std::vector<NetDevStats> interfaces, ParseNetDev(text));
  for (const NetDevStats& n : interfaces) {
    if (MatchesAny(network_exclude_, n.interface)) continue;
    Labels labels = {{"device", n.interface}};
    out.Counter("host_network_receive_bytes_total", Num(n.rx_bytes), labels, "bytes");
    out.Counter("host_network_transmit_bytes_total", Num(n.tx_bytes), labels, "bytes");
    out.Counter("host_network_receive_packets_total", Num(n.rx_packets), labels);
    out.Counter("host_network_transmit_packets_total", Num(n.tx_packets), labels);
    out.Counter("host_network_receive_errors_total", Num(n.rx_errors), labels);
    out.Counter("host_network_transmit_errors_total", Num(n.tx_errors), labels);
    out.Counter("host_network_receive_drop_total", Num(n.rx_drops), labels);
    out.Counter("host_network_transmit_drop_total", Num(n.tx_drops), labels);
  }
  return absl::OkStatus();
}

}  // namespace plumbline::agent
