// Delivery guarantees with the real binaries: the agent is killed with
// SIGKILL under load and restarted on the same spool, and the collector goes
// away for a while; every batch the agent spooled is stored exactly once.
// After an outage fresh readings go out at once while the backlog is
// replayed at collector.replay_batches_per_second; an outage that outlasts
// spool.max_bytes costs the oldest batches, never the newest, in flat memory.
//
// What a kill -9 may lose: only the batch of the tick in progress (read but
// not yet appended to the spool). Everything appended survives in the page
// cache (and with fsync: always, a power loss too) and is sent again by the
// next incarnation with its original (epoch, sequence); the collector
// answers ACK_DUPLICATE for what it already had.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "agent/spool.h"
#include "plumbline/v1/query.grpc.pb.h"
#include "tests/integration/collector_stats.h"
#include "tests/integration/process.h"

namespace plumbline::testing {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kIntervalMs = 200;
// Scheduling slack on a busy machine (other builds and tests share the cores).
constexpr int64_t kSlackMs = 600;

// `collector_extra`: more keys of the collector section, each "  key: value\n".
std::string AgentYaml(const TempDir& dir, const std::string& id, const std::string& address,
                      const std::string& fsync, const std::string& collector_extra = "") {
  return "agent_id: " + id + "\ninterval: " + std::to_string(kIntervalMs) +
         "ms\nstate_dir: " + dir.File("state") +
         "\ncollector:\n"
         "  addresses: [\"" +
         address +
         "\"]\n"
         "  backoff_initial: 50ms\n  backoff_max: 300ms\n  shutdown_timeout: 10s\n" +
         collector_extra + "spool:\n  fsync: " + fsync + "\n  fsync_interval: 100ms\n";
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
  double stored = CollectorCounter(*stub, "plumbline_ingest_batches_total", "stored", "result");
  double duplicates =
      CollectorCounter(*stub, "plumbline_ingest_batches_total", "duplicate", "result");
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

// ------------------------------------------------------------------ replay order and a full spool

// The points of the one series `name` (with `label`=`value` when given);
// none when the query fails or does not find exactly one series.
struct Points {
  std::vector<int64_t> timestamps;
  std::vector<double> values;
};
std::optional<Points> QueryPoints(v1::Query::Stub& stub, const std::string& name, int64_t from_ms,
                                  int64_t to_ms, const std::string& label = "",
                                  const std::string& value = "") {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::QuerySeriesRequest request;
  request.set_name(name);
  if (!label.empty()) {
    v1::Label* match = request.add_match();
    match->set_name(label);
    match->set_value(value);
  }
  request.set_from_ms(from_ms);
  request.set_to_ms(to_ms);
  request.set_limit(100000);
  v1::QuerySeriesResponse response;
  if (!stub.QuerySeries(&ctx, request, &response).ok() || response.series_size() != 1) {
    return std::nullopt;
  }
  const v1::SeriesPoints& s = response.series(0);
  return Points{{s.timestamps_ms().begin(), s.timestamps_ms().end()},
                {s.values().begin(), s.values().end()}};
}

// The last number in the last line of `log` that contains `marker`, e.g.
// 40 for "... replaying a backlog of 40 batches" with marker "a backlog of ".
std::optional<uint64_t> LastNumberAfter(const std::string& log, const std::string& marker) {
  size_t at = log.rfind(marker);
  if (at == std::string::npos) return std::nullopt;
  return std::stoull(log.substr(at + marker.size()));
}

// The agent's counts from its "stopped: N batches stored, D duplicates" line.
std::pair<uint64_t, uint64_t> StoppedCounts(const std::string& log) {
  static const std::regex kStopped(R"(stopped: (\d+) batches stored, (\d+) duplicates)");
  const size_t at = log.rfind("stopped: ");
  if (at == std::string::npos) return {0, 0};
  const std::string tail = log.substr(at);
  std::smatch m;
  if (!std::regex_search(tail, m, kStopped)) return {0, 0};
  return {std::stoull(m[1]), std::stoull(m[2])};
}

// Resident memory of a process (VmRSS), in bytes; 0 if unreadable.
uint64_t RssBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// Bytes of the spool's segment files on disk right now.
uint64_t SegmentBytes(const std::string& spool_dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(spool_dir, ec)) {
    if (e.path().extension() != ".seg") continue;
    std::error_code size_ec;
    uint64_t size = e.file_size(size_ec);
    if (!size_ec) total += size;
  }
  return total;
}

// A UDP port on loopback that was free a moment ago.
uint16_t FreeUdpPort() {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

TEST(Delivery, FreshDataArrivesWhileAPacedBacklogDrainsAndEveryBatchArrivesOnce) {
  constexpr double kReplayRate = 4;  // backlog batches per second
  TempDir dir("replay");
  std::string address;
  auto collector = StartCollector(dir, &address);
  ASSERT_TRUE(collector.ok()) << collector.status();
  WriteFile(dir.File("agent.yaml"), AgentYaml(dir, "replay-agent", address, "interval",
                                              "  replay_batches_per_second: 4\n"));
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

  // 8 s without a collector: about 40 batches of backlog, 10 s at 4 a second.
  ASSERT_EQ(collector->Stop(SIGTERM, 10s), 0);
  const int64_t down = NowMs();
  std::this_thread::sleep_for(8000ms);
  collector = StartCollector(dir, &address, address);
  ASSERT_TRUE(collector.ok()) << collector.status();
  const int64_t up = NowMs();
  auto stub = QueryStub(address);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = FindAgent(*stub, "replay-agent");
        return s && s->connected();
      },
      20s))
      << agent->Log();
  const int64_t connected = NowMs();
  const uint64_t backlog = LastNumberAfter(agent->Log(), "replaying a backlog of ").value_or(0);
  EXPECT_GE(backlog, static_cast<uint64_t>((up - down) / kIntervalMs) - 3) << agent->Log();

  // A measurement taken after the reconnect is stored promptly...
  int64_t fresh_ts = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto ts = QueryUserCpuTimestamps(*stub, connected, NowMs() + 1000);
        if (!ts || ts->empty()) return false;
        fresh_ts = ts->front();
        return true;
      },
      10s))
      << agent->Log();
  const int64_t fresh_seen = NowMs();
  // ...while the backlog is still draining: the agent says so in that very
  // batch, and the store has not yet got all of the outage.
  auto gauge = QueryPoints(*stub, "plumbline_agent_queue_backlog_batches", fresh_ts, fresh_ts + 1);
  ASSERT_TRUE(gauge && !gauge->values.empty());
  const double backlog_left_at_fresh = gauge->values.front();
  EXPECT_GT(backlog_left_at_fresh, 0) << "the fresh batch went out after the whole backlog";
  const size_t outage_stored_at_fresh =
      QueryUserCpuTimestamps(*stub, down, up).value_or(std::vector<int64_t>{}).size();

  // Until the agent reports the backlog gone: how far behind the newest stored point is.
  int64_t worst_lag = 0;
  int64_t drained_ts = 0;
  const bool drained = WaitFor(
      [&] {
        const int64_t now = NowMs();
        auto ts = QueryUserCpuTimestamps(*stub, connected, now + 1000);
        if (ts && !ts->empty()) worst_lag = std::max(worst_lag, now - ts->back());
        auto left =
            QueryPoints(*stub, "plumbline_agent_queue_backlog_batches", connected, now + 1000);
        if (!left) return false;
        for (size_t i = 0; i < left->values.size(); ++i) {
          if (left->values[i] == 0) {
            drained_ts = left->timestamps[i];
            return true;
          }
        }
        return false;
      },
      60s);
  ASSERT_TRUE(drained) << agent->Log();
  const double drain_s = static_cast<double>(drained_ts - connected) / 1000.0;
  std::this_thread::sleep_for(1000ms);
  ASSERT_EQ(agent->Stop(SIGTERM, 20s), 0) << agent->Log();
  const int64_t t_end = NowMs();
  const std::string log = agent->Log();

  // Fresh data was not starved: a reading reached the store within a couple
  // of intervals of being taken, all through the replay.
  EXPECT_LE(fresh_seen - fresh_ts, 2000);
  EXPECT_LE(worst_lag, 2000);
  // The replay was paced: about backlog / rate seconds (after a burst of one
  // second's worth), not as fast as the collector acknowledges.
  EXPECT_GE(drain_s, 0.7 * (static_cast<double>(backlog) - kReplayRate) / kReplayRate);
  EXPECT_LE(drain_s, static_cast<double>(backlog) / kReplayRate + 15);

  // Nothing lost, nothing stored twice.
  agent::SpoolStats left = SpoolLeftOver(dir);
  EXPECT_EQ(left.replayed, 0u) << "everything spooled was acknowledged";
  EXPECT_EQ(left.corrupt_records, 0u);
  std::vector<int64_t> ts = UserCpuTimestamps(*stub, t0 - 1000, t_end + 1000);
  ASSERT_FALSE(ts.empty());
  EXPECT_TRUE(std::adjacent_find(ts.begin(), ts.end(), std::greater_equal<int64_t>()) == ts.end())
      << "timestamps strictly increasing";
  for (size_t i = 1; i < ts.size(); ++i) {
    EXPECT_LE(ts[i] - ts[i - 1], 2 * kIntervalMs + kSlackMs)
        << "gap " << ts[i - 1] << " .. " << ts[i] << " (collector down " << down << " .. " << up
        << ")";
  }
  auto status = FindAgent(*stub, "replay-agent");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->batches(), ts.size()) << "the collector stored each batch once";
  // The agent's own count: the last batch says how many it had spooled before it.
  auto spooled = QueryPoints(*stub, "plumbline_agent_spool_spooled_total", t0 - 1000, t_end + 1000);
  ASSERT_TRUE(spooled && !spooled->values.empty());
  EXPECT_EQ(spooled->timestamps.back(), ts.back());
  EXPECT_EQ(static_cast<size_t>(spooled->values.back()) + 1, ts.size())
      << "every batch the agent produced is in the store";
  auto [stored_acks, duplicate_acks] = StoppedCounts(log);
  EXPECT_LE(stored_acks, ts.size()) << log;
  EXPECT_GE(stored_acks + duplicate_acks, ts.size()) << log;
  auto backlog_sent =
      QueryPoints(*stub, "plumbline_agent_backlog_batches_sent_total", t0 - 1000, t_end + 1000);
  ASSERT_TRUE(backlog_sent && !backlog_sent->values.empty());
  EXPECT_GE(backlog_sent->values.back(), static_cast<double>(backlog));

  std::printf(
      "replay: backlog of %llu batches (collector down %lld ms) drained in %.1f s at %.0f/s; "
      "first fresh reading stored %lld ms after it was taken, %lld ms after the reconnect, with "
      "%.0f backlog batches still queued and %zu outage readings stored; newest stored reading "
      "at most %lld ms old during the replay; %zu batches stored once (%llu acknowledged "
      "stored, %llu duplicate), %.1f s\n",
      static_cast<unsigned long long>(backlog), static_cast<long long>(up - down), drain_s,
      kReplayRate, static_cast<long long>(fresh_seen - fresh_ts),
      static_cast<long long>(fresh_seen - connected), backlog_left_at_fresh, outage_stored_at_fresh,
      static_cast<long long>(worst_lag), ts.size(), static_cast<unsigned long long>(stored_acks),
      static_cast<unsigned long long>(duplicate_acks),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  EXPECT_EQ(collector->Stop(SIGTERM, 10s), 0);
}

TEST(Delivery, AFullSpoolDropsTheOldestKeepsTheNewestAndTheAgentsMemoryStaysFlat) {
  constexpr int64_t kFloodIntervalMs = 100;
  constexpr uint64_t kMaxBytes = 1 << 20;       // the smallest spool.max_bytes allowed
  constexpr uint64_t kSegmentBytes = 64 << 10;  // the smallest segment_size
  // On disk the spool may hold, besides max_bytes of unacknowledged
  // batches, the dropped part of its oldest segment (less than a segment)
  // and, for the moment of one maintenance round, the segments the latest
  // drop finished (one batch, less than a segment): agent/spool.h.
  constexpr uint64_t kMaxDiskBytes = kMaxBytes + 2 * kSegmentBytes;
  // Resident memory may grow by at most this once the spool is full.
  [[maybe_unused]] constexpr uint64_t kMaxRssGrowth = 4 << 20;
  constexpr auto kFullFor = 20s;

  TempDir dir("spool_full");
  std::string address;
  {
    // Learn a free port, then stop that collector: the agent never reaches it.
    auto probe = StartCollector(dir, &address);
    ASSERT_TRUE(probe.ok()) << probe.status();
    ASSERT_EQ(probe->Stop(SIGTERM, 10s), 0);
  }
  const uint16_t statsd_port = FreeUdpPort();
  ASSERT_NE(statsd_port, 0);
  const std::string spool_dir = dir.File("state") + "/spool";
  WriteFile(dir.File("agent.yaml"),
            "agent_id: full-agent\ninterval: " + std::to_string(kFloodIntervalMs) +
                "ms\nstate_dir: " + dir.File("state") + "\ncollector:\n  addresses: [\"" + address +
                "\"]\n  backoff_initial: 50ms\n  backoff_max: 300ms\n  shutdown_timeout: 10s\n"
                // fsync never: maintenance rounds (which delete finished segments)
                // are not held up by a busy disk.
                "spool:\n  max_bytes: 1MiB\n  segment_size: 64KiB\n  fsync: never\n"
                "sources:\n  statsd:\n    enabled: true\n    listen: 127.0.0.1:" +
                std::to_string(statsd_port) + "\n");
  const auto started = std::chrono::steady_clock::now();
  const int64_t t0 = NowMs();
  auto agent = Process::Start({PLUMBLINE_AGENT_BIN, "--config", dir.File("agent.yaml")},
                              dir.File("agent.log"));
  ASSERT_TRUE(agent.ok()) << agent.status();

  // A StatsD flood: 300 counters, each with a tag, updated over and over, so
  // every 100 ms batch carries some 300 series.
  std::atomic<bool> flooding{true};
  std::atomic<uint64_t> packets{0};
  std::thread flood([&] {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(statsd_port);
    int next = 0;
    while (flooding) {
      std::string packet;
      for (int line = 0; line < 30; ++line, next = (next + 1) % 300) {
        packet += "flood.requests_" + std::to_string(next) + ":1|c|#shard:shard-" +
                  std::to_string(next % 17) + "\n";
      }
      ::sendto(fd, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
      ++packets;
      std::this_thread::sleep_for(5ms);
    }
    ::close(fd);
  });
  struct StopFlood {
    std::atomic<bool>& flag;
    std::thread& thread;
    ~StopFlood() {
      flag = false;
      if (thread.joinable()) thread.join();
    }
  } stop_flood{flooding, flood};

  ASSERT_TRUE(
      WaitFor([&] { return agent->Log().find(" full (max_bytes ") != std::string::npos; }, 30s))
      << agent->Log();
  const int64_t first_full = NowMs();
  const uint64_t rss_full = RssBytes(agent->pid());
  ASSERT_GT(rss_full, 0u);
  uint64_t rss_max = rss_full, disk_max = 0;
  const auto full_until = std::chrono::steady_clock::now() + kFullFor;
  while (std::chrono::steady_clock::now() < full_until) {
    disk_max = std::max(disk_max, SegmentBytes(spool_dir));
    rss_max = std::max(rss_max, RssBytes(agent->pid()));
    ASSERT_TRUE(agent->Running()) << agent->Log();
    std::this_thread::sleep_for(100ms);
  }
  const uint64_t rss_end = RssBytes(agent->pid());

  // A collector at last: the newest batches arrive, the backlog drains.
  auto collector = StartCollector(dir, &address, address);
  ASSERT_TRUE(collector.ok()) << collector.status();
  const int64_t up = NowMs();
  auto stub = QueryStub(address);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto left = QueryPoints(*stub, "plumbline_agent_queue_backlog_batches", up, NowMs() + 1000);
        return left && !left->values.empty() && left->values.back() == 0;
      },
      30s))
      << agent->Log();
  flooding = false;
  ASSERT_EQ(agent->Stop(SIGTERM, 20s), 0) << agent->Log();
  const int64_t t_end = NowMs();
  const std::string log = agent->Log();
  // What the full spool held when the stream came up: one spool's worth.
  const uint64_t kept = LastNumberAfter(log, "replaying a backlog of ").value_or(0);
  ASSERT_GT(kept, 0u) << log;
  const uint64_t dropped_logged = LastNumberAfter(log, " oldest batches (").value_or(0);

  std::vector<int64_t> ts = UserCpuTimestamps(*stub, t0 - 1000, t_end + 1000);
  ASSERT_GT(ts.size(), 2u);
  // The oldest went: nothing from before the spool first filled is left...
  EXPECT_GT(ts.front(), first_full) << "the oldest batches were dropped";
  // ...and the newest stayed: every batch from the oldest kept one to the end
  // arrived, up to the last one taken before the collector came.
  for (size_t i = 1; i < ts.size(); ++i) {
    EXPECT_LE(ts[i] - ts[i - 1], 2 * kFloodIntervalMs + kSlackMs)
        << "gap " << ts[i - 1] << " .. " << ts[i] << " among the kept batches";
  }
  auto last_before_up = std::lower_bound(ts.begin(), ts.end(), up);
  ASSERT_NE(last_before_up, ts.begin());
  EXPECT_GE(*std::prev(last_before_up), up - 2 * kFloodIntervalMs - kSlackMs)
      << "the newest batch taken during the outage was kept";

  // What the agent said about its spool in the batches it kept (taken while full).
  auto bytes = QueryPoints(*stub, "plumbline_agent_spool_bytes", t0, up);
  auto disk = QueryPoints(*stub, "plumbline_agent_spool_disk_bytes", t0, up);
  auto dropped =
      QueryPoints(*stub, "plumbline_agent_spool_dropped_total", t0, up, "reason", "full");
  auto batches = QueryPoints(*stub, "plumbline_agent_spool_batches", t0, up);
  ASSERT_TRUE(bytes && disk && dropped && batches);
  ASSERT_FALSE(dropped->values.empty());
  ASSERT_GT(batches->values.back(), 0);
  const double batch_bytes = bytes->values.back() / batches->values.back();
  ASSERT_LT(batch_bytes, static_cast<double>(kSegmentBytes)) << "kMaxDiskBytes assumes this";
  for (double b : bytes->values) EXPECT_LE(b, static_cast<double>(kMaxBytes));
  for (double d : disk->values) EXPECT_LE(d, static_cast<double>(kMaxDiskBytes));
  EXPECT_TRUE(std::is_sorted(dropped->values.begin(), dropped->values.end()));
  EXPECT_GT(dropped->values.back(), dropped->values.front()) << "the drop counter grows";
  // Filled several times over: at least three spools' worth dropped.
  EXPECT_GE(dropped->values.back(), 3.0 * static_cast<double>(kept));
  EXPECT_GE(static_cast<double>(dropped_logged), dropped->values.back());

  // On disk, sampled from outside all along.
  EXPECT_LE(disk_max, kMaxDiskBytes);
  EXPECT_GT(disk_max, kMaxBytes / 2) << "the spool did fill";
  // Memory flat while the spool was full. Not under AddressSanitizer: its
  // allocator keeps freed memory in quarantine (up to 256 MiB) by design, so
  // the agent's RSS climbs there however flat its own memory is.
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_LE(rss_max, rss_full + kMaxRssGrowth);
  EXPECT_LE(rss_end, rss_full + kMaxRssGrowth);
#endif

  std::printf(
      "full spool: %.0f batches dropped (oldest first) in %.0f s after the spool first filled, "
      "%llu newest kept and delivered (%.0f bytes each); spool files at most %llu bytes "
      "(max_bytes %llu); agent RSS %.1f MiB when full, at most %.1f MiB, %.1f MiB at the end; "
      "%llu StatsD packets, %.1f s\n",
      dropped->values.back(), std::chrono::duration<double>(kFullFor).count(),
      static_cast<unsigned long long>(kept), batch_bytes, static_cast<unsigned long long>(disk_max),
      static_cast<unsigned long long>(kMaxBytes), static_cast<double>(rss_full) / (1 << 20),
      static_cast<double>(rss_max) / (1 << 20), static_cast<double>(rss_end) / (1 << 20),
      static_cast<unsigned long long>(packets.load()),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  EXPECT_EQ(collector->Stop(SIGTERM, 10s), 0);
}

}  // namespace
}  // namespace plumbline::testing
