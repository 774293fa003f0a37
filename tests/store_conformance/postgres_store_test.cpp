// What only the PostgreSQL store promises: several collectors sharing one
// database (exactly-once across them, one maintenance at a time, rollups
// that agree with the raw data however ingest and maintenance interleave),
// migrations, and connection handling. Runs against a real server.
#include "collector/store/postgres_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

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

}  // namespace
}  // namespace plumbline::collector
