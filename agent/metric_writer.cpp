#include "agent/metric_writer.h"

namespace plumbline::agent {

v1::Series* MetricWriter::Add(std::string_view name, v1::MetricType type, const Labels& labels,
                              std::string_view unit) {
  v1::Series* s = batch_->add_series();
  s->set_name(std::string(name));
  s->set_type(type);
  if (!unit.empty()) s->set_unit(std::string(unit));
  if (common_ != nullptr) {
    for (const auto& [k, v] : *common_) {
      v1::Label* l = s->add_labels();
      l->set_name(k);
      l->set_value(v);
    }
  }
  for (const auto& [k, v] : labels) {
    v1::Label* l = s->add_labels();
    l->set_name(k);
    l->set_value(v);
  }
  ++written_;
  return s;
}

void MetricWriter::Gauge(std::string_view name, double value, const Labels& labels,
                         std::string_view unit) {
  v1::Point* p = Add(name, v1::METRIC_TYPE_GAUGE, labels, unit)->add_points();
  p->set_timestamp_ms(timestamp_ms_);
  p->set_number(value);
}

void MetricWriter::Counter(std::string_view name, double value, const Labels& labels,
                           std::string_view unit) {
  v1::Point* p = Add(name, v1::METRIC_TYPE_COUNTER, labels, unit)->add_points();
  p->set_timestamp_ms(timestamp_ms_);
  p->set_number(value);
}

void MetricWriter::Histogram(std::string_view name, const v1::Histogram& h, const Labels& labels,
                             std::string_view unit) {
  v1::Point* p = Add(name, v1::METRIC_TYPE_HISTOGRAM, labels, unit)->add_points();
  p->set_timestamp_ms(timestamp_ms_);
  *p->mutable_histogram() = h;
}

void MetricWriter::Summary(std::string_view name, const v1::Summary& s, const Labels& labels,
                           std::string_view unit) {
  v1::Point* p = Add(name, v1::METRIC_TYPE_SUMMARY, labels, unit)->add_points();
  p->set_timestamp_ms(timestamp_ms_);
  *p->mutable_summary() = s;
}

}  // namespace plumbline::agent
