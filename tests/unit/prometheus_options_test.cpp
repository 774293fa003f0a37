// Prometheus scrape targets in the config and their URLs (the scraping
// itself runs against a real HTTP server in
// tests/integration/prometheus_source_test.cpp).
#include <gtest/gtest.h>

#include "agent/config.h"
#include "agent/sources/prometheus_source.h"

namespace plumbline::agent {
namespace {

TEST(HttpUrl, SplitsHostPortAndPath) {
  auto u = ParseHttpUrl("http://127.0.0.1:9100/metrics");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 9100);
  EXPECT_EQ(u->path, "/metrics");

  auto bare = ParseHttpUrl("http://localhost");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->port, 80);
  EXPECT_EQ(bare->path, "/");

  auto query = ParseHttpUrl("http://[::1]:8080?format=text");
  ASSERT_TRUE(query.ok()) << query.status();
  EXPECT_EQ(query->host, "::1");
  EXPECT_EQ(query->port, 8080);
  EXPECT_EQ(query->path, "/?format=text");
}

TEST(HttpUrl, RefusesWhatItCannotFetch) {
  EXPECT_FALSE(ParseHttpUrl("https://127.0.0.1/metrics").ok());
  EXPECT_FALSE(ParseHttpUrl("127.0.0.1:9100/metrics").ok());
  EXPECT_FALSE(ParseHttpUrl("http://").ok());
  EXPECT_FALSE(ParseHttpUrl("http://host:/metrics").ok());
  EXPECT_FALSE(ParseHttpUrl("http://host:0/metrics").ok());
  EXPECT_FALSE(ParseHttpUrl("http://host:99999/metrics").ok());
  EXPECT_FALSE(ParseHttpUrl("http://[::1/metrics").ok());
  EXPECT_FALSE(ParseHttpUrl("http://user@host/metrics").ok());
  EXPECT_FALSE(ParseHttpUrl("http://host/a b").ok());
  EXPECT_FALSE(ParseHttpUrl("http://host/a#frag").ok());
}

TEST(PrometheusOptions, NoTargetsByDefault) {
  auto c = ParseAgentConfig("", "agent.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->prometheus.enabled);
  EXPECT_TRUE(c->prometheus.targets.empty());
}

TEST(PrometheusOptions, ReadsEveryKeyOfATarget) {
  auto c = ParseAgentConfig(R"(
sources:
  prometheus:
    targets:
      - url: http://127.0.0.1:9100/metrics
        name: node
        interval: 30s
        timeout: 2s
        labels: {team: web}
        max_series: 100
        max_bytes: 1MiB
      - url: http://127.0.0.1:8080/metrics
)",
                            "agent.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->prometheus.targets.size(), 2u);
  const PrometheusTarget& node = c->prometheus.targets[0];
  EXPECT_EQ(node.name, "node");
  EXPECT_EQ(node.interval.count(), 30000);
  EXPECT_EQ(node.timeout.count(), 2000);
  EXPECT_EQ(node.labels.at("team"), "web");
  EXPECT_EQ(node.max_series, 100);
  EXPECT_EQ(node.max_bytes, 1u << 20);
  EXPECT_EQ(node.parsed_url.port, 9100);
  const PrometheusTarget& app = c->prometheus.targets[1];
  EXPECT_EQ(app.name, "127.0.0.1:8080") << "named after host:port";
  EXPECT_EQ(app.interval.count(), 0) << "0: the agent's interval";
  EXPECT_EQ(app.timeout.count(), 5000);
  EXPECT_EQ(app.max_series, 5000);
}

TEST(PrometheusOptions, ErrorsNameFileLineAndKey) {
  auto c = ParseAgentConfig(R"(sources:
  prometheus:
    targets:
      - url: https://127.0.0.1/metrics
      - name: nameless
      - url: http://a:1/metrics
        interval: 1s
        timeout: 2s
        labels: {target: x}
      - url: http://a:1/metrics
        max_series: 0
)",
                            "agent.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "agent.yaml:4: sources.prometheus.targets[0].url: \"https://127.0.0.1/metrics\" is "
            "not an http:// URL (https is not supported)\n"
            "agent.yaml:5: sources.prometheus.targets[1]: missing required key \"url\"\n"
            "agent.yaml:8: sources.prometheus.targets[2].timeout: must not exceed the interval "
            "(1s)\n"
            "agent.yaml:9: sources.prometheus.targets[2].labels: \"target\" is set by the agent "
            "itself\n"
            "agent.yaml:10: sources.prometheus.targets[3].name: two targets named \"a:1\"; give "
            "one of them another name\n"
            "agent.yaml:11: sources.prometheus.targets[3].max_series: must be between 1 and "
            "1000000, got 0");
}

TEST(PrometheusSource, CollectWritesNothingBeforeAScrapeFinishes) {
  asio::io_context io;
  Counters counters;
  SourceContext context;
  context.io = &io;
  context.counters = &counters;
  PrometheusSourceOptions options;
  PrometheusTarget t;
  t.url = "http://127.0.0.1:9/metrics";
  t.parsed_url = *ParseHttpUrl(t.url);
  t.name = "x";
  options.targets.push_back(t);
  PrometheusSource source(context, options, {"host"});
  ASSERT_TRUE(source.Start().ok());
  v1::Batch batch;
  MetricWriter writer(&batch, nullptr, 1);
  EXPECT_TRUE(source.Collect(writer).ok());
  EXPECT_EQ(batch.series_size(), 0) << "the loop has not run";
  source.Stop();
  io.run();  // completions after Stop find nothing to touch
}

}  // namespace
}  // namespace plumbline::agent
