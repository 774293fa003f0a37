// Parser for the Prometheus text exposition format 0.0.4, on arbitrary bytes.
// Pure: no I/O, never throws or crashes on garbage; a line that does not
// parse is counted, described and skipped, and every valid line is kept.
//
// What comes out is ready to ship, one ExposedSeries per series:
//   counter            -> METRIC_TYPE_COUNTER (samples "foo" or "foo_total")
//   gauge, untyped     -> METRIC_TYPE_GAUGE
//   histogram          -> one METRIC_TYPE_HISTOGRAM per label set, built from
//                         foo_bucket{le=...}, foo_sum and foo_count; the
//                         cumulative buckets become per-bucket counts
//   summary            -> one METRIC_TYPE_SUMMARY per label set, from
//                         foo{quantile=...}, foo_sum and foo_count
// Label values are unescaped (\\, \" and \n) and must be valid label values
// (common/labels.h: UTF-8, no control characters, so a value holding an
// escaped newline is rejected). Counter values must be finite and not
// negative; gauges may be NaN or ±Inf.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/labels.h"
#include "plumbline/v1/metrics.pb.h"

namespace plumbline::agent {

struct ExpositionOptions {
  // Series kept per exposition; samples of further series are dropped and
  // counted in ExpositionResult::dropped_samples.
  size_t max_series = 5000;
};

struct ExposedSeries {
  std::string name;
  v1::MetricType type = v1::METRIC_TYPE_GAUGE;
  LabelSet labels;          // as exposed, in order; without le and quantile
  double number = 0;        // counters and gauges
  v1::Histogram histogram;  // METRIC_TYPE_HISTOGRAM
  v1::Summary summary;      // METRIC_TYPE_SUMMARY
  // The sample's own timestamp (ms since the epoch) when the line carries one;
  // for histograms and summaries, that of the last line read.
  std::optional<int64_t> timestamp_ms;
};

// At most this many labels on one sample (the collector allows 64 per
// series, and the agent adds its own).
inline constexpr size_t kMaxExposedLabels = 40;
// At most this many finite buckets in one histogram (the collector's limit
// is 512).
inline constexpr size_t kMaxExposedBuckets = 500;

struct ExpositionResult {
  std::vector<ExposedSeries> series;  // in order of first appearance
  // Lines, or assembled histograms and summaries, that were invalid.
  uint64_t errors = 0;
  uint64_t dropped_samples = 0;  // lines beyond options.max_series
  // The first few errors, each "line N: what was wrong".
  std::vector<std::string> messages;
};

ExpositionResult ParseExposition(std::string_view text, const ExpositionOptions& options = {});

}  // namespace plumbline::agent
