#include "agent/exposition_parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

namespace plumbline::agent {
namespace {

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(PLUMBLINE_FIXTURES) + "/exposition/" + name, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Describe(const ExpositionResult& r) {
  std::string out;
  for (const auto& m : r.messages) out += m + "\n";
  return out;
}

LabelSet L(std::initializer_list<std::pair<std::string, std::string>> l) { return LabelSet(l); }

TEST(ExpositionParser, ReadsEveryFeatureOfTheTextFormat) {
  ExpositionResult r = ParseExposition(Fixture("full.txt"));
  EXPECT_EQ(r.errors, 0u) << Describe(r);
  ASSERT_EQ(r.series.size(), 15u) << Describe(r);

  const ExposedSeries& requests = r.series[0];
  EXPECT_EQ(requests.name, "http_requests_total");
  EXPECT_EQ(requests.type, v1::METRIC_TYPE_COUNTER);
  EXPECT_EQ(requests.labels, L({{"method", "post"}, {"code", "200"}}));
  EXPECT_DOUBLE_EQ(requests.number, 1027);
  EXPECT_EQ(requests.timestamp_ms, 1395066363000);
  EXPECT_DOUBLE_EQ(r.series[1].number, 3);

  const ExposedSeries& escaped = r.series[2];
  EXPECT_EQ(escaped.type, v1::METRIC_TYPE_GAUGE) << "untyped ships as a gauge";
  EXPECT_EQ(escaped.labels,
            L({{"path", "C:\\DIR\\FILE.TXT"}, {"error", "Cannot find file \"FILE.TXT\""}}));
  EXPECT_DOUBLE_EQ(escaped.number, 1.458255915e9);

  EXPECT_EQ(r.series[3].name, "metric_without_timestamp_and_labels");
  EXPECT_TRUE(r.series[3].labels.empty());
  EXPECT_FALSE(r.series[3].timestamp_ms.has_value());
  EXPECT_DOUBLE_EQ(r.series[3].number, 12.47);

  EXPECT_TRUE(std::isinf(r.series[4].number) && r.series[4].number > 0);
  EXPECT_EQ(r.series[4].timestamp_ms, -3982045);

  EXPECT_TRUE(std::isnan(r.series[5].number));
  EXPECT_TRUE(std::isinf(r.series[6].number) && r.series[6].number < 0);
  EXPECT_DOUBLE_EQ(r.series[7].number, -1.25);
  EXPECT_EQ(r.series[7].type, v1::METRIC_TYPE_GAUGE);
  EXPECT_EQ(r.series[8].name, "legacy_untyped");
  EXPECT_EQ(r.series[9].labels, L({{"a", "1"}, {"b", "2"}}));
  EXPECT_DOUBLE_EQ(r.series[9].number, 3.5);

  // Cumulative buckets 24054, 33444, 100392, 129389, 133988, 144320 become
  // per-bucket counts.
  const ExposedSeries& latency = r.series[10];
  EXPECT_EQ(latency.name, "http_request_duration_seconds");
  EXPECT_EQ(latency.type, v1::METRIC_TYPE_HISTOGRAM);
  EXPECT_TRUE(latency.labels.empty());
  const v1::Histogram& h = latency.histogram;
  ASSERT_EQ(h.bounds_size(), 5);
  EXPECT_EQ(std::vector<double>(h.bounds().begin(), h.bounds().end()),
            (std::vector<double>{0.05, 0.1, 0.2, 0.5, 1}));
  EXPECT_EQ(std::vector<uint64_t>(h.bucket_counts().begin(), h.bucket_counts().end()),
            (std::vector<uint64_t>{24054, 9390, 66948, 28997, 4599, 10332}));
  EXPECT_EQ(h.count(), 144320u);
  EXPECT_DOUBLE_EQ(h.sum(), 53423);

  const ExposedSeries& size_a = r.series[11];
  EXPECT_EQ(size_a.name, "rpc_size_bytes");
  EXPECT_EQ(size_a.labels, L({{"service", "a"}}));
  EXPECT_EQ(std::vector<uint64_t>(size_a.histogram.bucket_counts().begin(),
                                  size_a.histogram.bucket_counts().end()),
            (std::vector<uint64_t>{4, 6, 2}))
      << "sorted by le; _count stands in for the missing +Inf bucket";
  EXPECT_EQ(size_a.histogram.count(), 12u);
  EXPECT_DOUBLE_EQ(size_a.histogram.sum(), 5000.5);
  const ExposedSeries& size_b = r.series[12];
  EXPECT_EQ(size_b.labels, L({{"service", "b"}}));
  EXPECT_EQ(std::vector<uint64_t>(size_b.histogram.bucket_counts().begin(),
                                  size_b.histogram.bucket_counts().end()),
            (std::vector<uint64_t>{1, 0, 1}));

  const ExposedSeries& rpc = r.series[13];
  EXPECT_EQ(rpc.type, v1::METRIC_TYPE_SUMMARY);
  ASSERT_EQ(rpc.summary.quantiles_size(), 5);
  EXPECT_DOUBLE_EQ(rpc.summary.quantiles(0).quantile(), 0.01);
  EXPECT_DOUBLE_EQ(rpc.summary.quantiles(0).value(), 3102);
  EXPECT_DOUBLE_EQ(rpc.summary.quantiles(4).quantile(), 0.99);
  EXPECT_DOUBLE_EQ(rpc.summary.quantiles(4).value(), 76656);
  EXPECT_EQ(rpc.summary.count(), 2693u);
  EXPECT_DOUBLE_EQ(rpc.summary.sum(), 1.7560473e+07);

  EXPECT_EQ(r.series[14].name, "jobs_total");
  EXPECT_EQ(r.series[14].type, v1::METRIC_TYPE_COUNTER);
}

TEST(ExpositionParser, CountsEveryBrokenLineAndKeepsTheValidOnes) {
  ExpositionResult r = ParseExposition(Fixture("garbage.txt"));
  EXPECT_EQ(r.errors, 26u) << Describe(r);
  std::vector<std::string> names;
  for (const auto& s : r.series) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{"good_before", "late_type", "twice", "good_after"}));
  EXPECT_DOUBLE_EQ(r.series[2].number, 1) << "the first of two samples is kept";
  ASSERT_EQ(r.messages.size(), 10u) << "only the first few are described";
  EXPECT_EQ(r.messages[0], "line 3: unterminated value of label \"a\"");
  EXPECT_EQ(r.messages[1], "line 4: no value");
  EXPECT_EQ(r.messages[2], "line 5: invalid escape \"\\q\" in the value of label \"a\"");
  EXPECT_NE(r.messages[3].find("control character"), std::string::npos) << r.messages[3];
}

ExpositionResult ParseOne(std::string_view text) {
  ExpositionResult r = ParseExposition(text);
  EXPECT_EQ(r.errors, 1u) << text << "\n" << Describe(r);
  return r;
}

TEST(ExpositionParser, GarbageGivesAnErrorNeverACrash) {
  ParseOne("a{");
  ParseOne("a{b");
  ParseOne("a{b=");
  ParseOne("a{b=\"");
  ParseOne("a{b=\"\\");
  ParseOne("a{b=\"c\"");
  ParseOne("a{b=\"c\",");
  ParseOne("{b=\"c\"} 1");
  ParseOne("a 1 2 3");
  ParseOne("a 0x1p3");
  ParseOne("a 1e-999");
  ParseOne("a 1 1.5");
  ParseOne("# TYPE");
  ParseOne("# TYPE 9x gauge");
  ParseOne("# HELP");
  ParseOne("a{b=\"\xff\xfe\"} 1");               // invalid UTF-8 in a value
  ParseOne("a{b=\"\xc0\xaf\"} 1");               // overlong encoding
  ParseOne("caf\xc3\xa9 1");                     // non-ASCII metric name
  ParseOne(std::string("a{b=\"x\0y\"} 1", 12));  // NUL in a value
  // Comments and blank lines are not errors.
  EXPECT_EQ(ParseExposition("#\n# just a comment\n#HELP not really\n\n   \n").errors, 0u);
  EXPECT_TRUE(ParseExposition("").series.empty());
}

TEST(ExpositionParser, HugeLinesAreRejectedNotAllocatedForever) {
  std::string huge_name(1 << 20, 'a');
  ParseOne(huge_name + " 1");
  std::string huge_value(kMaxLabelValueLength + 1, 'v');
  ParseOne("a{b=\"" + huge_value + "\"} 1");
  std::string many_labels = "a{";
  for (size_t i = 0; i <= kMaxExposedLabels; ++i)
    many_labels += "l" + std::to_string(i) + "=\"v\",";
  ParseOne(many_labels + "} 1");
}

TEST(ExpositionParser, AbsurdCountsInHistogramsAndSummaries) {
  ParseOne("# TYPE h histogram\nh_bucket{le=\"1\"} 1e30\nh_bucket{le=\"+Inf\"} 1e30\n");
  ParseOne("# TYPE h histogram\nh_bucket{le=\"1\"} -1\nh_bucket{le=\"+Inf\"} 1\n");
  ParseOne("# TYPE h histogram\nh_bucket{le=\"NaN\"} 1\nh_bucket{le=\"+Inf\"} 1\n");
  ParseOne("# TYPE h histogram\nh_bucket{le=\"-Inf\"} 1\nh_bucket{le=\"+Inf\"} 1\n");
  ParseOne("# TYPE h histogram\nh_bucket 1\n");  // no le
  ParseOne("# TYPE h histogram\nh 1\n");         // a histogram has no plain sample
  ParseOne("# TYPE h histogram\nh_sum{le=\"1\"} 1\nh_count 1\n");
  ParseOne("# TYPE s summary\ns_count NaN\n");
  ParseOne("# TYPE s summary\ns{quantile=\"-0.1\"} 1\n");
  ParseOne("# TYPE s summary\ns{quantile=\"0.5\"} 1\ns{quantile=\"0.5\"} 2\n");
}

TEST(ExpositionParser, SummaryQuantilesMayBeNaN) {
  ExpositionResult r =
      ParseExposition("# TYPE s summary\ns{quantile=\"0.5\"} NaN\ns_sum 0\ns_count 0\n");
  ASSERT_EQ(r.series.size(), 1u) << Describe(r);
  EXPECT_TRUE(std::isnan(r.series[0].summary.quantiles(0).value()));
}

TEST(ExpositionParser, HistogramWithOnlyCountAndSumIsOneBucket) {
  ExpositionResult r = ParseExposition("# TYPE h histogram\nh_sum 3\nh_count 2\n");
  ASSERT_EQ(r.series.size(), 1u) << Describe(r);
  EXPECT_EQ(r.series[0].histogram.bounds_size(), 0);
  ASSERT_EQ(r.series[0].histogram.bucket_counts_size(), 1);
  EXPECT_EQ(r.series[0].histogram.bucket_counts(0), 2u);
}

TEST(ExpositionParser, SeriesBeyondTheLimitAreDroppedAndCounted) {
  std::string text = "# TYPE h histogram\n";
  for (int i = 0; i < 5; ++i) {
    text += "h_bucket{i=\"" + std::to_string(i) + "\",le=\"+Inf\"} 1\n";
    text += "h_count{i=\"" + std::to_string(i) + "\"} 1\n";
  }
  for (int i = 0; i < 5; ++i) text += "g{i=\"" + std::to_string(i) + "\"} 1\n";
  ExpositionOptions options;
  options.max_series = 3;
  ExpositionResult r = ParseExposition(text, options);
  EXPECT_EQ(r.series.size(), 3u);
  EXPECT_EQ(r.errors, 0u);
  EXPECT_EQ(r.dropped_samples, 4u + 5u) << "two histogram lines each for 2 more, 5 gauges";
}

TEST(ExpositionParser, CarriageReturnsAndMissingFinalNewlineAreFine) {
  ExpositionResult r = ParseExposition("a 1\r\nb 2");
  EXPECT_EQ(r.errors, 0u) << Describe(r);
  ASSERT_EQ(r.series.size(), 2u);
  EXPECT_DOUBLE_EQ(r.series[1].number, 2);
}

TEST(ExpositionParser, BinaryGarbageNeverCrashes) {
  std::string garbage;
  for (int i = 0; i < 65536; ++i) garbage.push_back(static_cast<char>((i * 7919 + 13) % 256));
  ExpositionResult r = ParseExposition(garbage);
  EXPECT_GT(r.errors, 0u);
}

}  // namespace
}  // namespace plumbline::agent
