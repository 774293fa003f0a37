#include <gtest/gtest.h>

#include "agent/config.h"
#include "common/net.h"

namespace plumbline::agent {
namespace {

TEST(AgentConfig, DefaultsNeedNoFile) {
  auto c = ParseAgentConfig("", "<defaults>");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->agent_id.empty());  // the hostname
  EXPECT_EQ(c->interval.count(), 10000);
  EXPECT_EQ(c->collector.addresses, std::vector<std::string>{"127.0.0.1:7070"});
  EXPECT_EQ(c->collector.replay_batches_per_second, 20);
  EXPECT_TRUE(c->host.enabled);
}

TEST(AgentConfig, ReadsEveryKey) {
  auto c = ParseAgentConfig(R"(
agent_id: web-01
labels: {env: prod, dc: ams1}
interval: 2s
collector:
  addresses: [a:1, b:2]
  max_in_flight: 8
  replay_batches_per_second: 2.5
  ack_timeout: 5s
queue:
  max_bytes: 1MiB
sources:
  host: {enabled: true, per_cpu: true}
)",
                            "agent.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->agent_id, "web-01");
  EXPECT_EQ(c->labels.at("env"), "prod");
  EXPECT_EQ(c->interval.count(), 2000);
  EXPECT_EQ(c->collector.addresses.size(), 2u);
  EXPECT_EQ(c->collector.max_in_flight, 8);
  EXPECT_EQ(c->collector.replay_batches_per_second, 2.5);
  EXPECT_EQ(c->queue.max_bytes, 1u << 20);
  EXPECT_TRUE(c->host.per_cpu);
}

TEST(AgentConfig, ErrorsNameFileLineAndKey) {
  auto c = ParseAgentConfig(
      "interval: 10\ncollector:\n  addresses: [nocolon]\n"
      "labels: {host: x}\nsources:\n  hots: {}\n",
      "/etc/plumbline/agent.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "/etc/plumbline/agent.yaml:1: interval: expected a duration with a unit (ms, s, m, "
            "h, d, w), got \"10\"\n"
            "/etc/plumbline/agent.yaml:3: collector.addresses: \"nocolon\" is not host:port\n"
            "/etc/plumbline/agent.yaml:4: labels: \"host\" is set by the agent itself\n"
            "/etc/plumbline/agent.yaml:6: sources.hots: unknown key");
}

TEST(AgentConfig, ANegativeReplayRateIsRefused) {
  auto c = ParseAgentConfig("collector:\n  replay_batches_per_second: -1\n", "agent.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(
      std::string(c.status().message()).find("agent.yaml:2: collector.replay_batches_per_second"),
      std::string::npos)
      << c.status();
  auto unlimited = ParseAgentConfig("collector:\n  replay_batches_per_second: 0\n", "agent.yaml");
  ASSERT_TRUE(unlimited.ok()) << unlimited.status();
  EXPECT_EQ(unlimited->collector.replay_batches_per_second, 0);
}

TEST(AgentConfig, TheAnnotatedDefaultConfigShowsTheCollectorDefaults) {
  auto c = LoadAgentConfig(std::string(PLUMBLINE_FIXTURES) + "/../../configs/agent.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  AgentConfig defaults;
  EXPECT_EQ(c->collector.max_in_flight, defaults.collector.max_in_flight);
  EXPECT_EQ(c->collector.replay_batches_per_second, defaults.collector.replay_batches_per_second);
  EXPECT_EQ(c->collector.ack_timeout, defaults.collector.ack_timeout);
}

TEST(AgentConfig, BrokenYamlIsAnErrorNotACrash) {
  auto c = ParseAgentConfig("collector: {addresses: [\n", "x.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(std::string(c.status().message()).find("x.yaml:"), std::string::npos);
}

TEST(NetAddress, LoopbackAddressesAreRecognised) {
  for (const char* local : {"127.0.0.1:7070", "127.1.2.3:1", "localhost:7070", "[::1]:7070",
                            "ipv4:127.0.0.1:7070", "unix:/run/plumbline.sock", "::1"}) {
    EXPECT_TRUE(IsLoopbackAddress(local)) << local;
  }
  for (const char* remote : {"0.0.0.0:7070", "[::]:7070", "10.0.0.1:7070", "collector-a:7070",
                             "localhost.example.com:7070", "1270.0.0.1:1", "[2001:db8::1]:7070"}) {
    EXPECT_FALSE(IsLoopbackAddress(remote)) << remote;
  }
}

}  // namespace
}  // namespace plumbline::agent
