// The series plumbline-load-gen sends: one set per simulated agent, the same
// for every target (the collector's ingest stream, Prometheus remote write),
// so both receive the same names, labels, timestamps and values.
//
// Batch `sequence` (1, 2, ...) of an agent holds one point per series, all
// at Timestamp(sequence) = first_ts_ms + (sequence - 1) * interval_ms. Every
// value is a pure function of (agent, series, sequence): a batch can be
// rebuilt for a resend without keeping it.
//
// Two shapes:
//  - kSequence: `load_sample{series="<k>"}`, value = sequence. What the
//    oracle (`plumbline-load-gen verify`) checks a store against.
//  - kHost: host metrics as node_exporter names them (CPU seconds per mode,
//    memory, network, disk and filesystem), one label naming the CPU,
//    device, NUMA node or mount point. Counters rise monotonically at a rate
//    that drifts between 0.5x and 1.5x of their own; gauges swing slowly
//    (periods of 30 min to 3 h at a 10 s interval) around their level; some
//    series never change. Values are rounded to what the source reports
//    (pages of 4 KiB, sectors of 512 bytes, hundredths of a CPU second), so
//    they compress as real data does, not as random noise.
//
// Immutable after construction; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace plumbline::load_gen {

enum class SeriesShape { kSequence, kHost };

struct SeriesSpec {
  enum class Kind { kSequence, kConstant, kGauge, kCounter };
  std::string name;
  Kind kind = Kind::kSequence;
  std::string unit;  // base unit, "" if dimensionless
  // Without the agent's identity (the collector has the agent id; Prometheus
  // gets an `instance` label); not sorted.
  std::vector<std::pair<std::string, std::string>> labels;
  // kConstant and kGauge: the typical value; kCounter: increase per second.
  double level = 0;
  double swing = 0;  // kGauge: amplitude relative to level
  double step = 1;   // values are multiples of this
};

class LoadSeries {
 public:
  LoadSeries(SeriesShape shape, int series_per_agent, int64_t first_ts_ms, int64_t interval_ms);

  SeriesShape shape() const { return shape_; }
  const std::vector<SeriesSpec>& series() const { return series_; }
  int64_t first_ts_ms() const { return first_ts_ms_; }
  int64_t interval_ms() const { return interval_ms_; }
  int64_t Timestamp(uint64_t sequence) const {
    return first_ts_ms_ + static_cast<int64_t>(sequence - 1) * interval_ms_;
  }
  // Value of series `series` (index into series()) of agent number `agent`
  // (0-based) in batch `sequence` (1-based).
  double Value(uint64_t agent, size_t series, uint64_t sequence) const;

 private:
  SeriesShape shape_;
  std::vector<SeriesSpec> series_;
  int64_t first_ts_ms_;
  int64_t interval_ms_;
};

// "sequence" or "host"; false if neither.
bool ParseSeriesShape(const std::string& text, SeriesShape* shape);
const char* SeriesShapeName(SeriesShape shape);

}  // namespace plumbline::load_gen
