#include "collector/store/flatten.h"

#include <gtest/gtest.h>

namespace plumbline::collector {
namespace {

TEST(Flatten, HistogramBecomesCumulativeBucketsSumAndCount) {
  v1::Point p;
  p.set_timestamp_ms(1);
  v1::Histogram* h = p.mutable_histogram();
  h->add_bounds(0.1);
  h->add_bounds(0.5);
  h->add_bucket_counts(3);
  h->add_bucket_counts(2);
  h->add_bucket_counts(1);
  h->set_count(6);
  h->set_sum(2.5);
  std::vector<FlatSample> out;
  FlattenPoint("req_seconds", v1::METRIC_TYPE_HISTOGRAM, {{"host", "a"}}, p, &out);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0].name, "req_seconds_bucket");
  EXPECT_EQ(out[0].labels, (LabelSet{{"host", "a"}, {"le", "0.1"}}));
  EXPECT_EQ(out[0].value, 3);
  EXPECT_EQ(out[1].value, 5);
  EXPECT_EQ(out[2].labels, (LabelSet{{"host", "a"}, {"le", "+Inf"}}));
  EXPECT_EQ(out[2].value, 6);
  EXPECT_EQ(out[3].name, "req_seconds_sum");
  EXPECT_EQ(out[3].value, 2.5);
  EXPECT_EQ(out[4].name, "req_seconds_count");
}

TEST(Flatten, SummaryBecomesQuantileSeries) {
  v1::Point p;
  auto* q = p.mutable_summary()->add_quantiles();
  q->set_quantile(0.99);
  q->set_value(0.2);
  std::vector<FlatSample> out;
  FlattenPoint("s", v1::METRIC_TYPE_SUMMARY, {}, p, &out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].labels, (LabelSet{{"quantile", "0.99"}}));
}

}  // namespace
}  // namespace plumbline::collector
