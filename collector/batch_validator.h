// Checks a batch before it is stored. Structural faults (no agent id, zero
// sequence, too many series) refuse the whole batch; a bad series (empty or
// invalid name, hostile labels, malformed points) refuses only that series,
// so good data in the same batch is never lost.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "plumbline/v1/ingest.pb.h"

namespace plumbline::collector {

struct ValidationLimits {
  int max_series_per_batch = 100000;
  int max_labels_per_series = 64;
  int max_points_per_series = 10000;
  int max_histogram_buckets = 512;
  // Relative to the `now_ms` given to ValidateBatch; 0: not checked.
  int64_t max_future_skew_ms = 0;
  int64_t max_sample_age_ms = 0;
};

struct ValidationResult {
  // OK, or why the whole batch is refused.
  absl::Status batch;
  std::vector<int> valid_series;  // indices into batch.series
  uint32_t rejected_series = 0;
  // Reasons for the first few refused series, e.g. "series[3]: empty metric name".
  std::vector<std::string> errors;
  // Refused series by reason, for counters ("invalid_name", "invalid_label", ...).
  std::vector<std::pair<std::string, uint32_t>> reasons;
};

// `now_ms` (the collector's clock) anchors the timestamp window; 0 leaves
// only the fixed plausibility range (years 2000..2200).
ValidationResult ValidateBatch(const v1::Batch& batch, const ValidationLimits& limits,
                               int64_t now_ms = 0);

}  // namespace plumbline::collector
