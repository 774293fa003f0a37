// Delivery guarantees with the real binaries: the agent is killed with
// SIGKILL under load and restarted on the same spool, and the collector goes
// away for a while; every batch the agent spooled is stored exactly once.
//
// What a kill -9 may lose: only the batch of the tick in progress (read but
// not yet appended to the spool). Everything appended survives in the page
// cache (and with fsync: always, a power loss too) and is sent again by the
// next incarnation with its original (epoch, sequence); the collector
// answers ACK_DUPLICATE for what it already had.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <random>

#include "agent/spool.h"
#include "plumbline/v1/query.grpc.pb.h"
#include "tests/integration/process.h"

namespace plumbline::testing {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kIntervalMs = 200;
// Scheduling slack on a busy machine (other builds and tests share the cores).
constexpr int64_t kSlackMs = 600;

std::string AgentYaml(const TempDir& dir, const std::string& id, const std::string& address,
                      const std::string& fsync) {
  return "agent_id: " + id + "\ninterval: " + std::to_string(kIntervalMs) +
         "ms\nstate_dir: " + dir.File("state") +
         "\ncollector:\n"
         "  addresses: [\"" +
         address +
         "\"]\n"
         "  backoff_initial: 50ms\n  backoff_max: 300ms\n  shutdown_timeout: 10s\n"
         "spool:\n  fsync: " +
         fsync + "\n  fsync_interval: 100ms\n";
}

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

// Timestamps of the stored host_cpu_seconds_total{mode="user"} points, one
// per batch; none when the query fails or does not find exactly one series.
std::optional<std::vector<int64_t>> QueryUserCpuTimestamps(v1::Query::Stub& stub, int64_t from_ms,
                                                           int64_t to_ms) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::QuerySeriesRequest request;
  request.set_name("host_cpu_seconds_total");
  v1::Label* mode = request.add_match();
  mode->set_name("mode");
  mode->set_value("user");
  request.set_from_ms(from_ms);
  request.set_to_ms(to_ms);
  request.set_limit(100000);
  v1::QuerySeriesResponse response;
  if (!stub.QuerySeries(&ctx, request, &response).ok() || response.series_size() != 1) {
    return std::nullopt;
  }
  const auto& ts = response.series(0).timestamps_ms();
  return std::vector<int64_t>(ts.begin(), ts.end());
}

// Waits until a batch taken at or after `since_ms` is stored: the agent is up.
bool WaitForPointSince(v1::Query::Stub& stub, int64_t since_ms) {
  return WaitFor(
      [&] {
        return !QueryUserCpuTimestamps(stub, since_ms, NowMs() + 1000)
                    .value_or(std::vector<int64_t>{})
                    .empty();
      },
      30s);
}

// The same, failing the test when there is no answer.
std::vector<int64_t> UserCpuTimestamps(v1::Query::Stub& stub, int64_t from_ms, int64_t to_ms) {
  std::optional<std::vector<int64_t>> ts = QueryUserCpuTimestamps(stub, from_ms, to_ms);
  EXPECT_TRUE(ts.has_value()) << "no host_cpu_seconds_total{mode=\"user\"} series stored";
  return ts.value_or(std::vector<int64_t>{});
}

double CollectorCounter(v1::Query::Stub& stub, const std::string& name,
                        const std::string& label = "", const std::string& value = "") {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::GetStatsResponse response;
  if (!stub.GetStats(&ctx, {}, &response).ok()) return -1;
  double total = 0;
  for (const auto& c : response.counters()) {
    if (c.name() != name) continue;
    bool match = label.empty();
    for (const auto& l : c.labels()) match |= (l.name() == label && l.value() == value);
    if (match) total += c.value();
  }
  return total;
}

// Opens the agent's spool after the agent stopped: what is still in it was
// never acknowledged.
agent::SpoolStats SpoolLeftOver(const TempDir& dir) {
  agent::SpoolOptions o;
  o.dir = dir.File("state") + "/spool";
  o.background = false;
  auto spool = agent::DiskSpool::Open(o);
  EXPECT_TRUE(spool.ok()) << spool.status();
  return spool.ok() ? (*spool)->GetSpoolStats() : agent::SpoolStats{};
}

TEST(Delivery, KillDashNineOfTheAgentLosesAtMostTheTickInProgressAndNothingIsStoredTwice) {
  TempDir dir("kill9");
  std::string address;
  auto collector = StartCollector(dir, &address);
  ASSERT_TRUE(collector.ok()) << collector.status();
  WriteFile(dir.File("agent.yaml"), AgentYaml(dir, "kill-agent", address, "always"));
  const std::vector<std::string> argv = {PLUMBLINE_AGENT_BIN, "--config", dir.File("agent.yaml")};
  auto stub = QueryStub(address);
  const auto started = std::chrono::steady_clock::now();
  const int64_t t0 = NowMs();

  struct Outage {
    int64_t killed_ms;
    int64_t restarted_ms;
  };
  std::vector<Outage> outages;
  std::mt19937 rng(4242);
  auto agent = Process::Start(argv, dir.File("agent.log"));
  ASSERT_TRUE(agent.ok()) << agent.status();
  int64_t incarnation_ms = t0;
  for (int round = 0; round < 4; ++round) {
    // Each incarnation runs until its batches arrive, then a while under load.
    ASSERT_TRUE(WaitForPointSince(*stub, incarnation_ms)) << agent->Log();
    std::this_thread::sleep_for(std::chrono::milliseconds(1200 + rng() % 600));
    // Every other round the collector is frozen first, so unacknowledged
    // batches pile up in the spool and the next agent must replay them.
    bool freeze = round % 2 == 1;
    if (freeze) {
      ::kill(collector->pid(), SIGSTOP);
      std::this_thread::sleep_for(1000ms);
    }
    const int64_t killed = NowMs();
    agent->Kill();  // SIGKILL
    if (freeze) ::kill(collector->pid(), SIGCONT);
    std::this_thread::sleep_for(600ms);
    const int64_t restarted = NowMs();
    agent = Process::Start(argv, dir.File("agent.log"));
    ASSERT_TRUE(agent.ok()) << agent.status();
    outages.push_back({killed, restarted});
    incarnation_ms = restarted;
  }
  ASSERT_TRUE(WaitForPointSince(*stub, incarnation_ms)) << agent->Log();
  std::this_thread::sleep_for(1500ms);
  ASSERT_EQ(agent->Stop(SIGTERM, 20s), 0) << agent->Log();
  const int64_t t_end = NowMs();

  // Everything spooled was acknowledged: nothing is left, nothing was damaged.
  agent::SpoolStats left = SpoolLeftOver(dir);
  EXPECT_EQ(left.replayed, 0u);
  EXPECT_EQ(left.corrupt_records, 0u);
  std::string log = agent->Log();
  EXPECT_NE(log.find("unacknowledged batches"), std::string::npos)
      << "a restart replayed the spool\n"
      << log;

  std::vector<int64_t> ts = UserCpuTimestamps(*stub, t0 - 1000, t_end + 1000);
  ASSERT_GT(ts.size(), 20u);
  // Stored once: as many stored batches (and agent batches) as points, and
  // every timestamp distinct.
  double stored = CollectorCounter(*stub, "plumbline_ingest_batches_total", "result", "stored");
  double duplicates =
      CollectorCounter(*stub, "plumbline_ingest_batches_total", "result", "duplicate");
  EXPECT_EQ(stored, static_cast<double>(ts.size()));
  auto status = FindAgent(*stub, "kill-agent");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->batches(), ts.size());
  EXPECT_EQ(CollectorCounter(*stub, "plumbline_ingest_rejected_total"), 0);
  EXPECT_TRUE(std::adjacent_find(ts.begin(), ts.end(), std::greater_equal<int64_t>()) == ts.end())
      << "timestamps strictly increasing";

  // Gaps only where the agent was dead.
  for (size_t i = 1; i < ts.size(); ++i) {
    if (ts[i] - ts[i - 1] <= 2 * kIntervalMs + kSlackMs) continue;
    bool explained = std::any_of(outages.begin(), outages.end(), [&](const Outage& o) {
      return ts[i - 1] <= o.killed_ms && ts[i] >= o.restarted_ms;
    });
    EXPECT_TRUE(explained) << "gap " << ts[i - 1] << " .. " << ts[i] << " while the agent ran";
  }
  // What a kill lost: at most the tick in progress. The last stored point
  // before each kill is at most one interval (plus slack) before it; the
  // first after the restart comes promptly.
  for (const Outage& o : outages) {
    auto after = std::lower_bound(ts.begin(), ts.end(), o.killed_ms);
    ASSERT_NE(after, ts.begin());
    EXPECT_GE(*std::prev(after), o.killed_ms - kIntervalMs - kSlackMs)
        << "more than the tick in progress was lost at the kill at " << o.killed_ms;
    auto first = std::lower_bound(ts.begin(), ts.end(), o.restarted_ms);
    ASSERT_NE(first, ts.end());
    EXPECT_LE(*first, o.restarted_ms + 10000) << "the restarted agent measures again";
  }
  std::printf("kill -9: %zu batches stored once, %.0f duplicates acknowledged, %zu kills, %.1f s\n",
              ts.size(), duplicates, outages.size(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  EXPECT_EQ(collector->Stop(SIGTERM, 10s), 0);
}

TEST(Delivery, EverySampleTakenWhileTheCollectorIsDownArrivesOnce) {
  TempDir dir("outage");
  std::string address;
  auto collector = StartCollector(dir, &address);
  ASSERT_TRUE(collector.ok()) << collector.status();
  WriteFile(dir.File("agent.yaml"), AgentYaml(dir, "outage-agent", address, "interval"));
  const auto started = std::chrono::steady_clock::now();
  const int64_t t0 = NowMs();
  auto agent = Process::Start({PLUMBLINE_AGENT_BIN, "--config", dir.File("agent.yaml")},
                              dir.File("agent.log"));
  ASSERT_TRUE(agent.ok()) << agent.status();
  {
    auto early = QueryStub(address);
    ASSERT_TRUE(WaitForPointSince(*early, t0)) << agent->Log();
  }
  std::this_thread::sleep_for(1500ms);

  ASSERT_EQ(collector->Stop(SIGTERM, 10s), 0);
  const int64_t down = NowMs();
  std::this_thread::sleep_for(4000ms);
  collector = StartCollector(dir, &address, address);
  ASSERT_TRUE(collector.ok()) << collector.status();
  const int64_t up = NowMs();
  auto stub = QueryStub(address);
  // The backlog drains, then the agent stops cleanly.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = FindAgent(*stub, "outage-agent");
        return s && s->last_seen_ms() > up + 1000;
      },
      20s))
      << agent->Log();
  std::this_thread::sleep_for(1000ms);
  ASSERT_EQ(agent->Stop(SIGTERM, 20s), 0) << agent->Log();
  const int64_t t_end = NowMs();

  agent::SpoolStats left = SpoolLeftOver(dir);
  EXPECT_EQ(left.replayed, 0u) << "everything spooled was acknowledged";
  EXPECT_EQ(left.corrupt_records, 0u);

  std::vector<int64_t> ts = UserCpuTimestamps(*stub, t0 - 1000, t_end + 1000);
  auto status = FindAgent(*stub, "outage-agent");
  ASSERT_TRUE(status);
  // Stored once (the agent count survives the collector restart).
  EXPECT_EQ(status->batches(), ts.size());
  // No gap anywhere: the agent never stopped measuring, and what it measured
  // during the outage arrived.
  for (size_t i = 1; i < ts.size(); ++i) {
    EXPECT_LE(ts[i] - ts[i - 1], 2 * kIntervalMs + kSlackMs)
        << "gap " << ts[i - 1] << " .. " << ts[i] << " (collector down " << down << " .. " << up
        << ")";
  }
  size_t during = static_cast<size_t>(
      std::count_if(ts.begin(), ts.end(), [&](int64_t t) { return t >= down && t <= up; }));
  EXPECT_GE(during, static_cast<size_t>((up - down) / kIntervalMs) - 3);
  std::printf(
      "outage: %zu batches taken while the collector was down for %lld ms, all stored "
      "once; %zu in total, %.1f s\n",
      during, static_cast<long long>(up - down), ts.size(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  EXPECT_EQ(collector->Stop(SIGTERM, 10s), 0);
}

}  // namespace
}  // namespace plumbline::testing
