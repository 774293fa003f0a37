// Turns a typed point into the scalar series a store keeps, the Prometheus
// way: a histogram becomes name_bucket{le=...} (cumulative), name_sum and
// name_count; a summary becomes name{quantile=...}, name_sum and name_count.
// Counters and gauges pass through unchanged.
#pragma once

#include <string>
#include <vector>

#include "common/labels.h"
#include "plumbline/v1/metrics.pb.h"

namespace plumbline::collector {

struct FlatSample {
  std::string name;
  LabelSet labels;  // sorted
  double value;
  // How the stored scalar behaves: histogram buckets, sums and counts are
  // cumulative (COUNTER); summary quantiles are GAUGE.
  v1::MetricType type;
};

// The text a number takes in an `le` or `quantile` label: the shortest that
// reads back as the same double ("0.1", "+Inf").
std::string FormatLabelNumber(double v);

// `labels` must be sorted. Appends to `out`.
void FlattenPoint(const std::string& name, v1::MetricType type, const LabelSet& labels,
                  const v1::Point& point, std::vector<FlatSample>* out);

}  // namespace plumbline::collector
