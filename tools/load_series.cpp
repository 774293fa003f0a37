#include "tools/load_series.h"

#include <cmath>
#include <iterator>
#include <numbers>

namespace plumbline::load_gen {

namespace {

using Kind = SeriesSpec::Kind;

// One kind of host series; the k-th series of an agent is family k % size,
// for the (k / size)-th CPU, device, NUMA node or mount point.
struct Family {
  const char* name;
  Kind kind;
  const char* unit;
  const char* index_label;  // its value is index_prefix + index
  const char* index_prefix;
  const char* extra_label;  // "" for none
  const char* extra_value;
  double level;
  double swing;
  double step;
};

constexpr double kGiB = 1024.0 * 1024 * 1024;

// Levels are per CPU, NUMA node, interface, disk or file system of a busy
// but unremarkable server.
constexpr Family kHostFamilies[] = {
    {"node_cpu_seconds_total", Kind::kCounter, "seconds", "cpu", "", "mode", "idle", 0.85, 0, 0.01},
    {"node_cpu_seconds_total", Kind::kCounter, "seconds", "cpu", "", "mode", "user", 0.08, 0, 0.01},
    {"node_cpu_seconds_total", Kind::kCounter, "seconds", "cpu", "", "mode", "system", 0.04, 0,
     0.01},
    {"node_cpu_seconds_total", Kind::kCounter, "seconds", "cpu", "", "mode", "iowait", 0.01, 0,
     0.01},
    {"node_cpu_seconds_total", Kind::kCounter, "seconds", "cpu", "", "mode", "irq", 0.001, 0, 0.01},
    {"node_cpu_seconds_total", Kind::kCounter, "seconds", "cpu", "", "mode", "softirq", 0.005, 0,
     0.01},
    {"node_cpu_seconds_total", Kind::kCounter, "seconds", "cpu", "", "mode", "steal", 0.002, 0,
     0.01},
    {"node_cpu_seconds_total", Kind::kCounter, "seconds", "cpu", "", "mode", "nice", 0.0005, 0,
     0.01},
    {"node_schedstat_running_seconds_total", Kind::kCounter, "seconds", "cpu", "", "", "", 0.15, 0,
     1e-6},
    {"node_schedstat_waiting_seconds_total", Kind::kCounter, "seconds", "cpu", "", "", "", 0.01, 0,
     1e-6},
    {"node_cpu_scaling_frequency_hertz", Kind::kGauge, "hertz", "cpu", "", "", "", 2.4e9, 0.15,
     1e6},
    {"node_memory_numa_MemTotal", Kind::kConstant, "bytes", "node", "", "", "", 32 * kGiB, 0, 4096},
    {"node_memory_numa_MemFree", Kind::kGauge, "bytes", "node", "", "", "", 6 * kGiB, 0.2, 4096},
    {"node_memory_numa_Active", Kind::kGauge, "bytes", "node", "", "", "", 14 * kGiB, 0.05, 4096},
    {"node_memory_numa_FilePages", Kind::kGauge, "bytes", "node", "", "", "", 9 * kGiB, 0.03, 4096},
    {"node_network_receive_bytes_total", Kind::kCounter, "bytes", "device", "eth", "", "", 1.2e5, 0,
     1},
    {"node_network_transmit_bytes_total", Kind::kCounter, "bytes", "device", "eth", "", "", 8e4, 0,
     1},
    {"node_network_receive_packets_total", Kind::kCounter, "", "device", "eth", "", "", 300, 0, 1},
    {"node_network_transmit_packets_total", Kind::kCounter, "", "device", "eth", "", "", 250, 0, 1},
    {"node_network_receive_errs_total", Kind::kCounter, "", "device", "eth", "", "", 0.001, 0, 1},
    {"node_network_up", Kind::kConstant, "", "device", "eth", "", "", 1, 0, 1},
    {"node_disk_read_bytes_total", Kind::kCounter, "bytes", "device", "sd", "", "", 2e5, 0, 512},
    {"node_disk_written_bytes_total", Kind::kCounter, "bytes", "device", "sd", "", "", 5e5, 0, 512},
    {"node_disk_reads_completed_total", Kind::kCounter, "", "device", "sd", "", "", 20, 0, 1},
    {"node_disk_writes_completed_total", Kind::kCounter, "", "device", "sd", "", "", 50, 0, 1},
    {"node_disk_io_time_seconds_total", Kind::kCounter, "seconds", "device", "sd", "", "", 0.05, 0,
     0.001},
    {"node_filesystem_size_bytes", Kind::kConstant, "bytes", "mountpoint", "/data", "", "",
     500 * kGiB, 0, 4096},
    {"node_filesystem_avail_bytes", Kind::kGauge, "bytes", "mountpoint", "/data", "", "",
     200 * kGiB, 0.01, 4096},
    {"node_filesystem_files_free", Kind::kGauge, "", "mountpoint", "/data", "", "", 3e7, 0.002, 1},
    {"node_filesystem_readonly", Kind::kConstant, "", "mountpoint", "/data", "", "", 0, 0, 1},
};

// SplitMix64: per-(agent, series) parameters without a table.
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

double Unit(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }  // [0, 1)

// x rounded (or floored) to a multiple of step, as the double nearest to its
// decimal text (32534.85, not 3253485 * 0.01 = 32534.850000000002): what a
// sender that parses its source's text has.
double Quantize(double x, double step, bool floor) {
  if (step < 1) {
    const double per_unit = std::round(1 / step);
    return (floor ? std::floor(x * per_unit) : std::round(x * per_unit)) / per_unit;
  }
  return (floor ? std::floor(x / step) : std::round(x / step)) * step;
}

}  // namespace

LoadSeries::LoadSeries(SeriesShape shape, int series_per_agent, int64_t first_ts_ms,
                       int64_t interval_ms)
    : shape_(shape), first_ts_ms_(first_ts_ms), interval_ms_(interval_ms) {
  series_.reserve(static_cast<size_t>(series_per_agent));
  constexpr size_t kFamilies = std::size(kHostFamilies);
  for (int k = 0; k < series_per_agent; ++k) {
    SeriesSpec s;
    if (shape == SeriesShape::kSequence) {
      s.name = "load_sample";
      s.labels = {{"series", std::to_string(k)}};
    } else {
      const auto index = static_cast<size_t>(k);
      const Family& f = kHostFamilies[index % kFamilies];
      s.name = f.name;
      s.kind = f.kind;
      s.unit = f.unit;
      s.labels.emplace_back(f.index_label,
                            std::string(f.index_prefix) + std::to_string(index / kFamilies));
      if (*f.extra_label != '\0') s.labels.emplace_back(f.extra_label, f.extra_value);
      s.level = f.level;
      s.swing = f.swing;
      s.step = f.step;
    }
    series_.push_back(std::move(s));
  }
}

double LoadSeries::Value(uint64_t agent, size_t series, uint64_t sequence) const {
  const SeriesSpec& s = series_[series];
  if (s.kind == Kind::kSequence) return static_cast<double>(sequence);
  const uint64_t h = Mix(Mix(agent) ^ series);
  const double scale = 0.5 + Unit(h);                        // this host's size
  const double phase = 2 * std::numbers::pi * Unit(Mix(h));  // where in its cycle
  const double period = 180 + 900 * Unit(Mix(h + 1));        // in batches
  const double angle = 2 * std::numbers::pi * static_cast<double>(sequence) / period + phase;
  switch (s.kind) {
    case Kind::kConstant:
      return Quantize(s.level * scale, s.step, false);
    case Kind::kGauge:
      return Quantize(s.level * scale * (1 + s.swing * std::sin(angle)), s.step, false);
    case Kind::kCounter: {
      // Batches elapsed, with a drifting rate: d/dq of q + period/(4 pi) *
      // (1 - cos angle) is 1 + sin(angle)/2, within [0.5, 1.5], so the
      // counter never goes down, and flooring to the step keeps it so.
      const double seconds_per_batch = static_cast<double>(interval_ms_) / 1000;
      const double batches =
          static_cast<double>(sequence) + period / (4 * std::numbers::pi) * (1 - std::cos(angle));
      const double uptime_batches = 1000 + 100000 * Unit(Mix(h + 2));  // counted before batch 1
      return Quantize(s.level * scale * seconds_per_batch * (uptime_batches + batches), s.step,
                      true);
    }
    case Kind::kSequence:
      break;
  }
  return static_cast<double>(sequence);
}

bool ParseSeriesShape(const std::string& text, SeriesShape* shape) {
  if (text == "sequence") {
    *shape = SeriesShape::kSequence;
  } else if (text == "host") {
    *shape = SeriesShape::kHost;
  } else {
    return false;
  }
  return true;
}

const char* SeriesShapeName(SeriesShape shape) {
  return shape == SeriesShape::kSequence ? "sequence" : "host";
}

}  // namespace plumbline::load_gen
