// The first real path: agent process -> gRPC -> collector process -> SQLite
// -> query API and plumb, on free loopback ports.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "agent/proc_parsers.h"
#include "plumbline/v1/query.grpc.pb.h"
#include "tests/integration/process.h"

namespace plumbline::testing {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<v1::Query::Stub> QueryStub(const std::string& address) {
  return v1::Query::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

std::optional<v1::AgentStatus> FindAgent(v1::Query::Stub& stub, const std::string& id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::ListAgentsResponse response;
  if (!stub.ListAgents(&ctx, {}, &response).ok()) return std::nullopt;
  for (const auto& a : response.agents()) {
    if (a.agent_id() == id) return a;
  }
  return std::nullopt;
}

std::optional<double> Latest(const v1::AgentStatus& a, const std::string& name) {
  for (const auto& v : a.latest()) {
    if (v.name() == name) return v.value();
  }
  return std::nullopt;
}

// The newest stored point of a series, as (timestamp_ms, value).
std::optional<std::pair<int64_t, double>> NewestPoint(v1::Query::Stub& stub,
                                                      const std::string& name,
                                                      const v1::Label& match) {
  grpc::ClientContext ctx;
  v1::QuerySeriesRequest request;
  request.set_name(name);
  *request.add_match() = match;
  v1::QuerySeriesResponse response;
  if (!stub.QuerySeries(&ctx, request, &response).ok() || response.series_size() != 1) {
    return std::nullopt;
  }
  const auto& s = response.series(0);
  if (s.values_size() == 0) return std::nullopt;
  return std::make_pair(s.timestamps_ms(s.values_size() - 1), s.values(s.values_size() - 1));
}

std::string RunPlumb(const std::vector<std::string>& args, int* exit_code) {
  std::string cmd = PLUMB_BIN;
  for (const auto& a : args) cmd += " '" + a + "'";
  return RunShell(cmd, exit_code);
}

TEST(EndToEnd, AgentMeasurementsMatchProcAndPlumbShowsTheAgent) {
  TempDir dir("e2e");
  std::string address;
  auto collector = StartCollector(dir, &address);
  ASSERT_TRUE(collector.ok()) << collector.status();

  WriteFile(dir.File("agent.yaml"),
            "agent_id: e2e-agent\ninterval: 1s\nlabels: {env: test}\n"
            "state_dir: " +
                dir.File("agent-state") +
                "\n"
                "collector:\n  addresses: [\"" +
                address +
                "\"]\n"
                "  backoff_initial: 100ms\n  backoff_max: 1s\n");
  auto agent = Process::Start({PLUMBLINE_AGENT_BIN, "--config", dir.File("agent.yaml")},
                              dir.File("agent.log"));
  ASSERT_TRUE(agent.ok()) << agent.status();

  auto stub = QueryStub(address);
  std::optional<v1::AgentStatus> status;
  // The agent reads immediately and then every second; utilisation needs two
  // readings, so within three intervals every headline value is there.
  bool seen = WaitFor(
      [&] {
        status = FindAgent(*stub, "e2e-agent");
        return status && Latest(*status, "host_cpu_utilization") &&
               Latest(*status, "host_memory_used_bytes");
      },
      15s);
  ASSERT_TRUE(seen) << "agent log:\n" << agent->Log() << "\ncollector log:\n" << collector->Log();
  EXPECT_TRUE(status->connected());
  EXPECT_EQ(status->version(), "0.1.0");

  // Independent reading of the same host, right now.
  agent::ProcFs proc;
  auto mem = agent::ParseMemInfo(*proc.Read("/proc/meminfo"));
  ASSERT_TRUE(mem.ok());
  // MemTotal does not change: exact.
  EXPECT_EQ(*Latest(*status, "host_memory_total_bytes"), static_cast<double>(mem->total));
  // Used memory moves a little between the two readings: within 5% of total.
  double used = *Latest(*status, "host_memory_used_bytes");
  EXPECT_NEAR(used, static_cast<double>(mem->Used()), 0.05 * static_cast<double>(mem->total));
  double utilisation = *Latest(*status, "host_cpu_utilization");
  EXPECT_GE(utilisation, 0.0);
  EXPECT_LE(utilisation, 1.0);

  // CPU seconds are cumulative: the stored value can lag the live one by at
  // most the time since it was sampled (plus 2 s of slack) on every CPU.
  v1::Label mode;
  mode.set_name("mode");
  mode.set_value("user");
  auto point = NewestPoint(*stub, "host_cpu_seconds_total", mode);
  ASSERT_TRUE(point.has_value());
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  auto stat = agent::ParseProcStat(*proc.Read("/proc/stat"), ticks);
  ASSERT_TRUE(stat.ok());
  double now_ms = static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  double lag_s = (now_ms - static_cast<double>(point->first)) / 1000.0;
  double cpus = static_cast<double>(stat->per_cpu.size());
  EXPECT_LE(point->second, stat->total.user + 0.01);
  EXPECT_GE(point->second, stat->total.user - (lag_s + 2.0) * cpus);

  // plumb agents: table and JSON.
  int rc = -1;
  std::string table = RunPlumb({"--collector", address, "agents"}, &rc);
  EXPECT_EQ(rc, 0) << table;
  EXPECT_NE(table.find("e2e-agent"), std::string::npos) << table;
  EXPECT_NE(table.find("connected"), std::string::npos) << table;
  std::string json = RunPlumb({"agents", "--collector", address, "--json"}, &rc);
  ASSERT_EQ(rc, 0) << json;
  auto parsed = nlohmann::json::parse(json);
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0]["agent_id"], "e2e-agent");
  EXPECT_EQ(parsed[0]["labels"]["env"], "test");
  EXPECT_EQ(parsed[0]["latest"]["host_memory_total_bytes"]["value"].get<double>(),
            static_cast<double>(mem->total));

  // Clean shutdown of both: SIGTERM, exit 0.
  EXPECT_EQ(agent->Stop(SIGTERM, 10s), 0) << agent->Log();
  EXPECT_EQ(collector->Stop(SIGTERM, 10s), 0) << collector->Log();
  EXPECT_FALSE(agent->Running());
  EXPECT_FALSE(collector->Running());
}

TEST(EndToEnd, PlumbExitCodesTellScriptsWhatWentWrong) {
  int rc = -1;
  // Nothing listens on port 1.
  std::string out = RunPlumb({"--collector", "127.0.0.1:1", "--timeout", "1", "agents"}, &rc);
  EXPECT_EQ(rc, 3) << out;
  EXPECT_NE(out.find("cannot reach collector"), std::string::npos) << out;
  out = RunPlumb({"no-such-command"}, &rc);
  EXPECT_EQ(rc, 2) << out;
}

TEST(EndToEnd, AgentKeepsMeasuringWhileTheCollectorIsDownAndDeliversLater) {
  TempDir dir("e2e_late");
  std::string address;
  {
    // Learn a free port, then stop that collector: the agent starts first.
    auto probe = StartCollector(dir, &address);
    ASSERT_TRUE(probe.ok()) << probe.status();
    ASSERT_EQ(probe->Stop(SIGTERM, 10s), 0);
  }
  WriteFile(dir.File("agent.yaml"),
            "agent_id: late-agent\ninterval: 1s\nstate_dir: " + dir.File("state") +
                "\ncollector:\n"
                "  addresses: [\"" +
                address +
                "\"]\n"
                "  backoff_initial: 100ms\n  backoff_max: 500ms\n");
  auto agent = Process::Start({PLUMBLINE_AGENT_BIN, "--config", dir.File("agent.yaml")},
                              dir.File("agent.log"));
  ASSERT_TRUE(agent.ok());
  std::this_thread::sleep_for(3s);
  auto collector = StartCollector(dir, &address, address);
  ASSERT_TRUE(collector.ok()) << collector.status();
  auto stub = QueryStub(address);
  std::optional<v1::AgentStatus> status;
  ASSERT_TRUE(WaitFor(
      [&] {
        status = FindAgent(*stub, "late-agent");
        return status && status->batches() >= 4;
      },
      15s))
      << agent->Log();
  // The readings taken while the collector was down arrived too.
  v1::Label host;
  host.set_name("mode");
  host.set_value("idle");
  grpc::ClientContext ctx;
  v1::QuerySeriesRequest request;
  request.set_name("host_cpu_seconds_total");
  *request.add_match() = host;
  v1::QuerySeriesResponse response;
  ASSERT_TRUE(stub->QuerySeries(&ctx, request, &response).ok());
  ASSERT_EQ(response.series_size(), 1);
  EXPECT_GE(response.series(0).values_size(), 4);
  EXPECT_EQ(agent->Stop(SIGTERM, 10s), 0);
  EXPECT_EQ(collector->Stop(SIGTERM, 10s), 0);
}

}  // namespace
}  // namespace plumbline::testing
