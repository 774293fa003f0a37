// The StatsD source on a real UDP socket on loopback: packets sent by a
// client socket, aggregated, written by Collect().
#include "agent/sources/statsd_source.h"

#include <gtest/gtest.h>

#include <asio.hpp>
#include <chrono>

namespace plumbline::agent {
namespace {

using namespace std::chrono_literals;

const v1::Series* Find(const v1::Batch& b, const std::string& name) {
  for (const auto& s : b.series()) {
    if (s.name() == name) return &s;
  }
  return nullptr;
}

class StatsdSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    context_.io = &io_;
    context_.counters = &counters_;
    StatsdSourceOptions options;
    options.enabled = true;
    options.listen = "127.0.0.1:0";
    source_ = std::make_unique<StatsdSource>(context_, options, std::vector<std::string>{"host"});
    ASSERT_TRUE(source_->Start().ok());
    ASSERT_NE(source_->port(), 0);
    client_.open(asio::ip::udp::v4());
  }

  void Send(std::string_view packet) {
    client_.send_to(asio::buffer(packet.data(), packet.size()),
                    asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), source_->port()));
  }

  // Runs the loop until the source has received `packets` datagrams.
  bool RunUntilReceived(double packets) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      io_.run_for(10ms);
      if (counters_.Get("plumbline_agent_statsd_packets_total") >= packets) return true;
    }
    return false;
  }

  v1::Batch Collect() {
    v1::Batch batch;
    Labels common = {{"host", "web-01"}};
    MetricWriter writer(&batch, &common, 1700000000000);
    EXPECT_TRUE(source_->Collect(writer).ok());
    return batch;
  }

  asio::io_context io_;
  Counters counters_;
  SourceContext context_;
  std::unique_ptr<StatsdSource> source_;
  asio::ip::udp::socket client_{io_};
};

TEST_F(StatsdSourceTest, AggregatesRealPacketsIntoOneReadingPerInterval) {
  Send("orders.placed:1|c|#region:eu,host:app-3\norders.placed:1|c|@0.5|#region:eu,host:app-3");
  Send("queue.depth:17|g");
  Send("checkout.latency:120|ms\ncheckout.latency:80|ms");
  Send("users.online:alice|s\nusers.online:bob|s\nusers.online:alice|s");
  ASSERT_TRUE(RunUntilReceived(4));

  v1::Batch batch = Collect();
  const v1::Series* orders = Find(batch, "statsd_orders_placed_total");
  ASSERT_NE(orders, nullptr);
  EXPECT_EQ(orders->type(), v1::METRIC_TYPE_COUNTER);
  EXPECT_DOUBLE_EQ(orders->points(0).number(), 3);
  ASSERT_EQ(orders->labels_size(), 3);
  EXPECT_EQ(orders->labels(0).name(), "host");  // the agent's own
  EXPECT_EQ(orders->labels(0).value(), "web-01");
  EXPECT_EQ(orders->labels(1).name(), "exported_host");
  EXPECT_EQ(orders->labels(1).value(), "app-3");
  EXPECT_EQ(orders->labels(2).name(), "region");
  EXPECT_DOUBLE_EQ(Find(batch, "statsd_queue_depth")->points(0).number(), 17);
  const v1::Histogram& latency =
      Find(batch, "statsd_checkout_latency_seconds")->points(0).histogram();
  EXPECT_EQ(latency.count(), 2u);
  EXPECT_DOUBLE_EQ(latency.sum(), 0.2);
  EXPECT_DOUBLE_EQ(Find(batch, "statsd_users_online_unique")->points(0).number(), 2);
  EXPECT_DOUBLE_EQ(counters_.Get("plumbline_agent_statsd_metrics_total"), 8);
}

TEST_F(StatsdSourceTest, MalformedPacketsAreCountedAndTheGoodLinesKept) {
  Send("good:1|c\nbad line\nworse:|c\n\xff\xfe\xfd");
  std::string garbage;
  for (int i = 0; i < 60000; ++i) garbage.push_back(static_cast<char>(i % 251));
  Send(garbage);
  Send("");  // an empty datagram
  Send("good:1|c");
  ASSERT_TRUE(RunUntilReceived(4));
  EXPECT_GE(counters_.Get("plumbline_agent_parse_errors_total", {{"source", "statsd"}}), 4);
  v1::Batch batch = Collect();
  ASSERT_NE(Find(batch, "statsd_good_total"), nullptr);
  EXPECT_DOUBLE_EQ(Find(batch, "statsd_good_total")->points(0).number(), 2);
}

TEST_F(StatsdSourceTest, AFloodOfPacketsIsAllCounted) {
  // In rounds, so the kernel's socket buffer never overflows: UDP drops
  // what does not fit, by design.
  for (int round = 1; round <= 10; ++round) {
    for (int i = 0; i < 50; ++i) Send("flood:1|c\nflood:2|ms");
    ASSERT_TRUE(RunUntilReceived(50 * round));
  }
  v1::Batch batch = Collect();
  EXPECT_DOUBLE_EQ(Find(batch, "statsd_flood_total")->points(0).number(), 500);
  EXPECT_EQ(Find(batch, "statsd_flood_seconds")->points(0).histogram().count(), 500u);
}

TEST_F(StatsdSourceTest, StopClosesThePortAndPendingWorkIsHarmless) {
  uint16_t port = source_->port();
  Send("late:1|c");
  source_->Stop();
  source_.reset();  // the receive is still pending in the loop
  io_.run_for(50ms);
  // The port is free again: a new source can take it.
  StatsdSourceOptions options;
  options.listen = "127.0.0.1:" + std::to_string(port);
  StatsdSource again(context_, options, {});
  EXPECT_TRUE(again.Start().ok());
}

TEST_F(StatsdSourceTest, APortInUseIsAStartError) {
  StatsdSourceOptions options;
  options.listen = "127.0.0.1:" + std::to_string(source_->port());
  StatsdSource second(context_, options, {});
  absl::Status s = second.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(s.message()).find("cannot listen"), std::string::npos) << s;
}

TEST(StatsdSourceIpv6, ListensOnIpv6Loopback) {
  asio::io_context io;
  Counters counters;
  SourceContext context;
  context.io = &io;
  context.counters = &counters;
  StatsdSourceOptions options;
  options.listen = "[::1]:0";
  StatsdSource source(context, options, {});
  absl::Status started = source.Start();
  if (!started.ok()) GTEST_SKIP() << "no IPv6 loopback here: " << started;
  asio::ip::udp::socket client(io, asio::ip::udp::v6());
  std::string packet = "v6:1|c";
  client.send_to(asio::buffer(packet),
                 asio::ip::udp::endpoint(asio::ip::make_address("::1"), source.port()));
  for (int i = 0; i < 500 && counters.Get("plumbline_agent_statsd_packets_total") < 1; ++i) {
    io.run_for(std::chrono::milliseconds(10));
  }
  v1::Batch batch;
  MetricWriter writer(&batch, nullptr, 1);
  ASSERT_TRUE(source.Collect(writer).ok());
  EXPECT_NE(Find(batch, "statsd_v6_total"), nullptr);
}

}  // namespace
}  // namespace plumbline::agent
