#include "collector/store/flatten.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace plumbline::collector {

namespace {

LabelSet With(const LabelSet& labels, const std::string& name, std::string value) {
  LabelSet out = labels;
  auto pos = std::lower_bound(out.begin(), out.end(), name,
                              [](const auto& l, const std::string& n) { return l.first < n; });
  if (pos != out.end() && pos->first == name) {
    pos->second = std::move(value);
  } else {
    out.insert(pos, {name, std::move(value)});
  }
  return out;
}

}  // namespace

std::string FormatLabelNumber(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string("NaN");
}

void FlattenPoint(const std::string& name, v1::MetricType type, const LabelSet& labels,
                  const v1::Point& point, std::vector<FlatSample>* out) {
  constexpr v1::MetricType kCounter = v1::METRIC_TYPE_COUNTER;
  constexpr v1::MetricType kGauge = v1::METRIC_TYPE_GAUGE;
  switch (point.value_case()) {
    case v1::Point::kNumber:
      out->push_back({name, labels, point.number(), type == kCounter ? kCounter : kGauge});
      return;
    case v1::Point::kHistogram: {
      const v1::Histogram& h = point.histogram();
      double cumulative = 0;
      for (int i = 0; i < h.bounds_size(); ++i) {
        if (i < h.bucket_counts_size()) cumulative += static_cast<double>(h.bucket_counts(i));
        out->push_back({name + "_bucket", With(labels, "le", FormatLabelNumber(h.bounds(i))),
                        cumulative, kCounter});
      }
      out->push_back(
          {name + "_bucket", With(labels, "le", "+Inf"), static_cast<double>(h.count()), kCounter});
      out->push_back({name + "_sum", labels, h.sum(), kCounter});
      out->push_back({name + "_count", labels, static_cast<double>(h.count()), kCounter});
      return;
    }
    case v1::Point::kSummary: {
      const v1::Summary& s = point.summary();
      for (const auto& q : s.quantiles()) {
        out->push_back(
            {name, With(labels, "quantile", FormatLabelNumber(q.quantile())), q.value(), kGauge});
      }
      out->push_back({name + "_sum", labels, s.sum(), kCounter});
      out->push_back({name + "_count", labels, static_cast<double>(s.count()), kCounter});
      return;
    }
    case v1::Point::VALUE_NOT_SET:
      return;
  }
}

}  // namespace plumbline::collector
