#include "collector/batch_validator.h"

#include <gtest/gtest.h>

namespace plumbline::collector {
namespace {

constexpr int64_t kTs = 1700000000000;

v1::Series* AddGauge(v1::Batch* b, const std::string& name, double v) {
  v1::Series* s = b->add_series();
  s->set_name(name);
  s->set_type(v1::METRIC_TYPE_GAUGE);
  auto* l = s->add_labels();
  l->set_name("host");
  l->set_value("h");
  auto* p = s->add_points();
  p->set_timestamp_ms(kTs);
  p->set_number(v);
  return s;
}

v1::Batch Valid() {
  v1::Batch b;
  b.set_agent_id("a");
  b.set_epoch(1);
  b.set_sequence(1);
  AddGauge(&b, "good_one", 1);
  return b;
}

TEST(BatchValidator, AcceptsAWellFormedBatch) {
  ValidationResult r = ValidateBatch(Valid(), {});
  EXPECT_TRUE(r.batch.ok());
  EXPECT_EQ(r.valid_series, std::vector<int>{0});
  EXPECT_EQ(r.rejected_series, 0u);
}

TEST(BatchValidator, EmptyMetricNameRefusesThatSeriesOnly) {
  v1::Batch b = Valid();
  AddGauge(&b, "", 2);
  AddGauge(&b, "good_two", 3);
  ValidationResult r = ValidateBatch(b, {});
  EXPECT_TRUE(r.batch.ok());
  EXPECT_EQ(r.valid_series, (std::vector<int>{0, 2}));
  EXPECT_EQ(r.rejected_series, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0], "series[1]: empty metric name");
  EXPECT_EQ(r.reasons, (std::vector<std::pair<std::string, uint32_t>>{{"invalid_name", 1}}));
}

TEST(BatchValidator, StructuralFaultsRefuseTheWholeBatch) {
  v1::Batch no_agent = Valid();
  no_agent.clear_agent_id();
  EXPECT_EQ(ValidateBatch(no_agent, {}).batch.message(), "batch without agent_id");
  v1::Batch zero_seq = Valid();
  zero_seq.set_sequence(0);
  EXPECT_FALSE(ValidateBatch(zero_seq, {}).batch.ok());
  ValidationLimits tight;
  tight.max_series_per_batch = 0;
  EXPECT_EQ(ValidateBatch(Valid(), tight).batch.code(), absl::StatusCode::kResourceExhausted);
}

TEST(BatchValidator, HostileLabelsAreRefused) {
  v1::Batch b = Valid();
  v1::Series* s = AddGauge(&b, "x", 1);
  auto* l = s->add_labels();
  l->set_name("bad label");
  l->set_value("v");
  v1::Series* dup = AddGauge(&b, "y", 1);
  auto* d = dup->add_labels();
  d->set_name("host");
  d->set_value("again");
  ValidationResult r = ValidateBatch(b, {});
  EXPECT_EQ(r.valid_series, std::vector<int>{0});
  EXPECT_EQ(r.rejected_series, 2u);
  EXPECT_EQ(r.errors[1], "series[2]: y: duplicate label \"host\"");
}

TEST(BatchValidator, PointsMustMatchTheirType) {
  v1::Batch b = Valid();
  v1::Series* counter = AddGauge(&b, "c_total", -1);
  counter->set_type(v1::METRIC_TYPE_COUNTER);
  v1::Series* untyped = AddGauge(&b, "u", 1);
  untyped->set_type(v1::METRIC_TYPE_UNSPECIFIED);
  v1::Series* hist = AddGauge(&b, "h", 1);
  hist->set_type(v1::METRIC_TYPE_HISTOGRAM);
  v1::Series* old = AddGauge(&b, "old", 1);
  old->mutable_points(0)->set_timestamp_ms(5);
  ValidationResult r = ValidateBatch(b, {});
  EXPECT_EQ(r.valid_series, std::vector<int>{0});
  EXPECT_EQ(r.rejected_series, 4u);
}

TEST(BatchValidator, HistogramBucketsMustBeConsistent) {
  v1::Batch b = Valid();
  v1::Series* s = b.add_series();
  s->set_name("latency_seconds");
  s->set_type(v1::METRIC_TYPE_HISTOGRAM);
  v1::Point* p = s->add_points();
  p->set_timestamp_ms(kTs);
  v1::Histogram* h = p->mutable_histogram();
  h->add_bounds(0.1);
  h->add_bounds(1);
  h->add_bucket_counts(3);
  h->add_bucket_counts(2);
  h->add_bucket_counts(1);
  h->set_count(6);
  EXPECT_EQ(ValidateBatch(b, {}).rejected_series, 0u);
  h->set_count(7);
  EXPECT_EQ(ValidateBatch(b, {}).rejected_series, 1u);
}

}  // namespace
}  // namespace plumbline::collector
