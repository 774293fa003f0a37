// Builds the series of one batch. Every series gets the agent's common
// labels (host identity and labels from config) followed by its own.
// Not thread-safe: used on the agent's event loop only.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plumbline/v1/ingest.pb.h"

namespace plumbline::agent {

using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricWriter {
 public:
  // `common_labels` is applied to every series; `timestamp_ms` to every point.
  MetricWriter(v1::Batch* batch, const Labels* common_labels, int64_t timestamp_ms)
      : batch_(batch), common_(common_labels), timestamp_ms_(timestamp_ms) {}

  void Gauge(std::string_view name, double value, const Labels& labels = {},
             std::string_view unit = "");
  // Cumulative, monotonic; a reset (restart) shows as a decrease.
  void Counter(std::string_view name, double value, const Labels& labels = {},
               std::string_view unit = "");
  void Histogram(std::string_view name, const v1::Histogram& h, const Labels& labels = {},
                 std::string_view unit = "");
  void Summary(std::string_view name, const v1::Summary& s, const Labels& labels = {},
               std::string_view unit = "");

  int64_t timestamp_ms() const { return timestamp_ms_; }
  size_t series_written() const { return written_; }

 private:
  v1::Series* Add(std::string_view name, v1::MetricType type, const Labels& labels,
                  std::string_view unit);

  v1::Batch* batch_;
  const Labels* common_;
  int64_t timestamp_ms_;
  size_t written_ = 0;
};

}  // namespace plumbline::agent
