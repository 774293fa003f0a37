#include "collector/batch_validator.h"

#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/labels.h"

namespace plumbline::collector {

namespace {

constexpr size_t kMaxErrorsReported = 5;
// Timestamps before 2000-01-01 or after 2200-01-01 are certainly wrong.
constexpr int64_t kMinTimestampMs = 946684800000;
constexpr int64_t kMaxTimestampMs = 7258118400000;

struct SeriesFault {
  std::string reason;  // counter label
  std::string message;
};

absl::Status CheckPoint(const v1::Series& s, const v1::Point& p, const ValidationLimits& limits) {
  if (p.timestamp_ms() < kMinTimestampMs || p.timestamp_ms() > kMaxTimestampMs) {
    return absl::InvalidArgumentError(
        StrCat("timestamp ", p.timestamp_ms(), " ms is out of range"));
  }
  switch (s.type()) {
    case v1::METRIC_TYPE_COUNTER:
      if (p.value_case() != v1::Point::kNumber) {
        return absl::InvalidArgumentError("counter point without a number");
      }
      if (!(p.number() >= 0) || std::isinf(p.number())) {
        return absl::InvalidArgumentError(
            StrCat("counter value ", p.number(), " is not a finite non-negative number"));
      }
      return absl::OkStatus();
    case v1::METRIC_TYPE_GAUGE:
      if (p.value_case() != v1::Point::kNumber) {
        return absl::InvalidArgumentError("gauge point without a number");
      }
      return absl::OkStatus();
    case v1::METRIC_TYPE_HISTOGRAM: {
      if (p.value_case() != v1::Point::kHistogram) {
        return absl::InvalidArgumentError("histogram point without a histogram");
      }
      const v1::Histogram& h = p.histogram();
      if (h.bounds_size() > limits.max_histogram_buckets) {
        return absl::InvalidArgumentError("too many histogram buckets");
      }
      if (h.bucket_counts_size() != h.bounds_size() + 1) {
        return absl::InvalidArgumentError(StrCat("histogram has ", h.bounds_size(), " bounds but ",
                                                 h.bucket_counts_size(),
                                                 " bucket counts (expected bounds + 1)"));
      }
      uint64_t total = 0;
      for (int i = 0; i < h.bounds_size(); ++i) {
        if (!std::isfinite(h.bounds(i)) || (i > 0 && h.bounds(i) <= h.bounds(i - 1))) {
          return absl::InvalidArgumentError("histogram bounds must be finite and ascending");
        }
      }
      for (uint64_t c : h.bucket_counts()) total += c;
      if (total != h.count()) {
        return absl::InvalidArgumentError(
            StrCat("histogram count ", h.count(), " != sum of buckets ", total));
      }
      return absl::OkStatus();
    }
    case v1::METRIC_TYPE_SUMMARY: {
      if (p.value_case() != v1::Point::kSummary) {
        return absl::InvalidArgumentError("summary point without a summary");
      }
      for (const auto& q : p.summary().quantiles()) {
        if (!(q.quantile() >= 0 && q.quantile() <= 1)) {
          return absl::InvalidArgumentError("summary quantile outside [0, 1]");
        }
      }
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError("unknown metric type");
  }
}

std::optional<SeriesFault> CheckSeries(const v1::Series& s, const ValidationLimits& limits,
                                       int64_t now_ms) {
  if (absl::Status st = ValidateMetricName(s.name()); !st.ok()) {
    return SeriesFault{"invalid_name", std::string(st.message())};
  }
  if (s.type() == v1::METRIC_TYPE_UNSPECIFIED || !v1::MetricType_IsValid(s.type())) {
    return SeriesFault{"invalid_type", StrCat(s.name(), ": metric type not set")};
  }
  if (s.labels_size() > limits.max_labels_per_series) {
    return SeriesFault{
        "too_many_labels",
        StrCat(s.name(), ": ", s.labels_size(), " labels, at most ", limits.max_labels_per_series)};
  }
  std::set<std::string_view> names;
  for (const v1::Label& l : s.labels()) {
    absl::Status st = ValidateLabelName(l.name());
    if (st.ok()) st = ValidateLabelValue(l.value());
    if (!st.ok()) return SeriesFault{"invalid_label", StrCat(s.name(), ": ", st.message())};
    if (!names.insert(l.name()).second) {
      return SeriesFault{"invalid_label", StrCat(s.name(), ": duplicate label \"", l.name(), "\"")};
    }
  }
  if (s.points_size() == 0) return SeriesFault{"no_points", StrCat(s.name(), ": no points")};
  if (s.points_size() > limits.max_points_per_series) {
    return SeriesFault{
        "too_many_points",
        StrCat(s.name(), ": ", s.points_size(), " points, at most ", limits.max_points_per_series)};
  }
  for (const v1::Point& p : s.points()) {
    if (now_ms == 0) break;
    if (limits.max_future_skew_ms > 0 && p.timestamp_ms() > now_ms + limits.max_future_skew_ms) {
      return SeriesFault{
          "timestamp_future",
          StrCat(s.name(), ": timestamp ", p.timestamp_ms(), " is ",
                 (p.timestamp_ms() - now_ms) / 1000, " s ahead of the collector's clock (at most ",
                 limits.max_future_skew_ms / 1000, " s; check the agent's clock)")};
    }
    if (limits.max_sample_age_ms > 0 && p.timestamp_ms() < now_ms - limits.max_sample_age_ms) {
      return SeriesFault{"timestamp_old", StrCat(s.name(), ": timestamp ", p.timestamp_ms(),
                                                 " is older than ingest.max_sample_age (",
                                                 limits.max_sample_age_ms / 1000, " s)")};
    }
  }
  for (const v1::Point& p : s.points()) {
    if (absl::Status st = CheckPoint(s, p, limits); !st.ok()) {
      return SeriesFault{"invalid_point", StrCat(s.name(), ": ", st.message())};
    }
  }
  return std::nullopt;
}

}  // namespace

ValidationResult ValidateBatch(const v1::Batch& batch, const ValidationLimits& limits,
                               int64_t now_ms) {
  ValidationResult r;
  if (batch.agent_id().empty()) {
    r.batch = absl::InvalidArgumentError("batch without agent_id");
  } else if (batch.epoch() == 0 || batch.sequence() == 0) {
    r.batch = absl::InvalidArgumentError("batch epoch and sequence must be non-zero");
  } else if (batch.series_size() > limits.max_series_per_batch) {
    r.batch = absl::ResourceExhaustedError(StrCat(
        "batch has ", batch.series_size(), " series, at most ", limits.max_series_per_batch));
  }
  if (!r.batch.ok()) return r;
  std::map<std::string, uint32_t> reasons;
  r.valid_series.reserve(static_cast<size_t>(batch.series_size()));
  for (int i = 0; i < batch.series_size(); ++i) {
    std::optional<SeriesFault> fault = CheckSeries(batch.series(i), limits, now_ms);
    if (!fault) {
      r.valid_series.push_back(i);
      continue;
    }
    ++r.rejected_series;
    ++reasons[fault->reason];
    if (r.errors.size() < kMaxErrorsReported) {
      r.errors.push_back(StrCat("series[", i, "]: ", fault->message));
    }
  }
  r.reasons.assign(reasons.begin(), reasons.end());
  return r;
}

}  // namespace plumbline::collector
