// A StatsD (and DogStatsD) listener: applications send metrics over UDP; the
// agent aggregates them and ships one reading per interval.
//
// What each StatsD type becomes (name = prefix + the StatsD name with every
// character outside [a-zA-Z0-9_:] replaced by '_'):
//   counter  c       -> <name>_total, counter: cumulative since the agent
//                       started, each increment divided by its sample rate
//   gauge    g       -> <name>, gauge: last value; "+N"/"-N" add to it
//   timer    ms      -> <name>_seconds, histogram over timer_buckets
//                       (milliseconds converted to seconds), cumulative
//   histogram h, d   -> <name>, histogram over histogram_buckets (values as
//                       sent), cumulative
//   set      s       -> <name>_unique, gauge: distinct members this interval
// DogStatsD tags become labels (names sanitised; a tag without a value is
// ignored; a tag named like a label the agent sets itself, e.g. host, becomes
// exported_<name>). Every series is shipped each interval until it has seen
// nothing for expire_after; then it is forgotten (a counter that comes back
// restarts from 0, which the collector reads as a reset).
//
// The agent's own counters (SourceContext::counters):
//   plumbline_agent_parse_errors_total{source="statsd"}   malformed lines
//   plumbline_agent_dropped_total{source="statsd",reason=...}
//       max_series (a new series beyond max_series), type_conflict (a name
//       already used by another type), set_members (a set beyond 10000
//       members in one interval), unsupported (DogStatsD events, checks)
//   plumbline_agent_statsd_packets_total, plumbline_agent_statsd_metrics_total
//   plumbline_agent_statsd_series (series held now)
// Malformed input is logged at most once a minute.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "agent/sources/source.h"
#include "agent/statsd_parser.h"
#include "common/yaml_config.h"

namespace plumbline::agent {

struct StatsdSourceOptions {
  bool enabled = false;  // opening a port is opt-in
  // IP literal or "localhost", and port; port 0 picks a free one.
  std::string listen = "127.0.0.1:8125";
  std::string prefix = "statsd_";
  int64_t max_series = 10000;
  std::chrono::milliseconds expire_after{std::chrono::hours(1)};  // 0: never
  // Upper bounds, ascending; +Inf is implied.
  std::vector<double> timer_buckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                    0.25,  0.5,    1,     2.5,  5,     10};  // seconds
  std::vector<double> histogram_buckets{1,   2.5, 5,    10,   25,   50,   100,
                                        250, 500, 1000, 2500, 5000, 10000};
};

// Reads the `sources.statsd` section of the agent config.
void ParseStatsdSourceOptions(ConfigMap section, StatsdSourceOptions* out);

// Most distinct members one set holds in one interval.
inline constexpr size_t kMaxStatsdSetMembers = 10000;

// Aggregates parsed metrics into series between two flushes. Pure apart from
// the counters; not thread-safe.
class StatsdAggregator {
 public:
  // `reserved_label_names`: labels the agent puts on every series itself.
  // `counters` must outlive the aggregator.
  StatsdAggregator(StatsdSourceOptions options, std::vector<std::string> reserved_label_names,
                   Counters* counters);
  // Series point into options_: not copyable.
  StatsdAggregator(const StatsdAggregator&) = delete;
  StatsdAggregator& operator=(const StatsdAggregator&) = delete;

  // Adds one metric received at `now_ms`. A metric that cannot be kept is
  // counted (parse error or drop); the status says why, for the log.
  absl::Status Add(const StatsdMetric& metric, int64_t now_ms);
  // Writes every live series, forgets those idle longer than expire_after,
  // and starts a new interval for sets.
  void Flush(MetricWriter& out, int64_t now_ms);
  size_t series_count() const { return series_.size(); }

 private:
  enum class Kind { kCounter, kGauge, kHistogram, kSet };
  struct Series {
    std::string name;
    Kind kind;
    Labels labels;
    double value = 0;                             // counters, gauges
    const std::vector<double>* bounds = nullptr;  // histograms
    std::vector<double> buckets;                  // per bucket, weighted by sample rate
    double sum = 0;
    std::unordered_set<uint64_t> members;  // sets: hashes of this interval's members
    bool seconds = false;                  // timers: unit "seconds"
    int64_t last_update_ms = 0;
  };
  struct NameUse {
    Kind kind;
    size_t series = 0;
  };

  absl::StatusOr<Series*> Find(const StatsdMetric& m, int64_t now_ms);
  void Drop(std::string_view reason);

  StatsdSourceOptions options_;
  std::vector<std::string> reserved_;
  Counters* counters_;
  std::map<std::string, Series> series_;  // by name{labels}: a stable output order
  std::unordered_map<std::string, NameUse> names_;
};

// Parses "127.0.0.1:8125", "[::1]:8125", "localhost:8125".
absl::StatusOr<std::pair<std::string, uint16_t>> ParseListenAddress(std::string_view text);

class StatsdSource final : public Source {
 public:
  // `reserved_label_names`: as for StatsdAggregator.
  StatsdSource(SourceContext context, StatsdSourceOptions options,
               std::vector<std::string> reserved_label_names);
  ~StatsdSource() override;
  std::string_view name() const override { return "statsd"; }
  // Binds the UDP socket and starts receiving on context.io.
  absl::Status Start() override;
  absl::Status Collect(MetricWriter& out) override;
  void Stop() override;
  // The bound port after Start() (useful with port 0).
  uint16_t port() const;

 private:
  struct Listener;  // shared with the pending receive
  SourceContext context_;
  StatsdSourceOptions options_;
  std::shared_ptr<Listener> listener_;
};

}  // namespace plumbline::agent
