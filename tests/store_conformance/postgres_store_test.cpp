// What only the PostgreSQL store promises: several collectors sharing one
// database (exactly-once across them, one maintenance at a time, rollups
// that agree with the raw data however ingest and maintenance interleave),
// migrations, connection handling, and day versions shared by collectors.
// Runs against a real server.
#include "collector/store/postgres_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "collector/catalog/catalog.h"
#include "collector/engine/slo_engine.h"
#include "common/clock.h"
#include "tests/requests_sli.h"
#include "tests/store_conformance/postgres_server.h"

namespace plumbline::collector {
namespace {

using ::plumbline::testing::PostgresServer;

constexpr int64_t kMin = 60000;
constexpr int64_t kHour = 60 * kMin;
constexpr int64_t kHour0 = 1699999200000;

v1::Batch CounterBatch(const std::string& agent, uint64_t sequence, const LabelSet& labels,
                       const std::vector<std::pair<int64_t, double>>& points) {
  v1::Batch b;
  b.set_agent_id(agent);
  b.set_epoch(1);
  b.set_sequence(sequence);
  v1::Series* s = b.add_series();
  s->set_name("requests_total");
  s->set_type(v1::METRIC_TYPE_COUNTER);
  for (const auto& [n, v] : labels) {
    v1::Label* l = s->add_labels();
    l->set_name(n);
    l->set_value(v);
  }
  for (const auto& [offset, value] : points) {
    v1::Point* p = s->add_points();
    p->set_timestamp_ms(kHour0 + offset);
    p->set_number(value);
  }
  return b;
}

BatchWrite WriteOf(const v1::Batch& b) {
  BatchWrite w;
  w.batch = &b;
  w.series = {0};
  return w;
}

// Collects failures from worker threads (gtest assertions belong on the main thread).
class Failures {
 public:
  void Add(std::string what) {
    std::lock_guard lock(mu_);
    failures_.push_back(std::move(what));
  }
  std::vector<std::string> Get() {
    std::lock_guard lock(mu_);
    return failures_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> failures_;
};

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<PostgresServer*> server = PostgresServer::Get();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *server;
    absl::StatusOr<std::string> dsn = server_->NewSchema();
    ASSERT_TRUE(dsn.ok()) << dsn.status();
    dsn_ = *dsn;
  }

  std::unique_ptr<PostgresStore> OpenStore() {
    auto store = PostgresStore::Open(dsn_, Durability::kFull);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  std::string Query(const std::string& sql) {
    absl::StatusOr<std::string> r = server_->Query(dsn_, sql);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : "";
  }

  PostgresServer* server_ = nullptr;
  std::string dsn_;  // a schema of its own
};

TEST_F(PostgresStoreTest, TwoCollectorsWritingTheSameBatchesConcurrentlyStoreEachExactlyOnce) {
  // 300 batches of 3 agents, over 10 series per agent, written by two
  // collectors at once: one front to back in groups of 7, the other back to
  // front in groups of 5, so they meet and contend in the middle.
  constexpr int kBatches = 300;
  constexpr int kPoints = 4;
  std::vector<v1::Batch> batches;
  for (int i = 0; i < kBatches; ++i) {
    std::vector<std::pair<int64_t, double>> points;
    for (int p = 0; p < kPoints; ++p) points.emplace_back(i * 1000 + p * 100, i + p);
    batches.push_back(CounterBatch(StrCat("agent-", i % 3), static_cast<uint64_t>(i / 3 + 1),
                                   {{"shard", std::to_string(i % 10)}}, points));
  }
  std::unique_ptr<PostgresStore> first = OpenStore();
  std::unique_ptr<PostgresStore> second = OpenStore();
  ASSERT_TRUE(first && second);
  std::vector<std::atomic<int>> stored(kBatches);
  Failures failures;
  auto run = [&](PostgresStore* store, bool backwards, int group) {
    std::vector<int> order(kBatches);
    for (int i = 0; i < kBatches; ++i) order[i] = backwards ? kBatches - 1 - i : i;
    for (int start = 0; start < kBatches; start += group) {
      std::vector<int> indices(order.begin() + start,
                               order.begin() + std::min(kBatches, start + group));
      std::vector<BatchWrite> writes;
      for (int i : indices) writes.push_back(WriteOf(batches[static_cast<size_t>(i)]));
      absl::Status s = store->WriteBatches(writes);
      if (!s.ok()) {
        failures.Add(std::string(ToStd(s.message())));
        continue;
      }
      for (size_t k = 0; k < indices.size(); ++k) {
        if (writes[k].stored) {
          ++stored[static_cast<size_t>(indices[k])];
          if (writes[k].samples_written != kPoints) failures.Add("wrong samples_written");
        }
      }
    }
  };
  std::thread a(run, first.get(), false, 7);
  std::thread b(run, second.get(), true, 5);
  a.join();
  b.join();
  EXPECT_TRUE(failures.Get().empty()) << failures.Get().front();
  for (int i = 0; i < kBatches; ++i) {
    EXPECT_EQ(stored[static_cast<size_t>(i)].load(), 1) << "batch " << i;
  }
  auto agents = first->ListAgents();
  ASSERT_TRUE(agents.ok()) << agents.status();
  ASSERT_EQ(agents->size(), 3u);
  for (const AgentRecord& agent : *agents) {
    EXPECT_EQ(agent.batches, kBatches / 3u) << agent.agent_id;
    EXPECT_EQ(agent.samples, kBatches / 3u * kPoints) << agent.agent_id;
  }
  EXPECT_EQ(Query("SELECT count(*) FROM samples"), std::to_string(kBatches * kPoints));
  EXPECT_EQ(Query("SELECT count(*) FROM batches"), std::to_string(kBatches));
  EXPECT_EQ(Query("SELECT count(*) FROM series"), "30");  // 3 agents x 10 shards
  EXPECT_TRUE(first->CheckIntegrity().ok());
}

TEST_F(PostgresStoreTest, RollupsAreExactWhileTwoCollectorsIngestAndMaintainAtOnce) {
  // A counter going up by one every 10 s for two hours (720 samples, values
  // 0..719), one batch per minute. One collector writes the even minutes,
  // the other the odd ones; both run maintenance after every write with the
  // clock at their own progress, so each often rolls up minutes the other
  // has not written yet, which then arrive as late data.
  constexpr int kMinutes = 120;
  std::vector<v1::Batch> batches;
  for (int m = 0; m < kMinutes; ++m) {
    std::vector<std::pair<int64_t, double>> points;
    for (int s = 0; s < 6; ++s) points.emplace_back(m * kMin + s * 10000, m * 6 + s);
    batches.push_back(CounterBatch("a", static_cast<uint64_t>(m + 1), {{"host", "web-1"}}, points));
  }
  std::unique_ptr<PostgresStore> first = OpenStore();
  std::unique_ptr<PostgresStore> second = OpenStore();
  ASSERT_TRUE(first && second);
  Failures failures;
  std::atomic<uint64_t> late{0};
  auto run = [&](PostgresStore* store, int parity) {
    for (int m = parity; m < kMinutes; m += 2) {
      std::vector<BatchWrite> writes = {WriteOf(batches[static_cast<size_t>(m)])};
      absl::Status s = store->WriteBatches(writes);
      if (!s.ok()) failures.Add(std::string(ToStd(s.message())));
      auto report = store->RunMaintenance(kHour0 + (m + 4) * kMin, RetentionPolicy{});
      if (!report.ok()) {
        failures.Add(std::string(ToStd(report.status().message())));
      } else {
        late += report->late_minutes_recomputed;
      }
    }
  };
  std::thread a(run, first.get(), 0);
  std::thread b(run, second.get(), 1);
  a.join();
  b.join();
  ASSERT_TRUE(failures.Get().empty()) << failures.Get().front();
  // Settle everything: both collectors, until there is nothing left to do.
  for (int round = 0; round < 10; ++round) {
    auto r1 = first->RunMaintenance(kHour0 + 3 * kHour, RetentionPolicy{});
    auto r2 = second->RunMaintenance(kHour0 + 3 * kHour, RetentionPolicy{});
    ASSERT_TRUE(r1.ok() && r2.ok());
    late += r1->late_minutes_recomputed + r2->late_minutes_recomputed;
    if (r1->minutes_rolled_up + r1->late_minutes_recomputed + r2->minutes_rolled_up +
            r2->late_minutes_recomputed ==
        0) {
      break;
    }
  }
  EXPECT_EQ(Query("SELECT count(*) FROM dirty_minutes"), "0");
  RecordProperty("late_minutes_recomputed", static_cast<int>(late.load()));

  AggregateSource src;
  auto hours = first->Aggregates({"requests_total", {}}, kHour0, kHour0 + 2 * kHour, kHour, &src);
  ASSERT_TRUE(hours.ok()) << hours.status();
  ASSERT_EQ(hours->size(), 1u);
  const std::vector<Aggregate>& h = (*hours)[0].buckets;
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(src.hour_buckets, 2u);
  EXPECT_EQ(src.raw_samples, 0u);
  EXPECT_EQ(h[0].count, 360u);
  EXPECT_EQ(h[0].sum, 64620);     // 0 + 1 + ... + 359
  EXPECT_EQ(h[0].increase, 359);  // the first sample has nothing to step from
  EXPECT_EQ(h[0].first, 0);
  EXPECT_EQ(h[0].last, 359);
  EXPECT_EQ(h[1].count, 360u);
  EXPECT_EQ(h[1].sum, 194220);    // 360 + ... + 719
  EXPECT_EQ(h[1].increase, 360);  // includes 359 -> 360 across the hour boundary
  EXPECT_EQ(h[1].min, 360);
  EXPECT_EQ(h[1].max, 719);

  auto minutes = second->Aggregates({"requests_total", {}}, kHour0, kHour0 + 2 * kHour, kMin, &src);
  ASSERT_TRUE(minutes.ok());
  const std::vector<Aggregate>& m = (*minutes)[0].buckets;
  ASSERT_EQ(m.size(), 120u);
  EXPECT_EQ(src.minute_buckets, 120u);
  for (size_t i = 0; i < m.size(); ++i) {
    EXPECT_EQ(m[i].count, 6u) << "minute " << i;
    EXPECT_EQ(m[i].increase, i == 0 ? 5 : 6) << "minute " << i;
  }
}

TEST_F(PostgresStoreTest, OnlyOneCollectorRunsMaintenanceAtATime) {
  std::unique_ptr<PostgresStore> store = OpenStore();
  ASSERT_TRUE(store);
  v1::Batch b = CounterBatch("a", 1, {}, {{0, 1}, {kMin, 2}});
  std::vector<BatchWrite> w = {WriteOf(b)};
  ASSERT_TRUE(store->WriteBatches(w).ok());
  // Another collector holds the maintenance lock (as a session lock here).
  std::unique_ptr<PGconn, void (*)(PGconn*)> other(PQconnectdb(dsn_.c_str()), &PQfinish);
  ASSERT_EQ(PQstatus(other.get()), CONNECTION_OK);
  PQclear(PQexec(other.get(), "SELECT pg_advisory_lock(1347177794, 2)"));
  auto skipped = store->RunMaintenance(kHour0 + 2 * kHour, RetentionPolicy{});
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  EXPECT_EQ(skipped->minutes_rolled_up, 0u);
  EXPECT_EQ(Query("SELECT value FROM rollup_state WHERE name = 'minute_watermark'"), "0");
  PQclear(PQexec(other.get(), "SELECT pg_advisory_unlock(1347177794, 2)"));
  auto ran = store->RunMaintenance(kHour0 + 2 * kHour, RetentionPolicy{});
  ASSERT_TRUE(ran.ok()) << ran.status();
  EXPECT_EQ(ran->minutes_rolled_up, 118u);
  EXPECT_EQ(ran->hours_rolled_up, 1u);
}

TEST_F(PostgresStoreTest, CollectorsStartingTogetherMigrateOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> opened{0};
  Failures failures;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto store = PostgresStore::Open(dsn_, Durability::kFull);
      if (store.ok()) {
        ++opened;
      } else {
        failures.Add(std::string(ToStd(store.status().message())));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(opened.load(), 4) << failures.Get().front();
  EXPECT_EQ(Query("SELECT version FROM schema_version"),
            std::to_string(PostgresStore::SchemaVersion()));
  EXPECT_EQ(Query("SELECT count(*) FROM schema_version"), "1");
}

TEST_F(PostgresStoreTest, RefusesADatabaseFromANewerCollector) {
  std::unique_ptr<PostgresStore> store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->CheckIntegrity().ok());
  Query("UPDATE schema_version SET version = 999");
  absl::Status integrity = store->CheckIntegrity();
  EXPECT_EQ(integrity.code(), absl::StatusCode::kDataLoss) << integrity;
  auto newer = PostgresStore::Open(dsn_, Durability::kFull);
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(ToStd(newer.status().message())).find("newer than this collector"),
            std::string::npos)
      << newer.status();
}

TEST_F(PostgresStoreTest, AnUnreachableServerIsAClearUnavailableError) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  auto store = PostgresStore::Open(
      StrCat("host=127.0.0.1 port=", ntohs(addr.sin_port), " dbname=x user=x password=secret"),
      Durability::kFull);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
  std::string message(ToStd(store.status().message()));
  EXPECT_NE(message.find("cannot connect"), std::string::npos) << message;
  EXPECT_EQ(message.find("secret"), std::string::npos) << message;

  auto garbage = PostgresStore::Open("this is not a connection string", Durability::kFull);
  ASSERT_FALSE(garbage.ok());
}

TEST_F(PostgresStoreTest, ALostConnectionIsReestablished) {
  std::unique_ptr<PostgresStore> store = OpenStore();
  ASSERT_TRUE(store);
  v1::Batch b = CounterBatch("a", 1, {}, {{0, 1}});
  std::vector<BatchWrite> w = {WriteOf(b)};
  ASSERT_TRUE(store->WriteBatches(w).ok());
  Query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE datname = current_database() AND application_name = 'plumbline-collector'");
  // The call that finds the connection gone may fail; the next one reconnects.
  for (int i = 0; i < 50; ++i) {
    if (Query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
              "AND application_name = 'plumbline-collector'") == "0") {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto first_try = store->ListAgents();
  if (!first_try.ok()) {
    EXPECT_EQ(first_try.status().code(), absl::StatusCode::kUnavailable) << first_try.status();
  }
  auto agents = store->ListAgents();
  ASSERT_TRUE(agents.ok()) << agents.status();
  ASSERT_EQ(agents->size(), 1u);
  std::vector<BatchWrite> again = {WriteOf(b)};
  ASSERT_TRUE(store->WriteBatches(again).ok());
  EXPECT_FALSE(again[0].stored);
}

// Day versions (Store::DayVersion) on a clock the test sets: day 0 is
// 2023-11-14 (UTC), long over by the real clock, so whether a day counts as
// over is up to the fake one.
constexpr int64_t kDayMs = 24 * kHour;
constexpr int64_t kDay0 = 1699920000000;  // 2023-11-14T00:00:00Z

class PostgresDayVersionTest : public PostgresStoreTest {
 protected:
  std::unique_ptr<PostgresStore> OpenStore(const Clock& clock) {
    auto store = PostgresStore::Open(dsn_, Durability::kFull, clock);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  std::unique_ptr<PostgresStore> OpenStore() { return OpenStore(clock_); }

  // One batch of one counter series, at absolute times.
  void Write(PostgresStore& store, const std::string& name, const LabelSet& labels,
             const std::vector<std::pair<int64_t, double>>& points) {
    v1::Batch b;
    b.set_agent_id("a");
    b.set_epoch(1);
    b.set_sequence(++sequence_);
    v1::Series* s = b.add_series();
    s->set_name(name);
    s->set_type(v1::METRIC_TYPE_COUNTER);
    for (const auto& [n, v] : labels) {
      v1::Label* l = s->add_labels();
      l->set_name(n);
      l->set_value(v);
    }
    for (const auto& [ts, value] : points) {
      v1::Point* p = s->add_points();
      p->set_timestamp_ms(ts);
      p->set_number(value);
    }
    std::vector<BatchWrite> w = {WriteOf(b)};
    absl::Status written = store.WriteBatches(w);
    ASSERT_TRUE(written.ok()) << written;
    ASSERT_TRUE(w[0].stored);
  }

  static void Settle(PostgresStore& store, int64_t now_ms,
                     const RetentionPolicy& retention = RetentionPolicy{}) {
    for (int i = 0; i < 200; ++i) {
      auto r = store.RunMaintenance(now_ms, retention);
      ASSERT_TRUE(r.ok()) << r.status();
      if (r->minutes_rolled_up + r->late_minutes_recomputed == 0) return;
    }
  }

  // Polls `done` until it holds or `within` has passed; how long it took.
  template <typename Done>
  static std::optional<std::chrono::milliseconds> Within(std::chrono::milliseconds within,
                                                         Done done) {
    const auto start = std::chrono::steady_clock::now();
    while (!done()) {
      if (std::chrono::steady_clock::now() - start > within) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start);
  }

  // A counter sample every 10 minutes from day 0 - 1h to day 4 + 2h:
  // requests grow 100 per sample; errors 1 per sample of day 1 only.
  void WriteFourDays(PostgresStore& store) {
    std::vector<std::pair<int64_t, double>> requests, errors;
    double e = 0;
    int k = 0;
    for (int64_t ts = kDay0 - kHour; ts <= kDay0 + 4 * kDayMs + 2 * kHour; ts += 10 * kMin, ++k) {
      if (ts >= kDay0 + kDayMs && ts < kDay0 + 2 * kDayMs) e += 1;
      requests.emplace_back(ts, 100.0 * k);
      errors.emplace_back(ts, e);
      samples_.push_back(ts);
    }
    Write(store, "requests_total", {}, requests);
    Write(store, "errors_total", {}, errors);
  }
  double RequestsIn(int64_t from, int64_t to) const {
    double n = 0;
    for (int64_t ts : samples_) n += ts >= from && ts < to ? 100 : 0;
    return n;
  }
  static double Good(PostgresStore& store, int64_t from, int64_t to) {
    auto c = EvaluateSli(store, RequestsSli(), from, to);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? c->good : -1;
  }

  FakeClock clock_;
  uint64_t sequence_ = 0;
  std::vector<int64_t> samples_;
};

TEST_F(PostgresDayVersionTest, OnlyDaysThatEndedHalfAnHourAgoAreTracked) {
  clock_.Set(kDay0 + kDayMs + 29 * kMin);
  std::unique_ptr<PostgresStore> store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_FALSE(store->DayVersion(kDay0).has_value());           // ended 29 minutes ago
  EXPECT_FALSE(store->DayVersion(kDay0 + kDayMs).has_value());  // today
  EXPECT_FALSE(store->DayVersion(kDay0 + 5 * kDayMs).has_value());
  EXPECT_EQ(store->DayVersion(kDay0 - kDayMs), 0u);  // no change recorded: 0
  clock_.Set(kDay0 + kDayMs + 30 * kMin);
  EXPECT_EQ(store->DayVersion(kDay0), 0u);
  EXPECT_EQ(store->DayVersion(kDay0 + 13 * kHour), 0u);  // any time of the day
  EXPECT_FALSE(store->DayVersion(kDay0 + kDayMs).has_value());
}

TEST_F(PostgresDayVersionTest, OnTimeIngestWritesNoVersionsOnlyLateDataDoes) {
  std::unique_ptr<PostgresStore> store = OpenStore();
  ASSERT_TRUE(store);
  // Noon's samples at noon, rolled up on time.
  clock_.Set(kDay0 + 12 * kHour + kMin);
  Write(*store, "requests_total", {}, {{kDay0 + 11 * kHour, 1}, {kDay0 + 12 * kHour, 2}});
  Settle(*store, clock_.NowMs());
  // Ten minutes after midnight: a sample from 23:55 (spooled, or a clock a
  // little behind), and one from 11:30, already rolled up, so its minutes
  // are recomputed. The day ended too recently for any reader to keep it.
  clock_.Set(kDay0 + kDayMs + 10 * kMin);
  Write(*store, "requests_total", {},
        {{kDay0 + 11 * kHour + 30 * kMin, 3}, {kDay0 + kDayMs - 5 * kMin, 4}});
  Write(*store, "requests_total", {}, {{kDay0 + kDayMs + 5 * kMin, 5}});
  Settle(*store, clock_.NowMs());
  EXPECT_EQ(Query("SELECT count(*) FROM dirty_minutes"), "0");
  EXPECT_EQ(Query("SELECT count(*) FROM day_changes"), "0");

  // Fifteen minutes after midnight, yesterday's samples are late data: the
  // day gets a version (today, which the 23:50 sample's step reaches, not).
  clock_.Set(kDay0 + kDayMs + 15 * kMin);
  Write(*store, "requests_total", {}, {{kDay0 + kDayMs - 10 * kMin, 6}});
  EXPECT_EQ(Query("SELECT count(*) FROM day_changes"), "1");
  EXPECT_EQ(Query("SELECT day FROM day_changes"), std::to_string(kDay0));
}

TEST_F(PostgresDayVersionTest, ALateWriteMovesTheVersionAtOnceHereAndWithinASecondElsewhere) {
  clock_.Set(kDay0 + 3 * kDayMs + kHour);
  std::unique_ptr<PostgresStore> a = OpenStore();
  std::unique_ptr<PostgresStore> b = OpenStore();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->DayVersion(kDay0), 0u);
  EXPECT_EQ(b->DayVersion(kDay0), 0u);  // b's copy is read now
  // A sample in the last 15 minutes of day 0 moves day 1 too: the next
  // sample's counter step starts from it.
  Write(*a, "requests_total", {}, {{kDay0 + kDayMs - 5 * kMin, 1}});
  const std::optional<uint64_t> v0 = a->DayVersion(kDay0);
  const std::optional<uint64_t> v1 = a->DayVersion(kDay0 + kDayMs);
  ASSERT_TRUE(v0 && v1);
  EXPECT_NE(*v0, 0u);
  EXPECT_NE(*v1, 0u);
  EXPECT_NE(*v0, *v1);
  EXPECT_EQ(a->DayVersion(kDay0 + 2 * kDayMs), 0u);
  EXPECT_EQ(a->DayVersion(kDay0 - kDayMs), 0u);

  std::optional<std::chrono::milliseconds> took =
      Within(std::chrono::seconds(3), [&] { return b->DayVersion(kDay0) == v0; });
  ASSERT_TRUE(took.has_value()) << "collector b still reports " << b->DayVersion(kDay0).value_or(0);
  EXPECT_LT(took->count(), 2000);  // the copy is refreshed once it is a second old
  EXPECT_EQ(b->DayVersion(kDay0 + kDayMs), v1);
  RecordProperty("other_collector_saw_it_ms", static_cast<int>(took->count()));
  std::printf("collector b saw a's late write after %lld ms\n",
              static_cast<long long>(took->count()));

  // Through b now: b at once, a within a second.
  Write(*b, "requests_total", {}, {{kDay0 + 12 * kHour, 0}});
  const std::optional<uint64_t> v0_again = b->DayVersion(kDay0);
  ASSERT_TRUE(v0_again.has_value());
  EXPECT_NE(*v0_again, *v0);
  EXPECT_EQ(b->DayVersion(kDay0 + kDayMs), v1);
  EXPECT_TRUE(Within(std::chrono::seconds(3), [&] { return a->DayVersion(kDay0) == v0_again; }));
}

TEST_F(PostgresDayVersionTest, RetentionEndsTrackingForEveryCollector) {
  clock_.Set(kDay0 + 3 * kDayMs);
  std::unique_ptr<PostgresStore> a = OpenStore();
  std::unique_ptr<PostgresStore> b = OpenStore();
  ASSERT_TRUE(a && b);
  Write(*a, "requests_total", {}, {{kDay0 + kHour, 1}, {kDay0 + kDayMs + kHour, 2}});
  EXPECT_EQ(Query("SELECT count(*) FROM day_changes"), "2");
  ASSERT_TRUE(b->DayVersion(kDay0).has_value());
  // Hour rollups kept for 2.5 days: day 0 goes, day 1 stays.
  RetentionPolicy short_lived{kDayMs, kDayMs, 2 * kDayMs + 12 * kHour};
  Settle(*a, clock_.NowMs(), short_lived);
  EXPECT_FALSE(a->DayVersion(kDay0).has_value());
  EXPECT_TRUE(a->DayVersion(kDay0 + kDayMs).has_value());
  EXPECT_EQ(Query("SELECT day FROM day_changes"), std::to_string(kDay0 + kDayMs));
  // b runs no retention of its own; it reads the cutoff with the versions.
  EXPECT_TRUE(Within(std::chrono::seconds(3), [&] { return !b->DayVersion(kDay0).has_value(); }));
  EXPECT_TRUE(b->DayVersion(kDay0 + kDayMs).has_value());
}

TEST_F(PostgresDayVersionTest, DaysKeptByOneCollectorAreRecomputedAfterALateWriteThroughAnother) {
  // Nothing rolled up: every question reads raw samples, so only the late
  // write's own version tells b that day 2 changed.
  clock_.Set(kDay0 + 5 * kDayMs);
  std::unique_ptr<PostgresStore> a = OpenStore();
  std::unique_ptr<PostgresStore> b = OpenStore();
  ASSERT_TRUE(a && b);
  WriteFourDays(*a);
  const int64_t from = kDay0 + 5 * kMin, to = kDay0 + 4 * kDayMs + kHour;
  const double valid = RequestsIn(from, to);
  EXPECT_DOUBLE_EQ(Good(*b, from, to), valid - 144);
  EXPECT_EQ(b->day_cache().Stats().entries, 6u);  // 3 whole days x (valid, bad)
  const DayCacheStats cold = b->day_cache().Stats();
  EXPECT_DOUBLE_EQ(Good(*b, from, to), valid - 144);
  EXPECT_EQ(b->day_cache().Stats().hits - cold.hits, 6u);
  EXPECT_DOUBLE_EQ(Good(*a, from, to), valid - 144);  // a keeps the days too
  const DayCacheStats warm = b->day_cache().Stats();

  // Late errors of another shard on day 2, through a.
  Write(*a, "errors_total", {{"shard", "2"}},
        {{kDay0 + 2 * kDayMs + kHour, 0}, {kDay0 + 2 * kDayMs + kHour + 10 * kMin, 50}});
  EXPECT_DOUBLE_EQ(Good(*a, from, to), valid - 144 - 50);  // at once
  std::optional<std::chrono::milliseconds> took =
      Within(std::chrono::seconds(3), [&] { return Good(*b, from, to) == valid - 144 - 50; });
  ASSERT_TRUE(took.has_value()) << "b still answers " << Good(*b, from, to);
  EXPECT_LT(took->count(), 2000);
  // Only day 2 was read again (its valid and its bad counts, perhaps in
  // two calls): days 1 and 3 still come from the cache.
  EXPECT_DOUBLE_EQ(Good(*b, from, to), valid - 144 - 50);
  EXPECT_EQ(b->day_cache().Stats().misses - warm.misses, 2u);
  const DayCacheStats late = b->day_cache().Stats();
  EXPECT_DOUBLE_EQ(Good(*b, from, to), valid - 144 - 50);
  EXPECT_EQ(b->day_cache().Stats().hits - late.hits, 6u);
}

TEST_F(PostgresDayVersionTest, DaysKeptFromRollupsAreRecomputedOnceLateMinutesAre) {
  clock_.Set(kDay0 + 5 * kDayMs);
  std::unique_ptr<PostgresStore> a = OpenStore();
  std::unique_ptr<PostgresStore> b = OpenStore();
  ASSERT_TRUE(a && b);
  WriteFourDays(*a);
  Settle(*a, clock_.NowMs());
  const int64_t from = kDay0 + 5 * kMin, to = kDay0 + 4 * kDayMs + kHour;
  const double valid = RequestsIn(from, to);
  EXPECT_DOUBLE_EQ(Good(*b, from, to), valid - 144);

  // Late errors on day 2, in minutes already rolled up: the write moves day
  // 2, but queries read the rollups from before it until maintenance
  // recomputes them. Asked in between, b keeps day 2 as it is then...
  const std::optional<uint64_t> before = b->DayVersion(kDay0 + 2 * kDayMs);
  Write(*a, "errors_total", {{"shard", "2"}},
        {{kDay0 + 2 * kDayMs + kHour, 0}, {kDay0 + 2 * kDayMs + kHour + 10 * kMin, 50}});
  ASSERT_TRUE(
      Within(std::chrono::seconds(3), [&] { return b->DayVersion(kDay0 + 2 * kDayMs) != before; }));
  EXPECT_DOUBLE_EQ(Good(*b, from, to), valid - 144);
  EXPECT_DOUBLE_EQ(Good(*a, from, to), valid - 144);
  // ... and computes it again once the minutes are recomputed.
  Settle(*a, clock_.NowMs() + kMin);
  EXPECT_EQ(Query("SELECT count(*) FROM dirty_minutes"), "0");
  EXPECT_DOUBLE_EQ(Good(*a, from, to), valid - 144 - 50);  // at once
  EXPECT_TRUE(
      Within(std::chrono::seconds(3), [&] { return Good(*b, from, to) == valid - 144 - 50; }))
      << "b still answers " << Good(*b, from, to);
}

TEST_F(PostgresDayVersionTest, MigratesADatabaseFromBeforeDayVersionsKeepingItsData) {
  ASSERT_TRUE(PostgresStore::MigrateToForTesting(dsn_, 2).ok());
  EXPECT_EQ(Query("SELECT version FROM schema_version"), "2");
  EXPECT_EQ(Query("SELECT to_regclass('day_changes') IS NULL"), "t");
  Query(
      "INSERT INTO agents (agent_id, hostname, first_seen_ms, last_seen_ms) "
      "VALUES ('old', 'web-1', 1, 2)");
  clock_.Set(kDay0 + 3 * kDayMs);
  std::unique_ptr<PostgresStore> store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_EQ(Query("SELECT version FROM schema_version"),
            std::to_string(PostgresStore::SchemaVersion()));
  EXPECT_TRUE(store->CheckIntegrity().ok());
  auto agents = store->ListAgents();
  ASSERT_TRUE(agents.ok()) << agents.status();
  ASSERT_EQ(agents->size(), 1u);
  EXPECT_EQ((*agents)[0].hostname, "web-1");
  EXPECT_EQ(store->DayVersion(kDay0), 0u);
  Write(*store, "requests_total", {}, {{kDay0 + kHour, 1}});
  EXPECT_NE(store->DayVersion(kDay0), 0u);
}

TEST_F(PostgresDayVersionTest, MigratesAnEmptyDatabaseToTheCurrentSchema) {
  clock_.Set(kDay0 + 3 * kDayMs);
  std::unique_ptr<PostgresStore> store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_EQ(Query("SELECT version FROM schema_version"),
            std::to_string(PostgresStore::SchemaVersion()));
  EXPECT_EQ(Query("SELECT count(*) FROM day_changes"), "0");
  EXPECT_EQ(Query("SELECT value FROM rollup_state WHERE name = 'hour_cutoff'"),
            "-9223372036854775808");
  EXPECT_EQ(store->DayVersion(kDay0), 0u);
  Write(*store, "requests_total", {}, {{kDay0 + kHour, 1}});
  EXPECT_NE(store->DayVersion(kDay0), 0u);
}

// Not a benchmark: a figure for the commit. 30 days of 10 hosts' counters,
// rolled up; the SLI over the 30 whole days with days untracked (as every
// question was on PostgreSQL before day versions) and with them kept.
TEST_F(PostgresDayVersionTest, ThirtyWholeDaysAreReadOnceThenKept) {
  clock_.Set(kDay0 + 31 * kDayMs);
  std::unique_ptr<PostgresStore> store = OpenStore();
  // A store whose clock says the days are not over yet tracks none of them.
  FakeClock before_days(kDay0);
  std::unique_ptr<PostgresStore> untracked = OpenStore(before_days);
  ASSERT_TRUE(store && untracked);
  for (int host = 0; host < 10; ++host) {
    std::vector<std::pair<int64_t, double>> requests, errors;
    int k = 0;
    for (int64_t ts = kDay0; ts < kDay0 + 30 * kDayMs; ts += 10 * kMin, ++k) {
      requests.emplace_back(ts, 100.0 * k);
      errors.emplace_back(ts, k / 100);
    }
    Write(*store, "requests_total", {{"host", StrCat("web-", host)}}, requests);
    Write(*store, "errors_total", {{"host", StrCat("web-", host)}}, errors);
  }
  Settle(*store, clock_.NowMs());
  const int64_t from = kDay0, to = kDay0 + 30 * kDayMs;
  auto time_ms = [&](PostgresStore& s) {
    const auto start = std::chrono::steady_clock::now();
    auto c = EvaluateSli(s, RequestsSli(), from, to);
    EXPECT_TRUE(c.ok()) << c.status();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  };
  double untracked_ms = 0;
  for (int i = 0; i < 3; ++i) untracked_ms += time_ms(*untracked) / 3;
  const double first_ms = time_ms(*store);
  double kept_ms = 0;
  for (int i = 0; i < 3; ++i) kept_ms += time_ms(*store) / 3;
  EXPECT_DOUBLE_EQ(Good(*store, from, to), Good(*untracked, from, to));
  EXPECT_EQ(untracked->day_cache().Stats().entries, 0u);
  EXPECT_EQ(store->day_cache().Stats().entries, 60u);
  std::printf("SLI over 30 whole days, 20 series: untracked %.1f ms, first %.1f ms, kept %.2f ms\n",
              untracked_ms, first_ms, kept_ms);
  RecordProperty("untracked_ms", static_cast<int>(untracked_ms));
  RecordProperty("first_ms", static_cast<int>(first_ms));
  RecordProperty("kept_us", static_cast<int>(kept_ms * 1000));
}

}  // namespace
}  // namespace plumbline::collector
