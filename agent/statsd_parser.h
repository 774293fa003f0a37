// Parser for the StatsD line protocol with the DogStatsD extensions, on
// arbitrary bytes. Pure: no I/O, no allocation beyond the result, never
// throws or crashes on garbage.
//
//   <name>:<value>|<type>[|@<sample rate>][|#<tag>:<value>,<tag>...]
//
// type: c (counter), g (gauge; a leading + or - makes the value a delta),
// ms (timer, milliseconds), h (histogram), d (distribution), s (set).
// A packet holds one metric per line ('\n', optionally "\r\n"); empty lines
// are skipped. DogStatsD container ids (|c:...), external data (|e:...) and
// client timestamps (|T...) are accepted and ignored; DogStatsD events
// (_e{...) and service checks (_sc|...) are recognised and reported as
// unsupported rather than as errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace plumbline::agent {

enum class StatsdType { kCounter, kGauge, kTimer, kHistogram, kDistribution, kSet };

// One metric line. The string views point into the parsed text, which must
// outlive the metric.
struct StatsdMetric {
  std::string_view name;  // as sent: printable ASCII, not yet sanitised
  StatsdType type = StatsdType::kCounter;
  double value = 0;             // finite; unused for sets
  std::string_view set_member;  // sets only
  bool gauge_delta = false;     // gauges only: value is added to the current one
  double sample_rate = 1;       // in (0, 1]
  // DogStatsD tags in the order sent; a tag without ':' has an empty value.
  std::vector<std::pair<std::string_view, std::string_view>> tags;
};

// Longest metric name accepted, in bytes (a sanitised name gets a prefix and
// a suffix and must stay within kMaxMetricNameLength).
inline constexpr size_t kMaxStatsdNameLength = 150;
// Most tags accepted on one metric (the collector allows 64 labels per series,
// and the agent adds its own).
inline constexpr size_t kMaxStatsdTags = 32;

// Parses one line without its line terminator. InvalidArgument says what was
// wrong; Unimplemented marks a DogStatsD event or service check.
absl::StatusOr<StatsdMetric> ParseStatsdLine(std::string_view line);

struct StatsdPacket {
  std::vector<StatsdMetric> metrics;
  uint64_t errors = 0;       // malformed lines
  uint64_t unsupported = 0;  // DogStatsD events and service checks
  std::string first_error;   // the first malformed line's error, for logs
};

// Parses every line of one datagram; a malformed line is counted and skipped.
StatsdPacket ParseStatsdPacket(std::string_view packet);

}  // namespace plumbline::agent
