// The Prometheus text exposition parser on arbitrary bytes: whatever it
// accepts must be something the collector's validator accepts too.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/exposition_parser.h"
#include "common/labels.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  plumbline::agent::ExpositionOptions options;
  options.max_series = 64;
  plumbline::agent::ExpositionResult r = plumbline::agent::ParseExposition(text, options);
  if (r.series.size() > options.max_series) __builtin_trap();
  if (r.errors > 0 && r.messages.empty()) __builtin_trap();
  for (const auto& s : r.series) {
    if (!plumbline::ValidateMetricName(s.name).ok()) __builtin_trap();
    plumbline::LabelSet labels = s.labels;
    if (!plumbline::SortLabels(&labels).ok()) __builtin_trap();
    for (const auto& [name, value] : s.labels) {
      if (!plumbline::ValidateLabelName(name).ok()) __builtin_trap();
      if (!plumbline::ValidateLabelValue(value).ok()) __builtin_trap();
    }
    switch (s.type) {
      case plumbline::v1::METRIC_TYPE_COUNTER:
        if (!(s.number >= 0) || std::isinf(s.number)) __builtin_trap();
        break;
      case plumbline::v1::METRIC_TYPE_HISTOGRAM: {
        const auto& h = s.histogram;
        if (h.bucket_counts_size() != h.bounds_size() + 1) __builtin_trap();
        uint64_t total = 0;
        for (int i = 0; i < h.bounds_size(); ++i) {
          if (!std::isfinite(h.bounds(i)) || (i > 0 && h.bounds(i) <= h.bounds(i - 1))) {
            __builtin_trap();
          }
        }
        for (uint64_t c : h.bucket_counts()) total += c;
        if (total != h.count()) __builtin_trap();
        break;
      }
      case plumbline::v1::METRIC_TYPE_SUMMARY:
        for (const auto& q : s.summary.quantiles()) {
          if (!(q.quantile() >= 0 && q.quantile() <= 1)) __builtin_trap();
        }
        break;
      default:
        break;
    }
  }
  return 0;
}
