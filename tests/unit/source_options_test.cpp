// The sources.host, processes, probes and access_logs sections of the agent
// config: values, defaults and errors naming file, line and key.
#include <gtest/gtest.h>

#include "agent/config.h"

namespace plumbline::agent {
namespace {

absl::StatusOr<AgentConfig> Parse(const std::string& yaml) {
  return ParseAgentConfig(yaml, "agent.yaml");
}

std::string Error(const std::string& yaml) {
  auto c = Parse(yaml);
  EXPECT_FALSE(c.ok());
  return c.ok() ? "" : std::string(c.status().message());
}

TEST(SourceOptions, DefaultsWhenAbsent) {
  auto c = Parse("agent_id: a\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->processes.match.empty());
  EXPECT_TRUE(c->probes.probes.empty());
  EXPECT_TRUE(c->access_logs.logs.empty());
  EXPECT_EQ(c->access_logs.max_line_bytes, 16u << 10);
  EXPECT_TRUE(c->access_logs.start_at_end);
  EXPECT_EQ(c->host.network_devices_exclude, std::vector<std::string>{"lo"});
}

TEST(SourceOptions, HostExclusions) {
  auto c = Parse(R"(
sources:
  host:
    fs_types_exclude: [tmpfs]
    mounts_exclude: ["/mnt/.*"]
    disk_devices_exclude: ["loop\\d+"]
    network_devices_exclude: [lo, "veth.*"]
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->host.fs_types_exclude, std::vector<std::string>{"tmpfs"});
  EXPECT_EQ(c->host.network_devices_exclude, (std::vector<std::string>{"lo", "veth.*"}));
  EXPECT_EQ(Error("sources:\n  host:\n    mounts_exclude: [\"(\"]\n").substr(0, 44),
            "agent.yaml:3: sources.host.mounts_exclude: b");
}

TEST(SourceOptions, ProcessMatchers) {
  auto c = Parse(R"(
sources:
  processes:
    match:
      - {name: web, comm: nginx}
      - {name: api, cmdline: "java .*-jar /opt/api.jar"}
      - {name: pg, pidfile: /run/postgresql/15-main.pid}
      - {name: redis, systemd_unit: redis-server}
)");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->processes.match.size(), 4u);
  EXPECT_EQ(c->processes.match[0].kind, ProcessMatcher::Kind::kComm);
  EXPECT_EQ(c->processes.match[1].kind, ProcessMatcher::Kind::kCmdline);
  EXPECT_EQ(c->processes.match[2].pattern, "/run/postgresql/15-main.pid");
  EXPECT_EQ(c->processes.match[3].pattern, "redis-server.service");
}

TEST(SourceOptions, ProcessMatcherErrorsNameTheLine) {
  EXPECT_EQ(Error("sources:\n  processes:\n    match:\n      - {name: a, comm: x, pidfile: /p}\n"),
            "agent.yaml:4: sources.processes.match[0]: needs exactly one of comm, cmdline, "
            "pidfile, systemd_unit");
  EXPECT_EQ(Error("sources:\n  processes:\n    match:\n      - {comm: x}\n"),
            "agent.yaml:4: sources.processes.match[0]: missing required key \"name\"");
  std::string dup = Error(
      "sources:\n  processes:\n    match:\n      - {name: a, comm: x}\n      - {name: a, comm: "
      "y}\n");
  EXPECT_NE(dup.find("agent.yaml:5: sources.processes.match[1].name: \"a\" is used by another"),
            std::string::npos)
      << dup;
  EXPECT_NE(Error("sources:\n  processes:\n    match:\n      - {name: a, cmdline: \"([\"}\n")
                .find("sources.processes.match[0].cmdline: bad regular expression"),
            std::string::npos);
  EXPECT_NE(Error("sources:\n  processes:\n    match:\n      - {name: a, pidfile: run/x.pid}\n")
                .find("pidfile: must be an absolute path"),
            std::string::npos);
}

TEST(SourceOptions, Probes) {
  auto c = Parse(R"(
interval: 15s
sources:
  probes:
    tcp:
      - {name: db, address: "db.internal:5432", timeout: 2s}
      - {name: v6, address: "[::1]:22"}
    http:
      - name: shop
        url: https://shop.example.com:8443/health?deep=1
        interval: 30s
        expect_status: [2xx, 301, 400-404]
        body_contains: ok
        tls_verify: false
      - {name: plain, url: "http://127.0.0.1"}
)");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->probes.probes.size(), 4u);
  const ProbeOptions& db = c->probes.probes[0];
  EXPECT_EQ(db.kind, ProbeOptions::Kind::kTcp);
  EXPECT_EQ(db.host, "db.internal");
  EXPECT_EQ(db.port, "5432");
  EXPECT_EQ(db.timeout, std::chrono::seconds(2));
  EXPECT_EQ(db.interval.count(), 0);  // the agent's
  EXPECT_EQ(c->probes.probes[1].host, "::1");
  const ProbeOptions& shop = c->probes.probes[2];
  EXPECT_TRUE(shop.https);
  EXPECT_EQ(shop.scheme_host_port, "https://shop.example.com:8443");
  EXPECT_EQ(shop.path, "/health?deep=1");
  EXPECT_EQ(shop.interval, std::chrono::seconds(30));
  EXPECT_EQ(shop.expect_status,
            (std::vector<std::pair<int, int>>{{200, 299}, {301, 301}, {400, 404}}));
  EXPECT_EQ(shop.body_contains, "ok");
  EXPECT_FALSE(shop.tls_verify);
  EXPECT_EQ(c->probes.probes[3].path, "/");
  EXPECT_FALSE(c->probes.probes[3].https);
}

TEST(SourceOptions, ProbeErrors) {
  EXPECT_EQ(Error("sources:\n  probes:\n    tcp:\n      - {name: a, address: nocolon}\n"),
            "agent.yaml:4: sources.probes.tcp[0].address: \"nocolon\" is not host:port");
  EXPECT_EQ(Error("sources:\n  probes:\n    http:\n      - {name: a, url: \"ftp://x\"}\n"),
            "agent.yaml:4: sources.probes.http[0].url: \"ftp://x\" must start with http:// or "
            "https://");
  EXPECT_NE(Error("sources:\n  probes:\n    http:\n      - {name: a, url: \"http://x:99999/\"}\n")
                .find("has a bad port"),
            std::string::npos);
  EXPECT_NE(Error("sources:\n  probes:\n    http:\n      - {name: a, url: \"http://x\", "
                  "expect_status: [20x]}\n")
                .find("expect_status: \"20x\" is not a status code"),
            std::string::npos);
  EXPECT_NE(Error("sources:\n  probes:\n    tcp:\n      - {name: a, address: \"x:1\", interval: "
                  "1s, timeout: 5s}\n")
                .find("timeout: must not be longer than the probe's interval"),
            std::string::npos);
  EXPECT_NE(Error("sources:\n  probes:\n    http:\n      - {name: a, url: \"http://x\", "
                  "tls_verify: false}\n")
                .find("tls_verify: applies to https:// URLs only"),
            std::string::npos);
  std::string dup = Error(
      "sources:\n  probes:\n    tcp:\n      - {name: a, address: \"x:1\"}\n    http:\n      - "
      "{name: a, url: \"http://x\"}\n");
  EXPECT_NE(dup.find("\"a\" is used by another probe"), std::string::npos) << dup;
}

TEST(SourceOptions, AccessLogs) {
  auto c = Parse(R"(
sources:
  access_logs:
    max_read_bytes: 1MiB
    start_at: beginning
    logs:
      - name: web
        path: /var/log/nginx/access.log
        format: combined_request_time
        buckets: [0.1, 0.5, 1]
      - name: custom
        path: /var/log/app.log
        format: "$status $request_time"
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_logs.max_read_bytes, 1u << 20);
  EXPECT_FALSE(c->access_logs.start_at_end);
  ASSERT_EQ(c->access_logs.logs.size(), 2u);
  EXPECT_EQ(c->access_logs.logs[0].buckets, (std::vector<double>{0.1, 0.5, 1}));
  EXPECT_EQ(c->access_logs.logs[1].format, "$status $request_time");
  EXPECT_EQ(c->access_logs.logs[1].buckets.size(), 11u);
}

TEST(SourceOptions, AccessLogErrors) {
  EXPECT_EQ(Error("sources:\n  access_logs:\n    logs:\n      - {name: a, path: /x, format: "
                  "\"$request\"}\n"),
            "agent.yaml:4: sources.access_logs.logs[0].format: format: needs a status field "
            "($status or %>s)");
  EXPECT_NE(Error("sources:\n  access_logs:\n    logs:\n      - {name: a, path: /x, buckets: [1, "
                  "0.5]}\n")
                .find("buckets: must be positive numbers (seconds) in ascending order"),
            std::string::npos);
  EXPECT_NE(Error("sources:\n  access_logs:\n    start_at: middle\n")
                .find("start_at: must be \"end\" or \"beginning\", got \"middle\""),
            std::string::npos);
  EXPECT_NE(Error("sources:\n  access_logs:\n    logs:\n      - {name: a, path: relative.log}\n")
                .find("path: must be an absolute path"),
            std::string::npos);
  EXPECT_NE(Error("sources:\n  access_logs:\n    logs:\n      - {name: a, path: /x, typo: 1}\n")
                .find("typo"),
            std::string::npos);
}

}  // namespace
}  // namespace plumbline::agent

namespace plumbline::agent {
namespace {

TEST(SourceOptions, TheShippedConfigShowsTheDefaults) {
  auto c = LoadAgentConfig(std::string(PLUMBLINE_FIXTURES) + "/../../configs/agent.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  HostSourceOptions host;
  EXPECT_EQ(c->host.fs_types_exclude, host.fs_types_exclude);
  EXPECT_EQ(c->host.mounts_exclude, host.mounts_exclude);
  EXPECT_EQ(c->host.disk_devices_exclude, host.disk_devices_exclude);
  EXPECT_EQ(c->host.network_devices_exclude, host.network_devices_exclude);
  LogSourceOptions logs;
  EXPECT_EQ(c->access_logs.max_read_bytes, logs.max_read_bytes);
  EXPECT_EQ(c->access_logs.max_line_bytes, logs.max_line_bytes);
  EXPECT_EQ(c->access_logs.start_at_end, logs.start_at_end);
  EXPECT_TRUE(c->processes.match.empty());
  EXPECT_TRUE(c->probes.probes.empty());
}

}  // namespace
}  // namespace plumbline::agent
