// Delivery guarantees when the collector fails: killed with SIGKILL over and
// over under load, losing its power (unsynced writes discarded), and driven
// at about three times what it can store. Many lightweight agents
// (plumbline-load-gen) send sequence-numbered samples through the real ingest
// protocol and resend until acknowledged; the oracle (`plumbline-load-gen
// verify`) then compares every sample produced with what the SQLite store
// holds: nothing lost, nothing stored twice, and PRAGMA integrity_check
// passes.
//
// The collector is restarted on the same database and the same port, which
// the test takes from the OS once (port 0 at the first start).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>

#include "plumbline/v1/query.grpc.pb.h"
#include "tests/integration/collector_stats.h"
#include "tests/integration/process.h"

namespace plumbline::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

struct LoadOptions {
  std::string prefix = "load";
  int agents = 20;
  int series = 20;
  int64_t interval_ms = 100;
  int duration_s = 30;
  int drain_timeout_s = 40;
  int max_in_flight = 32;  // as the agent's default
  bool closed_loop = false;
};

// Starts plumbline-load-gen against `address`; its report goes to
// <prefix>.json in `dir`.
absl::StatusOr<Process> StartLoad(const TempDir& dir, const std::string& address,
                                  const LoadOptions& o) {
  std::vector<std::string> argv = {PLUMBLINE_LOAD_GEN_BIN,
                                   "run",
                                   "--collector",
                                   address,
                                   "--prefix",
                                   o.prefix,
                                   "--agents",
                                   std::to_string(o.agents),
                                   "--series",
                                   std::to_string(o.series),
                                   "--interval",
                                   std::to_string(o.interval_ms),
                                   "--duration",
                                   std::to_string(o.duration_s),
                                   "--drain-timeout",
                                   std::to_string(o.drain_timeout_s),
                                   "--channels",
                                   "4",
                                   "--max-in-flight",
                                   std::to_string(o.max_in_flight),
                                   "--report",
                                   dir.File(o.prefix + ".json")};
  if (o.closed_loop) argv.push_back("--closed-loop");
  return Process::Start(argv, dir.File(o.prefix + ".log"));
}

// Waits for the load generator to finish; its report, or an empty object.
json FinishLoad(const TempDir& dir, Process& load, const std::string& prefix,
                std::chrono::seconds timeout) {
  EXPECT_TRUE(WaitFor([&] { return !load.Running(); }, timeout)) << "load generator still running";
  EXPECT_EQ(load.Stop(SIGTERM, 5s), 0) << "not everything was acknowledged:\n" << load.Log();
  std::string report = ReadFile(dir.File(prefix + ".json"));
  if (report.empty()) return json::object();
  return json::parse(report);
}

// The oracle over a stopped collector's database.
json Verify(const TempDir& dir, const std::string& prefix) {
  int code = -1;
  std::string out =
      RunShell(std::string(PLUMBLINE_LOAD_GEN_BIN) + " verify --db " + dir.File("collector.db") +
                   " --report " + dir.File(prefix + ".json"),
               &code);
  std::printf("oracle %s: %s", prefix.c_str(), out.c_str());
  EXPECT_EQ(code, 0) << out;
  auto brace = out.rfind("{\"agents\"");
  if (brace == std::string::npos) {
    ADD_FAILURE() << "no verdict from the oracle: " << out;
    return json::object();
  }
  return json::parse(out.substr(brace));
}

void ExpectExact(const json& verdict) {
  ASSERT_TRUE(verdict.contains("lost_batches")) << verdict;
  EXPECT_EQ(verdict["lost_batches"], 0) << verdict;
  EXPECT_EQ(verdict["duplicate_batches"], 0) << verdict;
  EXPECT_EQ(verdict["unexpected_batches"], 0) << verdict;
  EXPECT_EQ(verdict["lost_samples"], 0) << verdict;
  EXPECT_EQ(verdict["wrong_series"], 0) << verdict;
  EXPECT_EQ(verdict["stored_samples"], verdict["expected_samples"]) << verdict;
  EXPECT_EQ(verdict["integrity_check"], "ok") << verdict;
  EXPECT_GT(verdict["expected_samples"].get<uint64_t>(), 0u);
}

// Starts the collector with `env` (NAME=value) in its environment, through
// env(1) so the pid is the collector's.
absl::StatusOr<Process> StartCollectorWithEnv(const TempDir& dir, std::string* address,
                                              const std::string& listen,
                                              const std::vector<std::string>& env,
                                              const std::vector<std::string>& extra_args = {}) {
  std::string ready = dir.File("collector.ready");
  std::filesystem::remove(ready);
  std::vector<std::string> argv = {"/usr/bin/env"};
  argv.insert(argv.end(), env.begin(), env.end());
  std::vector<std::string> collector = {
      PLUMBLINE_COLLECTOR_BIN,  "--listen",     listen, "--http-listen", "", "--db",
      dir.File("collector.db"), "--ready-file", ready};
  argv.insert(argv.end(), collector.begin(), collector.end());
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  ASSIGN_OR_RETURN(Process p, Process::Start(argv, dir.File("collector.log")));
  bool up = WaitFor([&] { return std::filesystem::exists(ready) || !p.Running(); }, 20s);
  if (!up || !std::filesystem::exists(ready)) {
    return absl::UnavailableError(StrCat("collector did not start:\n", p.Log()));
  }
  *address = json::parse(ReadFile(ready)).at("grpc").get<std::string>();
  return p;
}

double CounterAt(const std::string& address, const std::string& name) {
  return CollectorCounter(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()), name);
}

// Resident set size of a process in KiB (VmRSS), or -1.
int64_t RssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// Runs the load while `fail` brings the collector down every 2.5-4.5 s and
// it is restarted 0.3-1 s later on the same database and port, until the
// load generator stops producing; then lets the backlog drain and checks the
// store. `fail` must leave the collector process dead.
void RunWithCollectorFailures(
    const std::string& name,
    const std::function<std::vector<std::string>(const TempDir&)>& environment,
    const std::function<void(Process&)>& fail, int* failures) {
  TempDir dir(name);
  const std::vector<std::string> env = environment(dir);
  std::string address;
  auto collector = StartCollectorWithEnv(dir, &address, "127.0.0.1:0", env);
  ASSERT_TRUE(collector.ok()) << collector.status();
  const std::string port = address;  // chosen by the OS once, reused by every restart
  LoadOptions load_options;
  load_options.duration_s = 30;
  const auto started = std::chrono::steady_clock::now();
  auto load = StartLoad(dir, address, load_options);
  ASSERT_TRUE(load.ok()) << load.status();
  const auto production_end = started + std::chrono::seconds(load_options.duration_s);
  std::mt19937 rng(20261127);
  *failures = 0;
  while (std::chrono::steady_clock::now() + 5s < production_end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2500 + rng() % 2000));
    fail(*collector);
    ASSERT_FALSE(collector->Running()) << "the collector survived its failure";
    ++*failures;
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 700));
    collector = StartCollectorWithEnv(dir, &address, port, env);
    ASSERT_TRUE(collector.ok()) << collector.status();
    ASSERT_EQ(address, port);
    ASSERT_TRUE(load->Running()) << load->Log();
  }
  json report = FinishLoad(dir, *load, load_options.prefix, 90s);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_EQ(collector->Stop(SIGTERM, 20s), 0) << collector->Log();
  ASSERT_FALSE(report.empty()) << load->Log();
  EXPECT_EQ(report["unacked"], 0);
  EXPECT_EQ(report["rejected"], 0);
  // Every failure broke every stream: the agents reconnected each time.
  EXPECT_GE(report["connects"].get<int>(), load_options.agents * (*failures + 1)) << report;
  ExpectExact(Verify(dir, load_options.prefix));
  std::printf(
      "%s: %d collector failures, %s batches produced, %s duplicates acknowledged, %.1f s\n",
      name.c_str(), *failures, report["produced_batches"].dump().c_str(),
      report["duplicates"].dump().c_str(), seconds);
}

TEST(Delivery, KillDashNineOfTheCollectorUnderLoadLosesNothingAndStoresNothingTwice) {
  int kills = 0;
  RunWithCollectorFailures(
      "collector_kill9", [](const TempDir&) { return std::vector<std::string>{}; },
      [](Process& collector) { collector.Kill(); }, &kills);
  EXPECT_GE(kills, 5);
}

TEST(Delivery, PowerLossOnTheCollectorKeepsEverythingAcknowledgedAndTheDatabaseIntact) {
  int cuts = 0;
  std::string logs;
  // The shim watches the collector's directory (its database and WAL).
  auto env = [](const TempDir& dir) {
    const char* asan = std::getenv("ASAN_OPTIONS");
    return std::vector<std::string>{
        StrCat("LD_PRELOAD=", PLUMBLINE_POWER_CUT_SHIM),
        StrCat("PLUMBLINE_POWER_CUT_DIR=", dir.path().string(), "/"),
        // The shim comes before the sanitizer runtime in an ASan build.
        StrCat("ASAN_OPTIONS=", asan ? StrCat(asan, ":") : "", "verify_asan_link_order=0")};
  };
  RunWithCollectorFailures(
      "power_cut", env,
      [&](Process& collector) {
        ASSERT_EQ(::kill(collector.pid(), SIGUSR2), 0);
        EXPECT_TRUE(WaitFor([&] { return !collector.Running(); }, 10s));
        logs = collector.Log();
      },
      &cuts);
  EXPECT_GE(cuts, 5);
  // The shim was there and cut the power each time, and at least one cut
  // found writes that were not synced yet (a commit in progress), so the
  // model was exercised, not just a kill.
  std::regex line(R"(power cut \([^)]*\): discarded (\d+) unsynced writes \((\d+) bytes\))");
  int reported = 0;
  uint64_t discarded_bytes = 0;
  for (auto it = std::sregex_iterator(logs.begin(), logs.end(), line); it != std::sregex_iterator();
       ++it) {
    ++reported;
    discarded_bytes += std::stoull((*it)[2]);
  }
  EXPECT_EQ(reported, cuts) << logs;
  EXPECT_GT(discarded_bytes, 0u) << logs;
  std::printf("power cuts: %d, %llu unsynced bytes discarded in all\n", reported,
              static_cast<unsigned long long>(discarded_bytes));
}

TEST(Delivery, OverloadIsAnsweredWithRetryHintsInBoundedMemoryAndEverythingArrivesOnce) {
  TempDir dir("overload");
  // A short ingest queue and small commit groups: the collector's capacity
  // is then bounded by its commits (fsyncs), not by CPU, which the senders
  // share on a small CI machine; 3x that is cheap to offer. The retry hint
  // is what agents are told to wait.
  WriteFile(dir.File("collector.yaml"),
            "ingest:\n  max_queued_batches: 128\n  max_group_batches: 4\n  retry_after: 700ms\n"
            // The queue's backpressure is under test, not the per-agent
            // batch rate limit (security_test.cpp).
            "  max_batches_per_second: 0\n");
  std::string address;
  auto collector = StartCollectorWithEnv(dir, &address, "127.0.0.1:0", {},
                                         {"--config", dir.File("collector.yaml")});
  ASSERT_TRUE(collector.ok()) << collector.status();
  const auto started = std::chrono::steady_clock::now();

  // What the collector sustains: agents that always keep batches in flight,
  // as many as its queue holds (so none is refused).
  LoadOptions calibrate;
  calibrate.prefix = "calibrate";
  calibrate.agents = 16;
  calibrate.series = 20;
  calibrate.max_in_flight = 4;
  calibrate.duration_s = 5;
  calibrate.closed_loop = true;
  auto load = StartLoad(dir, address, calibrate);
  ASSERT_TRUE(load.ok()) << load.status();
  json calibrated = FinishLoad(dir, *load, calibrate.prefix, 60s);
  const double sustainable = calibrated.value("acked_samples_per_s_while_producing", 0.0);
  ASSERT_GT(sustainable, 0) << calibrated;
  const int64_t baseline_rss = RssKiB(collector->pid());

  // Three times that, on the clock, for a while.
  LoadOptions overload;
  overload.prefix = "overload";
  overload.agents = 40;
  overload.series = 20;
  overload.duration_s = 10;
  overload.drain_timeout_s = 60;
  const double batches_per_s = 3 * sustainable / overload.series;
  overload.interval_ms =
      std::max<int64_t>(1, static_cast<int64_t>(overload.agents * 1000 / batches_per_s));
  const double offered = overload.agents * overload.series * 1000.0 / overload.interval_ms;
  load = StartLoad(dir, address, overload);
  ASSERT_TRUE(load.ok()) << load.status();
  int64_t peak_rss = 0;
  while (load->Running()) {
    peak_rss = std::max(peak_rss, RssKiB(collector->pid()));
    std::this_thread::sleep_for(100ms);
  }
  json report = FinishLoad(dir, *load, overload.prefix, 1s);
  const double backpressure = CounterAt(address, "plumbline_ingest_backpressure_total");
  ASSERT_EQ(collector->Stop(SIGTERM, 20s), 0) << collector->Log();

  std::printf(
      "overload: sustainable %.0f samples/s, offered %.0f samples/s (%.1fx) for %d s; collector "
      "RSS %lld KiB before, peak %lld KiB; %.0f batches refused with a retry hint (%s..%s ms); "
      "backlog drained in %s s; %.1f s\n",
      sustainable, offered, offered / sustainable, overload.duration_s,
      static_cast<long long>(baseline_rss), static_cast<long long>(peak_rss), backpressure,
      report["min_retry_after_ms"].dump().c_str(), report["max_retry_after_ms"].dump().c_str(),
      report["drain_s"].dump().c_str(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  EXPECT_GE(offered, 2.5 * sustainable);
  // Memory stays bounded: what waits is in the agents' backlogs, not in
  // the collector (a bounded queue, and streams not read while too many of
  // their batches wait).
  EXPECT_LT(peak_rss, 128 * 1024) << "collector RSS peaked at " << peak_rss << " KiB";
  // Clients were told to come back later, with the configured hint spread
  // over [0.5, 1.5) of it.
  EXPECT_GT(backpressure, 0);
  EXPECT_GT(report["retry_acks"].get<uint64_t>(), 0u) << report;
  EXPECT_GE(report["min_retry_after_ms"].get<int>(), 350) << report;
  EXPECT_LT(report["max_retry_after_ms"].get<int>(), 1050) << report;
  EXPECT_LT(report["min_retry_after_ms"], report["max_retry_after_ms"]) << report;
  EXPECT_EQ(report["unacked"], 0) << report;
  // Once the load dropped, everything arrived, once.
  ExpectExact(Verify(dir, calibrate.prefix));
  ExpectExact(Verify(dir, overload.prefix));
}

}  // namespace
}  // namespace plumbline::testing
