// The Prometheus source against real HTTP servers on loopback: a cpp-httplib
// server in a thread serving exposition text, a server answering 500, a
// closed port, and a listener that never answers.
#include "agent/sources/prometheus_source.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

namespace plumbline::agent {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(PLUMBLINE_FIXTURES) + "/exposition/" + name, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const v1::Series* Find(const v1::Batch& b, const std::string& name, const std::string& label = "",
                       const std::string& value = "") {
  for (const auto& s : b.series()) {
    if (s.name() != name) continue;
    if (label.empty()) return &s;
    for (const auto& l : s.labels()) {
      if (l.name() == label && l.value() == value) return &s;
    }
  }
  return nullptr;
}

// Serves /metrics (the body set by the test), /error (500) and /huge.
class ExpositionServer {
 public:
  ExpositionServer() {
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mu_);
      ++hits_;
      res.set_content(body_, "text/plain; version=0.0.4");
    });
    server_.Get("/error", [](const httplib::Request&, httplib::Response& res) {
      res.status = 500;
      res.set_content("oops", "text/plain");
    });
    server_.Get("/huge", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(64 << 10, '#'), "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~ExpositionServer() {
    server_.stop();
    thread_.join();
  }
  void SetBody(std::string body) {
    std::lock_guard lock(mu_);
    body_ = std::move(body);
  }
  int hits() {
    std::lock_guard lock(mu_);
    return hits_;
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::string body_;
  int hits_ = 0;
};

class PrometheusSourceTest : public ::testing::Test {
 protected:
  PrometheusSourceTest() {
    context_.io = &io_;
    context_.counters = &counters_;
  }

  static PrometheusTarget Target(const std::string& url, const std::string& name) {
    PrometheusTarget t;
    t.url = url;
    t.parsed_url = *ParseHttpUrl(url);
    t.name = name;
    t.interval = 200ms;
    t.timeout = 2s;
    return t;
  }

  void Start(std::vector<PrometheusTarget> targets) {
    PrometheusSourceOptions options;
    options.targets = std::move(targets);
    source_ =
        std::make_unique<PrometheusSource>(context_, options, std::vector<std::string>{"host"});
    ASSERT_TRUE(source_->Start().ok());
  }

  v1::Batch Collect() {
    v1::Batch batch;
    Labels common = {{"host", "web-01"}};
    MetricWriter writer(&batch, &common, 1700000000000);
    EXPECT_TRUE(source_->Collect(writer).ok());
    return batch;
  }

  // Runs the loop until `target` has a finished scrape; returns that batch.
  v1::Batch RunUntilScraped(const std::string& target, std::chrono::milliseconds limit = 10s) {
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      io_.run_for(10ms);
      v1::Batch b = Collect();
      if (Find(b, "plumbline_scrape_up", "target", target) != nullptr) return b;
    }
    ADD_FAILURE() << "no scrape of " << target << " finished";
    return {};
  }

  static double Up(const v1::Batch& b, const std::string& target) {
    const v1::Series* s = Find(b, "plumbline_scrape_up", "target", target);
    return s == nullptr ? -1 : s->points(0).number();
  }

  asio::io_context io_;
  Counters counters_;
  SourceContext context_;
  std::unique_ptr<PrometheusSource> source_;
};

TEST_F(PrometheusSourceTest, ScrapesAndShipsEveryTypeWithTheTargetsLabels) {
  ExpositionServer server;
  server.SetBody(Fixture("full.txt") + "app_info{host=\"container-7\",version=\"1.2\"} 1\n");
  PrometheusTarget t = Target(server.Url("/metrics"), "app");
  t.labels = {{"team", "web"}};
  Start({t});
  v1::Batch b = RunUntilScraped("app");

  EXPECT_EQ(Up(b, "app"), 1);
  const v1::Series* up = Find(b, "plumbline_scrape_up");
  ASSERT_EQ(up->labels_size(), 3);
  EXPECT_EQ(up->labels(1).name(), "target");
  EXPECT_EQ(up->labels(2).name(), "team");
  const v1::Series* duration = Find(b, "plumbline_scrape_duration_seconds");
  ASSERT_NE(duration, nullptr);
  EXPECT_GT(duration->points(0).number(), 0);
  EXPECT_LT(duration->points(0).number(), 2);
  EXPECT_EQ(Find(b, "plumbline_scrape_series")->points(0).number(), 16);

  const v1::Series* requests = Find(b, "http_requests_total", "code", "400");
  ASSERT_NE(requests, nullptr);
  EXPECT_EQ(requests->type(), v1::METRIC_TYPE_COUNTER);
  EXPECT_DOUBLE_EQ(requests->points(0).number(), 3);
  // host (agent), target, team, then the exposed labels.
  ASSERT_EQ(requests->labels_size(), 5);
  EXPECT_EQ(requests->labels(0).name(), "host");
  EXPECT_EQ(requests->labels(1).value(), "app");
  EXPECT_EQ(requests->labels(2).value(), "web");
  EXPECT_EQ(requests->labels(3).name(), "method");

  const v1::Series* histogram = Find(b, "http_request_duration_seconds");
  ASSERT_NE(histogram, nullptr);
  EXPECT_EQ(histogram->type(), v1::METRIC_TYPE_HISTOGRAM);
  EXPECT_EQ(histogram->points(0).histogram().bucket_counts(5), 10332u);
  const v1::Series* summary = Find(b, "rpc_duration_seconds");
  ASSERT_NE(summary, nullptr);
  EXPECT_EQ(summary->type(), v1::METRIC_TYPE_SUMMARY);
  EXPECT_EQ(summary->points(0).summary().count(), 2693u);

  const v1::Series* info = Find(b, "app_info");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->labels(3).name(), "exported_host") << "the agent's host label wins";
  EXPECT_EQ(info->labels(3).value(), "container-7");
  EXPECT_EQ(counters_.Get("plumbline_agent_parse_errors_total", {{"source", "prometheus"}}), 0);

  // It keeps scraping every interval.
  int hits = server.hits();
  auto deadline = Clock::now() + 5s;
  while (server.hits() < hits + 2 && Clock::now() < deadline) io_.run_for(20ms);
  EXPECT_GE(server.hits(), hits + 2);
  source_->Stop();
}

TEST_F(PrometheusSourceTest, InvalidLinesAreCountedAndTheValidOnesKept) {
  ExpositionServer server;
  server.SetBody(Fixture("garbage.txt"));
  Start({Target(server.Url("/metrics"), "junk")});
  v1::Batch b = RunUntilScraped("junk");
  EXPECT_EQ(Up(b, "junk"), 1) << "the scrape worked; the text was bad";
  EXPECT_NE(Find(b, "good_before"), nullptr);
  EXPECT_NE(Find(b, "good_after"), nullptr);
  EXPECT_GE(counters_.Get("plumbline_agent_parse_errors_total", {{"source", "prometheus"}}), 26);
  source_->Stop();
}

TEST_F(PrometheusSourceTest, SeriesBeyondMaxSeriesAreDroppedAndCounted) {
  ExpositionServer server;
  server.SetBody(Fixture("full.txt"));
  PrometheusTarget t = Target(server.Url("/metrics"), "capped");
  t.max_series = 3;
  Start({t});
  v1::Batch b = RunUntilScraped("capped");
  EXPECT_EQ(Find(b, "plumbline_scrape_series")->points(0).number(), 3);
  EXPECT_GT(counters_.Get("plumbline_agent_dropped_total",
                          {{"reason", "max_series"}, {"source", "prometheus"}}),
            0);
  source_->Stop();
}

TEST_F(PrometheusSourceTest, FailedScrapesAreUpZero) {
  ExpositionServer server;
  // A port that was free a moment ago: nothing listens there.
  uint16_t closed_port = 0;
  {
    asio::ip::tcp::acceptor a(io_, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    closed_port = a.local_endpoint().port();
  }
  PrometheusTarget huge = Target(server.Url("/huge"), "huge");
  huge.max_bytes = 1024;
  Start({Target(server.Url("/error"), "error"),
         Target("http://127.0.0.1:" + std::to_string(closed_port) + "/metrics", "closed"), huge});
  RunUntilScraped("error");
  RunUntilScraped("closed");
  v1::Batch b = RunUntilScraped("huge");
  EXPECT_EQ(Up(b, "error"), 0);
  EXPECT_EQ(Up(b, "closed"), 0);
  EXPECT_EQ(Up(b, "huge"), 0);
  EXPECT_EQ(b.series_size(), 9) << "up, duration and series count for each, nothing else";
  source_->Stop();
}

TEST_F(PrometheusSourceTest, ASilentTargetTimesOutWithoutBlockingTheLoop) {
  // Accepts connections (the kernel completes the handshake) but never reads
  // or answers.
  asio::ip::tcp::acceptor silent(io_,
                                 asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  PrometheusTarget t = Target(
      "http://127.0.0.1:" + std::to_string(silent.local_endpoint().port()) + "/metrics", "silent");
  t.interval = 10s;
  t.timeout = 300ms;
  Start({t});

  // A timer on the same loop measures how long the loop is ever kept busy.
  asio::steady_timer ticker(io_);
  auto last = Clock::now();
  Clock::duration longest_gap{};
  std::function<void()> tick = [&] {
    ticker.expires_after(5ms);
    ticker.async_wait([&](const asio::error_code& ec) {
      if (ec) return;
      auto now = Clock::now();
      longest_gap = std::max(longest_gap, now - last);
      last = now;
      tick();
    });
  };
  tick();

  auto start = Clock::now();
  v1::Batch b = RunUntilScraped("silent");
  auto took = Clock::now() - start;
  ticker.cancel();
  EXPECT_EQ(Up(b, "silent"), 0);
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s) << "the timeout bounds the scrape";
  double duration = Find(b, "plumbline_scrape_duration_seconds")->points(0).number();
  EXPECT_GE(duration, 0.25);
  EXPECT_LT(duration, 3);
  EXPECT_LT(longest_gap, 250ms) << "the loop kept running while the scrape waited";
  source_->Stop();
}

TEST_F(PrometheusSourceTest, StopAbortsAScrapeInProgress) {
  asio::ip::tcp::acceptor silent(io_,
                                 asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  PrometheusTarget t = Target(
      "http://127.0.0.1:" + std::to_string(silent.local_endpoint().port()) + "/metrics", "silent");
  t.interval = 30s;
  t.timeout = 20s;
  Start({t});
  io_.run_for(200ms);  // the scrape is now waiting for an answer
  auto start = Clock::now();
  source_->Stop();
  EXPECT_LT(Clock::now() - start, 5s);
  source_.reset();
  io_.run_for(50ms);  // the scrape's completion finds nothing to touch
}

}  // namespace
}  // namespace plumbline::agent
