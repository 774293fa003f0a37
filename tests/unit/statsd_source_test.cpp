// The StatsD aggregation and options, without sockets (the listener itself
// is tested over real UDP in tests/integration/statsd_source_test.cpp).
#include "agent/sources/statsd_source.h"

#include <gtest/gtest.h>

#include "agent/config.h"

namespace plumbline::agent {
namespace {

const v1::Series* Find(const v1::Batch& b, const std::string& name) {
  for (const auto& s : b.series()) {
    if (s.name() == name) return &s;
  }
  return nullptr;
}

Labels LabelsOf(const v1::Series& s) {
  Labels out;
  for (const auto& l : s.labels()) out.emplace_back(l.name(), l.value());
  return out;
}

class StatsdAggregatorTest : public ::testing::Test {
 protected:
  explicit StatsdAggregatorTest(StatsdSourceOptions options = {})
      : aggregator_(options, {"host", "env"}, &counters_) {}

  // Feeds a packet; returns how many lines the aggregator refused.
  int Feed(std::string_view packet, int64_t now_ms = 1000) {
    StatsdPacket p = ParseStatsdPacket(packet);
    EXPECT_EQ(p.errors, 0u) << p.first_error;
    int refused = 0;
    for (const auto& m : p.metrics) refused += aggregator_.Add(m, now_ms).ok() ? 0 : 1;
    return refused;
  }

  v1::Batch Flush(int64_t now_ms = 2000) {
    v1::Batch batch;
    MetricWriter writer(&batch, nullptr, now_ms);
    aggregator_.Flush(writer, now_ms);
    return batch;
  }

  Counters counters_;
  StatsdAggregator aggregator_;
};

TEST_F(StatsdAggregatorTest, CountersAreCumulativeAndScaledBySampleRate) {
  Feed("orders.placed:1|c|@0.1\norders.placed:2|c");
  v1::Batch first = Flush();
  const v1::Series* s = Find(first, "statsd_orders_placed_total");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->type(), v1::METRIC_TYPE_COUNTER);
  EXPECT_DOUBLE_EQ(s->points(0).number(), 12);  // 1 / 0.1 + 2
  EXPECT_EQ(s->points(0).timestamp_ms(), 2000);

  v1::Batch idle = Flush(3000);
  ASSERT_NE(Find(idle, "statsd_orders_placed_total"), nullptr) << "shipped while alive";
  EXPECT_DOUBLE_EQ(Find(idle, "statsd_orders_placed_total")->points(0).number(), 12);

  Feed("orders.placed:1|c");
  EXPECT_DOUBLE_EQ(Find(Flush(4000), "statsd_orders_placed_total")->points(0).number(), 13);
}

TEST_F(StatsdAggregatorTest, NamesAreSanitisedAndTotalIsNotDoubled) {
  Feed("web-01.api/v2+requests:1|c\nhttp_requests_total:1|c\n9lives:1|g");
  v1::Batch b = Flush();
  EXPECT_NE(Find(b, "statsd_web_01_api_v2_requests_total"), nullptr);
  EXPECT_NE(Find(b, "statsd_http_requests_total"), nullptr);
  EXPECT_EQ(Find(b, "statsd_http_requests_total_total"), nullptr);
  EXPECT_NE(Find(b, "statsd_9lives"), nullptr);
}

TEST_F(StatsdAggregatorTest, GaugesKeepTheLastValueAndApplyDeltas) {
  Feed("queue.depth:10|g\nqueue.depth:+5|g\nqueue.depth:-3|g\ntemperature:-4|g");
  v1::Batch b = Flush();
  const v1::Series* depth = Find(b, "statsd_queue_depth");
  ASSERT_NE(depth, nullptr);
  EXPECT_EQ(depth->type(), v1::METRIC_TYPE_GAUGE);
  EXPECT_DOUBLE_EQ(depth->points(0).number(), 12);
  // A first "-4" is a delta from 0, as in every StatsD server.
  EXPECT_DOUBLE_EQ(Find(b, "statsd_temperature")->points(0).number(), -4);
  Feed("queue.depth:7|g");
  EXPECT_DOUBLE_EQ(Find(Flush(), "statsd_queue_depth")->points(0).number(), 7);
}

TEST_F(StatsdAggregatorTest, TimersBecomeALatencyHistogramInSeconds) {
  // Default bounds: 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10.
  Feed("db.query:1|ms\ndb.query:5|ms\ndb.query:40|ms\ndb.query:40|ms|@0.5\ndb.query:60000|ms");
  v1::Batch b = Flush();
  const v1::Series* s = Find(b, "statsd_db_query_seconds");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->type(), v1::METRIC_TYPE_HISTOGRAM);
  EXPECT_EQ(s->unit(), "seconds");
  const v1::Histogram& h = s->points(0).histogram();
  ASSERT_EQ(h.bounds_size(), 13);
  ASSERT_EQ(h.bucket_counts_size(), 14);
  EXPECT_EQ(h.bucket_counts(0), 1u) << "1ms <= 0.001s";
  EXPECT_EQ(h.bucket_counts(2), 1u) << "5ms <= 0.005s";
  EXPECT_EQ(h.bucket_counts(5), 3u) << "40ms once, and once at rate 0.5 (counts twice)";
  EXPECT_EQ(h.bucket_counts(13), 1u) << "60s is beyond 10s";
  EXPECT_EQ(h.count(), 6u);
  EXPECT_DOUBLE_EQ(h.sum(), 0.001 + 0.005 + 0.04 + 0.08 + 60);

  Feed("db.query:1|ms");
  v1::Batch next = Flush();
  const v1::Histogram& again = Find(next, "statsd_db_query_seconds")->points(0).histogram();
  EXPECT_EQ(again.count(), 7u) << "cumulative";
  EXPECT_EQ(again.bucket_counts(0), 2u);
}

TEST_F(StatsdAggregatorTest, HistogramsAndDistributionsKeepTheirUnits) {
  Feed("payload.bytes:3|h\npayload.bytes:700|d");
  v1::Batch flushed = Flush();
  const v1::Series* s = Find(flushed, "statsd_payload_bytes");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->type(), v1::METRIC_TYPE_HISTOGRAM);
  EXPECT_EQ(s->unit(), "");
  const v1::Histogram& h = s->points(0).histogram();
  EXPECT_EQ(h.bucket_counts(2), 1u) << "3 <= 5";
  EXPECT_EQ(h.bucket_counts(9), 1u) << "700 <= 1000";
  EXPECT_DOUBLE_EQ(h.sum(), 703);
}

TEST_F(StatsdAggregatorTest, SetsCountDistinctMembersPerInterval) {
  Feed("users.online:alice|s\nusers.online:bob|s\nusers.online:alice|s");
  v1::Batch flushed = Flush();
  const v1::Series* s = Find(flushed, "statsd_users_online_unique");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->type(), v1::METRIC_TYPE_GAUGE);
  EXPECT_DOUBLE_EQ(s->points(0).number(), 2);
  EXPECT_DOUBLE_EQ(Find(Flush(), "statsd_users_online_unique")->points(0).number(), 0)
      << "a new interval starts empty";
}

TEST_F(StatsdAggregatorTest, TagsBecomeSortedSanitisedLabels) {
  Feed("checkout:1|c|#region:eu,env:prod,payment-method:card,flag,host:web-9");
  v1::Batch flushed = Flush();
  const v1::Series* s = Find(flushed, "statsd_checkout_total");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(LabelsOf(*s), (Labels{{"exported_env", "prod"},
                                  {"exported_host", "web-9"},
                                  {"payment_method", "card"},
                                  {"region", "eu"}}))
      << "agent labels are renamed, a valueless tag is ignored";
  // Tag order does not make a new series.
  Feed("checkout:1|c|#payment-method:card,region:eu,env:prod,host:web-9");
  v1::Batch b = Flush();
  EXPECT_EQ(b.series_size(), 1);
  EXPECT_DOUBLE_EQ(b.series(0).points(0).number(), 2);
}

TEST_F(StatsdAggregatorTest, BadTagsAreParseErrors) {
  EXPECT_EQ(Feed("a:1|c|#__reserved:x\nb:1|c|#k:\xff\xfe\nc:1|c|#k:ok"), 2);
  EXPECT_DOUBLE_EQ(counters_.Get("plumbline_agent_parse_errors_total", {{"source", "statsd"}}), 2);
  EXPECT_EQ(Flush().series_size(), 1);
}

TEST_F(StatsdAggregatorTest, ATypeConflictIsDroppedAndCounted) {
  EXPECT_EQ(Feed("latency:5|g\nlatency:5|h"), 1);
  EXPECT_DOUBLE_EQ(counters_.Get("plumbline_agent_dropped_total",
                                 {{"reason", "type_conflict"}, {"source", "statsd"}}),
                   1);
  v1::Batch b = Flush();
  ASSERT_EQ(b.series_size(), 1);
  EXPECT_EQ(b.series(0).type(), v1::METRIC_TYPE_GAUGE);
}

TEST_F(StatsdAggregatorTest, OutOfRangeSumsAreRefused) {
  EXPECT_EQ(Feed("big:1e308|c\nbig:1e308|c"), 1);
  EXPECT_DOUBLE_EQ(Find(Flush(), "statsd_big_total")->points(0).number(), 1e308);
}

class SmallStatsdAggregatorTest : public StatsdAggregatorTest {
 protected:
  static StatsdSourceOptions Small() {
    StatsdSourceOptions o;
    o.max_series = 3;
    o.expire_after = std::chrono::seconds(10);
    o.prefix = "";
    return o;
  }
  SmallStatsdAggregatorTest() : StatsdAggregatorTest(Small()) {}
};

TEST_F(SmallStatsdAggregatorTest, SeriesBeyondMaxSeriesAreDroppedAndCounted) {
  EXPECT_EQ(Feed("a:1|c\nb:1|c\nc:1|c\nd:1|c\ne:1|c\na:1|c"), 2);
  EXPECT_DOUBLE_EQ(counters_.Get("plumbline_agent_dropped_total",
                                 {{"reason", "max_series"}, {"source", "statsd"}}),
                   2);
  v1::Batch b = Flush();
  EXPECT_EQ(b.series_size(), 3);
  EXPECT_NE(Find(b, "a_total"), nullptr) << "no prefix";
  EXPECT_DOUBLE_EQ(counters_.Get("plumbline_agent_statsd_series"), 3);
}

TEST_F(SmallStatsdAggregatorTest, IdleSeriesExpireAndFreeTheirSlot) {
  Feed("a:1|c\nb:1|g", 1000);
  Feed("b:2|g", 8000);
  v1::Batch b = Flush(12000);  // a idle for 11s, b for 4s
  EXPECT_EQ(Find(b, "a_total"), nullptr);
  EXPECT_NE(Find(b, "b"), nullptr);
  EXPECT_EQ(aggregator_.series_count(), 1u);
  // The name is free for another type now.
  EXPECT_EQ(Feed("a_total:1|g", 12000), 0);
}

TEST(StatsdListenAddress, AcceptsIpLiteralsAndLocalhost) {
  auto v4 = ParseListenAddress("127.0.0.1:8125");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->first, "127.0.0.1");
  EXPECT_EQ(v4->second, 8125);
  auto v6 = ParseListenAddress("[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->first, "::1");
  EXPECT_EQ(ParseListenAddress("localhost:9")->first, "127.0.0.1");
  EXPECT_FALSE(ParseListenAddress("8125").ok());
  EXPECT_FALSE(ParseListenAddress(":8125").ok());
  EXPECT_FALSE(ParseListenAddress("example.com:8125").ok());
  EXPECT_FALSE(ParseListenAddress("127.0.0.1:65536").ok());
  EXPECT_FALSE(ParseListenAddress("127.0.0.1:x").ok());
}

TEST(StatsdOptions, DefaultsAreOffOnLoopback) {
  auto c = ParseAgentConfig("", "agent.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->statsd.enabled);
  EXPECT_EQ(c->statsd.listen, "127.0.0.1:8125");
  EXPECT_EQ(c->statsd.max_series, 10000);
  EXPECT_EQ(c->statsd.timer_buckets.size(), 13u);
}

TEST(StatsdOptions, ReadsEveryKey) {
  auto c = ParseAgentConfig(R"(
sources:
  statsd:
    enabled: true
    listen: "[::1]:9125"
    prefix: app_
    max_series: 50
    expire_after: 0s
    timer_buckets: [0.1, 1]
    histogram_buckets: [10]
)",
                            "agent.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->statsd.enabled);
  EXPECT_EQ(c->statsd.listen, "[::1]:9125");
  EXPECT_EQ(c->statsd.prefix, "app_");
  EXPECT_EQ(c->statsd.max_series, 50);
  EXPECT_EQ(c->statsd.expire_after.count(), 0);
  EXPECT_EQ(c->statsd.timer_buckets, (std::vector<double>{0.1, 1}));
  EXPECT_EQ(c->statsd.histogram_buckets, (std::vector<double>{10}));
}

TEST(StatsdOptions, ErrorsNameFileLineAndKey) {
  auto c = ParseAgentConfig(R"(sources:
  statsd:
    listen: nowhere
    prefix: "1x"
    max_series: 0
    timer_buckets: [1, 0.5]
    histogram_buckets: [1, lots]
)",
                            "/etc/plumbline/agent.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "/etc/plumbline/agent.yaml:3: sources.statsd.listen: \"nowhere\" is not host:port\n"
            "/etc/plumbline/agent.yaml:4: sources.statsd.prefix: must be empty or a valid metric "
            "name start ([a-zA-Z_:][a-zA-Z0-9_:]*)\n"
            "/etc/plumbline/agent.yaml:5: sources.statsd.max_series: must be between 1 and "
            "1000000, got 0\n"
            "/etc/plumbline/agent.yaml:6: sources.statsd.timer_buckets: bounds must be in "
            "ascending order\n"
            "/etc/plumbline/agent.yaml:7: sources.statsd.histogram_buckets: \"lots\" is not a "
            "finite number");
}

TEST(StatsdSource, CollectBeforeStartWritesNothing) {
  asio::io_context io;
  Counters counters;
  SourceContext context;
  context.io = &io;
  context.counters = &counters;
  StatsdSource source(context, {}, {});
  v1::Batch batch;
  MetricWriter writer(&batch, nullptr, 1);
  EXPECT_TRUE(source.Collect(writer).ok());
  EXPECT_EQ(batch.series_size(), 0);
  EXPECT_EQ(source.port(), 0);
}

}  // namespace
}  // namespace plumbline::agent
