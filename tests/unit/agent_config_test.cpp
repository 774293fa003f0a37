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
