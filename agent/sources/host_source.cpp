#include "agent/sources/host_source.h"

#include <string>

namespace plumbline::agent {

namespace {

void WriteCpuModes(MetricWriter& out, const CpuTimes& t, const Labels& extra) {
  const std::pair<const char*, double> modes[] = {
      {"user", t.user},       {"nice", t.nice}, {"system", t.system},   {"idle", t.idle},
      {"iowait", t.iowait},   {"irq", t.irq},   {"softirq", t.softirq}, {"steal", t.steal}};
  for (const auto& [mode, seconds] : modes) {
    Labels labels = extra;
    labels.emplace_back("mode", mode);
    out.Counter("host_cpu_seconds_total", seconds, labels, "seconds");
  }
}

}  // namespace

void ParseHostSourceOptions(ConfigMap section, HostSourceOptions* out) {
  section.Bool("enabled", &out->enabled);
  section.Bool("per_cpu", &out->per_cpu);
}

HostSource::HostSource(ProcFs fs, HostSourceOptions options, double ticks_per_second)
    : fs_(std::move(fs)), options_(options), ticks_per_second_(ticks_per_second) {}

absl::Status HostSource::Collect(MetricWriter& out) {
  absl::Status cpu = CollectCpu(out);
  absl::Status memory = CollectMemory(out);
  // One failing file must not hide the other's data.
  if (!cpu.ok()) return cpu;
  return memory;
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
  if (m.total > 0) out.Gauge("host_memory_used_ratio", bytes(m.Used()) / bytes(m.total), {}, "ratio");
  out.Gauge("host_swap_total_bytes", bytes(m.swap_total), {}, "bytes");
  out.Gauge("host_swap_free_bytes", bytes(m.swap_free), {}, "bytes");
  return absl::OkStatus();
}

}  // namespace plumbline::agent
