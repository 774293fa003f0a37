#include "collector/store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"

namespace plumbline::collector {
namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("plumbline_store_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "c.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static v1::Batch MakeBatch(uint64_t seq, double value) {
    v1::Batch b;
    b.set_agent_id("agent-1");
    b.set_epoch(42);
    b.set_sequence(seq);
    v1::Series* s = b.add_series();
    s->set_name("host_memory_used_bytes");
    s->set_type(v1::METRIC_TYPE_GAUGE);
    auto* l = s->add_labels();
    l->set_name("host");
    l->set_value("h1");
    auto* p = s->add_points();
    p->set_timestamp_ms(1700000000000 + static_cast<int64_t>(seq) * 1000);
    p->set_number(value);
    return b;
  }

  // Writes batches of these sequences as one group, each received at
  // received_ms (no series: only their identities matter); which of them
  // were stored.
  static std::vector<bool> Claim(SqliteStore& store, const std::vector<uint64_t>& sequences,
                                 int64_t received_ms = 0) {
    std::vector<v1::Batch> batches;
    for (uint64_t seq : sequences) batches.push_back(MakeBatch(seq, 1));
    std::vector<BatchWrite> w(batches.size());
    for (size_t i = 0; i < batches.size(); ++i) {
      w[i].batch = &batches[i];
      w[i].received_ms = received_ms;
    }
    const absl::Status s = store.WriteBatches(w);
    EXPECT_TRUE(s.ok()) << s;
    std::vector<bool> stored;
    for (const BatchWrite& write : w) stored.push_back(write.stored);
    return stored;
  }

  // The rows `sql` selects from the store's file, columns joined by ","
  // and rows by " ".
  std::string Query(const char* sql) const {
    sqlite3* db = nullptr;
    std::string out;
    if (sqlite3_open(path_.c_str(), &db) == SQLITE_OK) {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
          if (!out.empty()) out += " ";
          for (int c = 0; c < sqlite3_column_count(st); ++c) {
            if (c > 0) out += ",";
            const unsigned char* text = sqlite3_column_text(st, c);
            out += text == nullptr ? "NULL" : reinterpret_cast<const char*>(text);
          }
        }
      } else {
        out = sqlite3_errmsg(db);
      }
      sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return out;
  }
  // Agent-1's ranges of epoch 42 as first-last.
  std::string Ranges() const {
    return Query(
        "SELECT first_sequence || '-' || last_sequence FROM batch_ranges "
        "WHERE agent_id = 'agent-1' AND epoch = 42 ORDER BY first_sequence");
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(SqliteStoreTest, StoresABatchOnceAndReportsTheRepeatAsDuplicate) {
  auto store = SqliteStore::Open(path_, Durability::kFull);
  ASSERT_TRUE(store.ok()) << store.status();
  v1::Batch b = MakeBatch(1, 100);
  std::vector<BatchWrite> w(2);
  w[0].batch = &b;
  w[0].series = {0};
  w[1].batch = &b;  // the same identity twice in one group
  w[1].series = {0};
  ASSERT_TRUE((*store)->WriteBatches(w).ok());
  EXPECT_TRUE(w[0].stored);
  EXPECT_EQ(w[0].samples_written, 1u);
  EXPECT_FALSE(w[1].stored);

  auto agents = (*store)->ListAgents();
  ASSERT_TRUE(agents.ok());
  ASSERT_EQ(agents->size(), 1u);
  EXPECT_EQ((*agents)[0].batches, 1u);
  EXPECT_EQ((*agents)[0].samples, 1u);
}

TEST_F(SqliteStoreTest, DeduplicationSurvivesAReopen) {
  v1::Batch b = MakeBatch(1, 100);
  {
    auto store = SqliteStore::Open(path_, Durability::kFull);
    ASSERT_TRUE(store.ok());
    std::vector<BatchWrite> w(1);
    w[0].batch = &b;
    w[0].series = {0};
    ASSERT_TRUE((*store)->WriteBatches(w).ok());
  }
  auto store = SqliteStore::Open(path_, Durability::kFull);
  ASSERT_TRUE(store.ok());
  std::vector<BatchWrite> w(1);
  w[0].batch = &b;
  w[0].series = {0};
  ASSERT_TRUE((*store)->WriteBatches(w).ok());
  EXPECT_FALSE(w[0].stored);
  EXPECT_TRUE((*store)->CheckIntegrity().ok());
}

TEST_F(SqliteStoreTest, IdentitiesArriveOutOfOrderAndConsecutiveOnesBecomeOneRange) {
  auto store = SqliteStore::Open(path_, Durability::kRelaxed);
  ASSERT_TRUE(store.ok()) << store.status();
  SqliteStore& s = **store;
  EXPECT_EQ(Claim(s, {1, 2}, 10), (std::vector<bool>{true, true}));
  EXPECT_EQ(Ranges(), "1-2");
  EXPECT_EQ(Claim(s, {5}, 30), (std::vector<bool>{true}));
  EXPECT_EQ(Ranges(), "1-2 5-5");
  // Received before 5 was (a retry): the range keeps its newest batch's time.
  EXPECT_EQ(Claim(s, {4}, 20), (std::vector<bool>{true}));
  EXPECT_EQ(Ranges(), "1-2 4-5");
  EXPECT_EQ(Claim(s, {3}, 25), (std::vector<bool>{true}));
  EXPECT_EQ(Query("SELECT first_sequence, last_sequence, received_ms FROM batch_ranges"), "1,5,30");
  EXPECT_EQ(Claim(s, {1, 2, 3, 4, 5}, 40), (std::vector<bool>(5, false)));
  EXPECT_EQ(Query("SELECT first_sequence, last_sequence, received_ms FROM batch_ranges"), "1,5,30");
  // A gap makes a second range; filling it merges the two.
  EXPECT_EQ(Claim(s, {7}, 50), (std::vector<bool>{true}));
  EXPECT_EQ(Ranges(), "1-5 7-7");
  EXPECT_EQ(Claim(s, {6}, 60), (std::vector<bool>{true}));
  EXPECT_EQ(Ranges(), "1-7");
  // Out of order and repeated within one group.
  EXPECT_EQ(Claim(s, {10, 9, 10, 8, 12}, 70), (std::vector<bool>{true, true, false, true, true}));
  EXPECT_EQ(Ranges(), "1-10 12-12");
  auto agents = s.ListAgents();
  ASSERT_TRUE(agents.ok());
  ASSERT_EQ(agents->size(), 1u);
  EXPECT_EQ((*agents)[0].batches, 11u);
  EXPECT_TRUE(s.CheckIntegrity().ok());
}

TEST_F(SqliteStoreTest, RangesOfIdentitiesSurviveAReopen) {
  {
    auto store = SqliteStore::Open(path_, Durability::kFull);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ(Claim(**store, {1, 2, 3, 5}), (std::vector<bool>(4, true)));
  }
  auto store = SqliteStore::Open(path_, Durability::kFull);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(Claim(**store, {5, 3, 2, 1, 4}), (std::vector<bool>{false, false, false, false, true}));
  EXPECT_EQ(Ranges(), "1-5");
}

TEST_F(SqliteStoreTest, RetentionDropsARangeOnlyOnceItsNewestBatchIsPastTheCutoff) {
  constexpr int64_t kDay = 86400000;
  constexpr int64_t kT0 = 1700000000000;
  auto store = SqliteStore::Open(path_, Durability::kRelaxed);
  ASSERT_TRUE(store.ok()) << store.status();
  SqliteStore& s = **store;
  EXPECT_EQ(Claim(s, {1, 2, 3, 10}, kT0), (std::vector<bool>(4, true)));
  EXPECT_EQ(Claim(s, {11}, kT0 + 2 * kDay), (std::vector<bool>{true}));
  EXPECT_EQ(Ranges(), "1-3 10-11");
  // Identities are kept 8 days (more than the 7 days of raw samples): the
  // cutoff is a day after kT0.
  ASSERT_TRUE(s.RunMaintenance(kT0 + 9 * kDay, {}).ok());
  EXPECT_EQ(Ranges(), "10-11");
  // 10 is as old as 1-3 but shares its range with a recent batch.
  EXPECT_EQ(Claim(s, {3, 10, 11, 1, 2}, kT0 + 9 * kDay),
            (std::vector<bool>{true, false, false, true, true}));
  EXPECT_EQ(Ranges(), "1-3 10-11");
}

TEST_F(SqliteStoreTest, MigratesSchema6BatchRowsIntoRangesThatStillDeduplicate) {
  ASSERT_TRUE(SqliteStore::MigrateToForTesting(path_, 6).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  // agent-1 epoch 42: 1-3 and 5-6 (4 missing); its epoch 41 and another
  // agent in between.
  const char* rows = R"sql(
    INSERT INTO batches (agent_id, epoch, sequence, received_ms, samples) VALUES
      ('agent-1', 42, 1, 100, 103), ('agent-1', 42, 2, 300, 103), ('agent-1', 42, 3, 200, 103),
      ('agent-1', 42, 5, 400, 103), ('agent-1', 42, 6, 500, 103),
      ('agent-1', 41, 7, 50, 103), ('agent-1', 41, 8, 60, 103),
      ('agent-2', 42, 4, 70, 103);
  )sql";
  ASSERT_EQ(sqlite3_exec(db, rows, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);

  auto store = SqliteStore::Open(path_, Durability::kFull);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(Query("SELECT agent_id, epoch, first_sequence, last_sequence, received_ms "
                  "FROM batch_ranges ORDER BY 1, 2, 3"),
            "agent-1,41,7,8,60 agent-1,42,1,3,300 agent-1,42,5,6,500 agent-2,42,4,4,70");
  EXPECT_EQ(Query("SELECT count(*) FROM sqlite_schema WHERE name = 'batches'"), "0");
  EXPECT_EQ(Claim(**store, {1, 2, 3, 5, 6, 4, 7}),
            (std::vector<bool>{false, false, false, false, false, true, true}));
  EXPECT_EQ(Ranges(), "1-7");
  EXPECT_TRUE((*store)->CheckIntegrity().ok());
}

TEST_F(SqliteStoreTest, TenThousandBatchesOfOneEpochTakeOneRow) {
  auto store = SqliteStore::Open(path_, Durability::kRelaxed);
  ASSERT_TRUE(store.ok()) << store.status();
  // Groups of 100, each in reverse order (several in flight, answered in
  // any order): ranges grow down and merge.
  for (uint64_t group = 0; group < 100; ++group) {
    std::vector<uint64_t> sequences;
    for (uint64_t seq = group * 100 + 100; seq > group * 100; --seq) sequences.push_back(seq);
    ASSERT_EQ(Claim(**store, sequences), std::vector<bool>(100, true)) << group;
  }
  EXPECT_EQ(Query("SELECT count(*) FROM batch_ranges"), "1");
  EXPECT_EQ(Ranges(), "1-10000");
  auto agents = (*store)->ListAgents();
  ASSERT_TRUE(agents.ok());
  ASSERT_EQ(agents->size(), 1u);
  EXPECT_EQ((*agents)[0].batches, 10000u);
}

TEST_F(SqliteStoreTest, OnlyValidatedSeriesAreStored) {
  auto store = SqliteStore::Open(path_, Durability::kRelaxed);
  ASSERT_TRUE(store.ok());
  v1::Batch b = MakeBatch(1, 100);
  *b.add_series() = b.series(0);
  b.mutable_series(1)->set_name("not_validated");
  std::vector<BatchWrite> w(1);
  w[0].batch = &b;
  w[0].series = {0};
  ASSERT_TRUE((*store)->WriteBatches(w).ok());
  auto found = (*store)->QuerySeries({"not_validated", {}, 0, INT64_MAX, 0});
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(found->empty());
}

TEST_F(SqliteStoreTest, LatestSamplesAndQuerySeriesReturnStoredValues) {
  auto store = SqliteStore::Open(path_, Durability::kFull);
  ASSERT_TRUE(store.ok());
  v1::AgentInfo info;
  info.set_agent_id("agent-1");
  info.set_hostname("h1");
  info.set_version("0.1.0");
  ASSERT_TRUE((*store)->UpsertAgent(info, 5).ok());
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    v1::Batch b = MakeBatch(seq, 100.0 * static_cast<double>(seq));
    std::vector<BatchWrite> w(1);
    w[0].batch = &b;
    w[0].series = {0};
    w[0].received_ms = 10 + static_cast<int64_t>(seq);
    ASSERT_TRUE((*store)->WriteBatches(w).ok());
  }
  auto latest = (*store)->LatestSamples("agent-1", {"host_memory_used_bytes", "absent"});
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 1u);
  EXPECT_EQ((*latest)[0].value, 300);
  EXPECT_EQ((*latest)[0].timestamp_ms, 1700000003000);
  EXPECT_EQ((*latest)[0].labels, (LabelSet{{"host", "h1"}}));

  auto series = (*store)->QuerySeries(
      {"host_memory_used_bytes", {{"host", "h1"}}, 1700000001500, 1700000003000, 0});
  ASSERT_TRUE(series.ok());
  ASSERT_EQ(series->size(), 1u);
  EXPECT_EQ((*series)[0].values, (std::vector<double>{200, 300}));

  auto agents = (*store)->ListAgents();
  ASSERT_EQ(agents->size(), 1u);
  EXPECT_EQ((*agents)[0].hostname, "h1");
  EXPECT_EQ((*agents)[0].first_seen_ms, 5);
  EXPECT_EQ((*agents)[0].last_seen_ms, 13);
  EXPECT_EQ((*agents)[0].last_sequence, 3u);
}

TEST_F(SqliteStoreTest, MigratesAnEmptyFileToTheCurrentSchema) {
  {
    auto store = SqliteStore::Open(path_, Durability::kFull);
    ASSERT_TRUE(store.ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), SqliteStore::SchemaVersion());
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(SqliteStoreTest, RefusesAFileFromANewerCollector) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA user_version=999", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto store = SqliteStore::Open(path_, Durability::kFull);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SqliteStoreTest, UnwritablePathIsAClearError) {
  auto store = SqliteStore::Open("/nonexistent/dir/c.db", Durability::kFull);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(std::string(store.status().message()).find("/nonexistent/dir/c.db"), std::string::npos);
}

}  // namespace
}  // namespace plumbline::collector

namespace plumbline::collector {
namespace {

// Rollups and aggregates, with values computed by hand.
class SqliteRollupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("plumbline_rollup_" + std::to_string(::getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db"))
                .string();
    std::filesystem::remove(path_);
    auto s = SqliteStore::Open(path_, Durability::kRelaxed);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);
  }

  // Writes one batch with one series and the given (offset ms from hour, value) points.
  void Write(const std::string& name, v1::MetricType type,
             const std::vector<std::pair<int64_t, double>>& points) {
    v1::Batch b;
    b.set_agent_id("a");
    b.set_epoch(1);
    b.set_sequence(++sequence_);
    v1::Series* s = b.add_series();
    s->set_name(name);
    s->set_type(type);
    auto* l = s->add_labels();
    l->set_name("host");
    l->set_value("web-1");
    for (const auto& [offset, value] : points) {
      auto* p = s->add_points();
      p->set_timestamp_ms(kHour0 + offset);
      p->set_number(value);
    }
    std::vector<BatchWrite> w(1);
    w[0].batch = &b;
    w[0].series = {0};
    ASSERT_TRUE(store_->WriteBatches(w).ok());
  }

  // 50 counters stepping by small amounts and 50 gauges with two decimals,
  // every 10 s from kHour0 for `span` ms, one batch of all series per point
  // in time (as agents send them).
  void WriteHostMix(int64_t span) {
    for (int64_t t = 0; t < span; t += 10000) {
      v1::Batch b;
      b.set_agent_id("a");
      b.set_epoch(1);
      b.set_sequence(++sequence_);
      std::vector<BatchWrite> w(1);
      w[0].batch = &b;
      for (int i = 0; i < 100; ++i) {
        v1::Series* s = b.add_series();
        s->set_name(i < 50 ? "node_cpu_seconds_total" : "node_memory_ratio");
        s->set_type(i < 50 ? v1::METRIC_TYPE_COUNTER : v1::METRIC_TYPE_GAUGE);
        auto* l = s->add_labels();
        l->set_name("n");
        l->set_value(std::to_string(i));
        auto* p = s->add_points();
        p->set_timestamp_ms(kHour0 + t);
        p->set_number(i < 50 ? static_cast<double>(1000 * i + (t / 10000) * (i % 7 + 1))
                             : std::round(100 * (0.5 + 0.3 * std::sin(t / 60000.0 + i))) / 100);
        w[0].series.push_back(i);
      }
      ASSERT_TRUE(store_->WriteBatches(w).ok());
    }
  }

  // One batch of ten series ("n" = 0..9) with one point each.
  void WriteTen(uint64_t sequence, const std::string& name, int64_t ts, double value) {
    v1::Batch b;
    b.set_agent_id("a");
    b.set_epoch(1);
    b.set_sequence(sequence);
    std::vector<BatchWrite> w(1);
    w[0].batch = &b;
    for (int i = 0; i < 10; ++i) {
      v1::Series* s = b.add_series();
      s->set_name(name);
      s->set_type(v1::METRIC_TYPE_GAUGE);
      auto* l = s->add_labels();
      l->set_name("n");
      l->set_value(std::to_string(i));
      auto* p = s->add_points();
      p->set_timestamp_ms(ts);
      p->set_number(value);
      w[0].series.push_back(i);
    }
    ASSERT_TRUE(store_->WriteBatches(w).ok());
  }

  std::vector<Aggregate> Buckets(const std::string& name, int64_t from, int64_t to, int64_t step,
                                 AggregateSource* source = nullptr) {
    auto got = store_->Aggregates({name, {}}, kHour0 + from, kHour0 + to, step, source);
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok() || got->empty()) return {};
    EXPECT_EQ(got->size(), 1u);
    return (*got)[0].buckets;
  }

  static constexpr int64_t kHour0 = 1699999200000;  // 2023-11-14T22:00:00Z, a whole hour
  static constexpr int64_t kMin = 60000;
  std::string path_;
  std::unique_ptr<SqliteStore> store_;
  uint64_t sequence_ = 0;
};

TEST_F(SqliteRollupTest, CounterIncreaseIsResetAwareAndCrossesBucketBoundaries) {
  // Minute 0: 10, 15, then a reset to 5. Minute 1: 8.
  // Increase in minute 0: (15-10) + 5 (reset: the new value) = 10; minute 1: 8-5 = 3.
  Write("requests_total", v1::METRIC_TYPE_COUNTER, {{0, 10}, {20000, 15}, {40000, 5}, {60000, 8}});
  AggregateSource src;
  auto raw = Buckets("requests_total", 0, 2 * kMin, kMin, &src);
  ASSERT_EQ(raw.size(), 2u);
  EXPECT_EQ(raw[0].increase, 10);
  EXPECT_EQ(raw[1].increase, 3);
  EXPECT_EQ(raw[0].count, 3u);
  EXPECT_EQ(raw[0].first, 10);
  EXPECT_EQ(raw[0].last, 5);
  EXPECT_EQ(raw[0].min, 5);
  EXPECT_EQ(raw[0].max, 15);
  EXPECT_EQ(raw[0].sum, 30);
  EXPECT_EQ(src.raw_samples, 4u);

  // After maintenance the same answer comes from minute rollups.
  auto report = store_->RunMaintenance(kHour0 + 10 * kMin, {});
  ASSERT_TRUE(report.ok()) << report.status();
  auto rolled = Buckets("requests_total", 0, 2 * kMin, kMin, &src);
  ASSERT_EQ(rolled.size(), 2u);
  EXPECT_EQ(rolled[0].increase, 10);
  EXPECT_EQ(rolled[1].increase, 3);
  EXPECT_EQ(src.raw_samples, 0u);
  EXPECT_EQ(src.minute_buckets, 2u);

  // One bucket over both minutes: 13.
  auto whole = Buckets("requests_total", 0, 2 * kMin, 2 * kMin);
  ASSERT_EQ(whole.size(), 1u);
  EXPECT_EQ(whole[0].increase, 13);
  EXPECT_EQ(whole[0].count, 4u);
  EXPECT_EQ(whole[0].first, 10);
  EXPECT_EQ(whole[0].last, 8);
}

TEST_F(SqliteRollupTest, WithATenMinuteStepMinutesWaitForTheirWindowAndAnswersDoNotChange) {
  store_->SetMinuteRollupStep(10 * kMin);
  // A counter +1 every 10 s for 25 minutes, one reset at minute 12.
  std::vector<std::pair<int64_t, double>> points;
  double v = 0;
  for (int64_t t = 0; t < 25 * kMin; t += 10000) {
    v = t == 12 * kMin ? 1 : v + 1;
    points.emplace_back(t, v);
  }
  Write("requests_total", v1::METRIC_TYPE_COUNTER, points);
  AggregateSource src;
  const std::vector<Aggregate> before = Buckets("requests_total", 0, 25 * kMin, kMin, &src);
  ASSERT_EQ(before.size(), 25u);
  EXPECT_EQ(src.raw_samples, 150u);

  // Minute 9 settled at 11:00 but its window only at 12:00.
  auto early = store_->RunMaintenance(kHour0 + 11 * kMin + 30000, {});
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_EQ(early->minutes_rolled_up, 0u);
  auto first = store_->RunMaintenance(kHour0 + 12 * kMin, {});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->minutes_rolled_up, 10u);
  auto second = store_->RunMaintenance(kHour0 + 31 * kMin, {});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->minutes_rolled_up, 10u);  // 10..19; 20..29 waits for 32:00

  const std::vector<Aggregate> after = Buckets("requests_total", 0, 25 * kMin, kMin, &src);
  EXPECT_EQ(src.minute_buckets, 20u);
  EXPECT_EQ(src.raw_samples, 30u);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].start_ms, before[i].start_ms) << i;
    EXPECT_EQ(after[i].count, before[i].count) << i;
    EXPECT_EQ(after[i].increase, before[i].increase) << i;
    EXPECT_EQ(after[i].sum, before[i].sum) << i;
    EXPECT_EQ(after[i].last, before[i].last) << i;
  }
  // The reset minute: 1 (the new value) + 5 steps of +1.
  EXPECT_EQ(after[12].increase, 6);
  EXPECT_EQ(after[11].increase, 6);
}

TEST_F(SqliteRollupTest, LongWindowsComeFromHourRollupsNotRawPoints) {
  // A gauge every 10 s for 3 hours: value = minute index.
  std::vector<std::pair<int64_t, double>> points;
  for (int64_t t = 0; t < 3 * 60 * kMin; t += 10000) {
    points.emplace_back(t, static_cast<double>(t / kMin));
  }
  Write("host_memory_used_bytes", v1::METRIC_TYPE_GAUGE, points);
  auto m = store_->RunMaintenance(kHour0 + 4 * 60 * kMin, {});
  ASSERT_TRUE(m.ok()) << m.status();
  AggregateSource src;
  auto hours = Buckets("host_memory_used_bytes", 0, 3 * 60 * kMin, 60 * kMin, &src);
  ASSERT_EQ(hours.size(), 3u);
  EXPECT_EQ(src.hour_buckets, 3u);
  EXPECT_EQ(src.minute_buckets, 0u);
  EXPECT_EQ(src.raw_samples, 0u);
  // Hour 1 holds minutes 60..119, six samples each: mean 89.5, min 60, max 119.
  EXPECT_EQ(hours[1].count, 360u);
  EXPECT_DOUBLE_EQ(hours[1].Mean(), 89.5);
  EXPECT_EQ(hours[1].min, 60);
  EXPECT_EQ(hours[1].max, 119);
  EXPECT_EQ(hours[1].first, 60);
  EXPECT_EQ(hours[1].last, 119);

  // A window that does not start on an hour mixes minute and hour rollups.
  auto mixed = Buckets("host_memory_used_bytes", 30 * kMin, 150 * kMin, 120 * kMin, &src);
  ASSERT_EQ(mixed.size(), 1u);
  EXPECT_EQ(mixed[0].count, 720u);
  EXPECT_EQ(src.hour_buckets, 1u);     // hour 1
  EXPECT_EQ(src.minute_buckets, 60u);  // minutes 30..59 and 120..149
  EXPECT_DOUBLE_EQ(mixed[0].Mean(), 89.5);
}

TEST_F(SqliteRollupTest, WithoutRollupsTheSameAnswersComeFromRawPoints) {
  // A counter +1 every 10 s for 3 hours, reset at 01:30.
  std::vector<std::pair<int64_t, double>> points;
  double v = 0;
  for (int64_t t = 0; t < 3 * 60 * kMin; t += 10000) {
    v = t == 90 * kMin ? 1 : v + 1;
    points.emplace_back(t, v);
  }
  Write("requests_total", v1::METRIC_TYPE_COUNTER, points);
  auto m = store_->RunMaintenance(kHour0 + 4 * 60 * kMin, {});
  ASSERT_TRUE(m.ok()) << m.status();
  AggregateSource src;
  const auto rolled = Buckets("requests_total", 30 * kMin, 170 * kMin, 60 * kMin, &src);
  EXPECT_EQ(src.raw_samples, 0u);
  EXPECT_EQ(src.minute_buckets, 140u);
  EXPECT_TRUE(store_->DayVersion(kHour0).has_value());

  store_->SetQueryRollups(false);
  const auto raw = Buckets("requests_total", 30 * kMin, 170 * kMin, 60 * kMin, &src);
  EXPECT_EQ(src.raw_samples, 840u);  // 140 minutes of 6 samples
  EXPECT_EQ(src.hour_buckets, 0u);
  EXPECT_EQ(src.minute_buckets, 0u);
  EXPECT_FALSE(store_->DayVersion(kHour0).has_value());  // nothing kept from raw answers
  ASSERT_EQ(raw.size(), rolled.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    EXPECT_EQ(raw[i].start_ms, rolled[i].start_ms) << i;
    EXPECT_EQ(raw[i].count, rolled[i].count) << i;
    EXPECT_EQ(raw[i].increase, rolled[i].increase) << i;
    EXPECT_EQ(raw[i].sum, rolled[i].sum) << i;
    EXPECT_EQ(raw[i].min, rolled[i].min) << i;
    EXPECT_EQ(raw[i].max, rolled[i].max) << i;
    EXPECT_EQ(raw[i].last, rolled[i].last) << i;
  }
  // 01:30-02:30 holds the reset: 1 (the new value) + 359 steps of +1.
  EXPECT_EQ(raw[1].increase, 360);
}

TEST_F(SqliteRollupTest, MaintenanceCopiesTheLogIntoTheFileNotTheWriter) {
  const auto db_bytes = [this] { return std::filesystem::file_size(path_); };
  const uintmax_t empty = db_bytes();
  // Commits leave their pages in the write-ahead log...
  for (int b = 0; b < 200; ++b) {
    std::vector<std::pair<int64_t, double>> points;
    for (int i = 0; i < 360; ++i) points.emplace_back(i * 10000, b * 1000.0 + i * 0.01);
    Write("g" + std::to_string(b), v1::METRIC_TYPE_GAUGE, points);
  }
  EXPECT_EQ(db_bytes(), empty);
  EXPECT_GT(std::filesystem::file_size(path_ + "-wal"), 1u << 20);
  // ... until maintenance copies them (without the store lock).
  auto m = store_->RunMaintenance(kHour0 + 4 * 60 * kMin, {});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->wal_frames_left, 0u);
  EXPECT_GT(db_bytes(), empty + 100000);
}

TEST_F(SqliteRollupTest, LateDataIsFoldedIntoRollupsAlreadyMade) {
  Write("errors_total", v1::METRIC_TYPE_COUNTER, {{0, 1}, {2 * kMin, 4}});
  ASSERT_TRUE(store_->RunMaintenance(kHour0 + 70 * kMin, {}).ok());
  auto before = Buckets("errors_total", 0, 3 * kMin, 3 * kMin);
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0].increase, 3);
  EXPECT_EQ(before[0].count, 2u);
  // A sample for minute 1 arrives late (an agent's spool replay): 2.
  Write("errors_total", v1::METRIC_TYPE_COUNTER, {{kMin, 2}});
  auto report = store_->RunMaintenance(kHour0 + 71 * kMin, {});
  ASSERT_TRUE(report.ok());
  EXPECT_GE(report->late_minutes_recomputed, 1u);
  AggregateSource src;
  auto after = Buckets("errors_total", 0, 3 * kMin, kMin, &src);
  EXPECT_EQ(src.raw_samples, 0u);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(after[1].increase, 1);  // 1 -> 2
  EXPECT_EQ(after[2].increase, 2);  // 2 -> 4
  // And the hour rollup agrees.
  auto hour = Buckets("errors_total", 0, 60 * kMin, 60 * kMin, &src);
  ASSERT_EQ(hour.size(), 1u);
  EXPECT_EQ(src.hour_buckets, 1u);
  EXPECT_EQ(hour[0].count, 3u);
  EXPECT_EQ(hour[0].increase, 3);
}

TEST_F(SqliteRollupTest, ALateSampleNewerThanItsSeriesRecomputesOnlyItsOwnMinute) {
  // A backfill arriving in time order: each late sample is its series'
  // newest, so no later minute steps from it.
  ASSERT_TRUE(store_->RunMaintenance(kHour0 + 70 * kMin, {}).ok());
  Write("backfill_total", v1::METRIC_TYPE_COUNTER, {{0, 1}, {30000, 2}});
  auto report = store_->RunMaintenance(kHour0 + 71 * kMin, {});
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->late_minutes_recomputed, 1u);
  Write("backfill_total", v1::METRIC_TYPE_COUNTER, {{kMin, 4}});
  report = store_->RunMaintenance(kHour0 + 72 * kMin, {});
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->late_minutes_recomputed, 1u);
  // Out of order within the series: minute 0 again, after minute 1 exists.
  // Minute 1's increase steps from it, so minutes 0..15 are recomputed.
  Write("backfill_total", v1::METRIC_TYPE_COUNTER, {{45000, 3}});
  report = store_->RunMaintenance(kHour0 + 73 * kMin, {});
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->late_minutes_recomputed, 16u);
  auto minutes = Buckets("backfill_total", 0, 2 * kMin, kMin);
  ASSERT_EQ(minutes.size(), 2u);
  EXPECT_EQ(minutes[0].increase, 2);  // 1 -> 2 -> 3
  EXPECT_EQ(minutes[1].increase, 1);  // 3 -> 4
  // The same holds after a reopen, for a series the store knows.
  store_.reset();
  auto reopened = SqliteStore::Open(path_, Durability::kRelaxed);
  ASSERT_TRUE(reopened.ok());
  store_ = std::move(*reopened);
  Write("backfill_total", v1::METRIC_TYPE_COUNTER, {{2 * kMin, 6}});
  report = store_->RunMaintenance(kHour0 + 74 * kMin, {});
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->late_minutes_recomputed, 1u);
  EXPECT_EQ(Buckets("backfill_total", 0, 3 * kMin, 3 * kMin)[0].increase, 5);
}

TEST_F(SqliteRollupTest, AnHourWhoseMinutesChangedIsAnsweredFromThemUntilItIsRolledUpAgain) {
  Write("g", v1::METRIC_TYPE_GAUGE, {{0, 1}, {2 * 60 * kMin, 1}});
  ASSERT_TRUE(store_->RunMaintenance(kHour0 + 3 * 60 * kMin, {}).ok());
  // A history for hour 0 arrives in time order, a minute per batch: 20
  // late minutes. One short maintenance step recomputes the newest 15.
  for (int64_t m = 0; m < 20; ++m) Write("backfill", v1::METRIC_TYPE_GAUGE, {{m * kMin, 2}});
  store_->SetMaintenanceBudgetForTesting(std::chrono::milliseconds(0));
  auto report = store_->RunMaintenance(kHour0 + 3 * 60 * kMin + kMin, {});
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->late_minutes_recomputed, 15u);
  EXPECT_TRUE(report->more);
  // Hour 0's rollup predates the history: its recomputed minutes answer.
  AggregateSource src;
  auto hour = Buckets("backfill", 0, 60 * kMin, 60 * kMin, &src);
  ASSERT_EQ(hour.size(), 1u);
  EXPECT_EQ(hour[0].count, 15u);
  EXPECT_EQ(src.hour_buckets, 0u);
  EXPECT_EQ(src.minute_buckets, 15u);
  // Once the rest is done, the hour is rolled up again and answers.
  store_->SetMaintenanceBudgetForTesting(std::chrono::milliseconds(1000));
  ASSERT_TRUE(store_->RunMaintenance(kHour0 + 3 * 60 * kMin + 2 * kMin, {}).ok());
  hour = Buckets("backfill", 0, 60 * kMin, 60 * kMin, &src);
  ASSERT_EQ(hour.size(), 1u);
  EXPECT_EQ(hour[0].count, 20u);
  EXPECT_EQ(hour[0].sum, 40);
  EXPECT_EQ(src.hour_buckets, 1u);
  EXPECT_EQ(src.minute_buckets, 0u);
}

TEST_F(SqliteRollupTest, RetentionDropsRawOnlyAfterItIsRolledUp) {
  Write("g", v1::METRIC_TYPE_GAUGE, {{0, 1}, {kMin, 2}});
  RetentionPolicy keep_raw_one_minute;
  keep_raw_one_minute.raw_ms = kMin;
  auto report = store_->RunMaintenance(kHour0 + 2 * 60 * kMin, keep_raw_one_minute);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->raw_deleted, 2u);
  auto raw = store_->QuerySeries({"g", {}, kHour0, kHour0 + kMin, 0});
  ASSERT_TRUE(raw.ok());
  EXPECT_TRUE((*raw)[0].values.empty());
  // The rollups still answer.
  auto agg = Buckets("g", 0, 2 * kMin, 2 * kMin);
  ASSERT_EQ(agg.size(), 1u);
  EXPECT_EQ(agg[0].sum, 3);
}

TEST_F(SqliteRollupTest, SelectorsMatchLabelsByEqualityAndGlob) {
  Write("g", v1::METRIC_TYPE_GAUGE, {{0, 1}});
  auto match = [&](LabelMatcher m) {
    auto found = store_->FindSeries({"g", {m}});
    EXPECT_TRUE(found.ok());
    return found->size();
  };
  EXPECT_EQ(match({"host", LabelMatcher::Op::kEqual, "web-1"}), 1u);
  EXPECT_EQ(match({"host", LabelMatcher::Op::kGlob, "web-*"}), 1u);
  EXPECT_EQ(match({"host", LabelMatcher::Op::kGlob, "db-*"}), 0u);
  EXPECT_EQ(match({"host", LabelMatcher::Op::kNotEqual, "web-1"}), 0u);
  EXPECT_EQ(match({"absent", LabelMatcher::Op::kEqual, ""}), 1u);
}

TEST_F(SqliteRollupTest, BadStepOrInvertedWindowIsAnError) {
  EXPECT_FALSE(store_->Aggregates({"g", {}}, 0, kMin, 1000).ok());
  EXPECT_FALSE(store_->Aggregates({"g", {}}, kMin, 0, kMin).ok());
}

}  // namespace
}  // namespace plumbline::collector

namespace plumbline::collector {
namespace {

// --- raw sample blocks ------------------------------------------------------

// What sample_blocks holds for the window starting at `window_offset`:
// blocks, samples, ingest (unmerged) blocks, bytes.
struct WindowBlocks {
  int64_t blocks = 0, samples = 0, unmerged = 0, bytes = 0;
};
WindowBlocks BlocksOf(const std::string& path, int64_t window) {
  sqlite3* db = nullptr;
  WindowBlocks out;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT count(*), coalesce(sum(samples), 0), coalesce(sum(shard = -1), 0), "
                     "coalesce(sum(length(data)), 0) FROM sample_blocks WHERE win = ?",
                     -1, &st, nullptr);
  sqlite3_bind_int64(st, 1, window);
  if (sqlite3_step(st) == SQLITE_ROW) {
    out = {sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
           sqlite3_column_int64(st, 3)};
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

TEST_F(SqliteRollupTest, AClosedWindowIsMergedIntoOneBlockAndReadsTheSame) {
  // Three series, a point every 10 s for the window [0, 10 min), two points
  // per batch: 90 ingest blocks. Then minute 5 of "g" is sent again with
  // another value: the later write wins, before and after the merge.
  for (int64_t t = 0; t < 10 * kMin; t += 20000) {
    for (const char* name : {"g", "h", "requests_total"}) {
      Write(name, v1::METRIC_TYPE_GAUGE,
            {{t, static_cast<double>(t / 10000)}, {t + 10000, static_cast<double>(t / 10000 + 1)}});
    }
  }
  Write("g", v1::METRIC_TYPE_GAUGE, {{5 * kMin, 999}});
  EXPECT_EQ(BlocksOf(path_, kHour0).unmerged, 91);
  auto before = store_->QuerySeries({"g", {}, kHour0, kHour0 + 60 * kMin, 0});
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), 1u);
  ASSERT_EQ((*before)[0].values.size(), 60u);
  EXPECT_EQ((*before)[0].values[30], 999);

  uint64_t compacted = 0;
  for (int i = 0; i < 5; ++i) {
    auto report = store_->RunMaintenance(kHour0 + 15 * kMin, {});
    ASSERT_TRUE(report.ok()) << report.status();
    compacted += report->windows_compacted;
  }
  EXPECT_EQ(compacted, 1u);
  WindowBlocks merged = BlocksOf(path_, kHour0);
  EXPECT_EQ(merged.blocks, 1);
  EXPECT_EQ(merged.unmerged, 0);
  EXPECT_EQ(merged.samples, 180);  // the repeated timestamp once
  auto after = store_->QuerySeries({"g", {}, kHour0, kHour0 + 60 * kMin, 0});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)[0].timestamps_ms, (*before)[0].timestamps_ms);
  EXPECT_EQ((*after)[0].values, (*before)[0].values);
  auto minute5 = Buckets("g", 5 * kMin, 6 * kMin, kMin);
  ASSERT_EQ(minute5.size(), 1u);
  EXPECT_EQ(minute5[0].first, 999);
  EXPECT_EQ(minute5[0].max, 999);

  // A later write of a merged timestamp wins over the merged block, and
  // the next merge keeps it.
  Write("g", v1::METRIC_TYPE_GAUGE, {{5 * kMin, -1}});
  auto late = store_->QuerySeries({"g", {}, kHour0 + 5 * kMin, kHour0 + 5 * kMin, 0});
  ASSERT_TRUE(late.ok());
  EXPECT_EQ((*late)[0].values, std::vector<double>{-1});
  ASSERT_TRUE(store_->RunMaintenance(kHour0 + 16 * kMin, {}).ok());
  EXPECT_EQ(BlocksOf(path_, kHour0).blocks, 1);
  late = store_->QuerySeries({"g", {}, kHour0 + 5 * kMin, kHour0 + 5 * kMin, 0});
  EXPECT_EQ((*late)[0].values, std::vector<double>{-1});
  // The late value reached the rollups as well.
  minute5 = Buckets("g", 5 * kMin, 6 * kMin, kMin);
  ASSERT_EQ(minute5.size(), 1u);
  EXPECT_EQ(minute5[0].first, -1);
}

TEST_F(SqliteRollupTest, HostMetricsTakeAFewBytesASampleOnceMerged) {
  // Ten minutes of the host mix.
  WriteHostMix(10 * kMin);
  WindowBlocks ingest = BlocksOf(path_, kHour0);
  ASSERT_TRUE(store_->RunMaintenance(kHour0 + 15 * kMin, {}).ok());
  WindowBlocks merged = BlocksOf(path_, kHour0);
  ASSERT_EQ(merged.samples, 6000);
  const double per_sample = static_cast<double>(merged.bytes) / 6000;
  RecordProperty("ingest_bytes_per_sample", std::to_string(ingest.bytes / 6000.0));
  RecordProperty("merged_bytes_per_sample", std::to_string(per_sample));
  EXPECT_LT(per_sample, 2.0);
  EXPECT_LT(merged.bytes, ingest.bytes);
}

TEST_F(SqliteRollupTest, ADamagedBlockLosesOnlyItselfAndIsCounted) {
  Write("g", v1::METRIC_TYPE_GAUGE, {{0, 1}, {10000, 2}});
  Write("g", v1::METRIC_TYPE_GAUGE, {{20000, 3}});
  Write("g", v1::METRIC_TYPE_GAUGE, {{30000, 4}});
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  // The middle block cut short, as a bad disk might leave it.
  ASSERT_EQ(sqlite3_exec(db,
                         "UPDATE sample_blocks SET data = substr(data, 1, length(data) - 3) "
                         "WHERE id = (SELECT min(id) + 1 FROM sample_blocks)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto raw = store_->QuerySeries({"g", {}, kHour0, kHour0 + 60 * kMin, 0});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ((*raw)[0].values, (std::vector<double>{1, 2, 4}));
  EXPECT_EQ(store_->CorruptBlocks(), 1u);
  auto report = store_->RunMaintenance(kHour0 + 15 * kMin, {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->corrupt_blocks, 1u);  // reported once
  report = store_->RunMaintenance(kHour0 + 16 * kMin, {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->corrupt_blocks, 0u);
  auto minute0 = Buckets("g", 0, kMin, kMin);
  ASSERT_EQ(minute0.size(), 1u);
  EXPECT_EQ(minute0[0].count, 3u);
}

TEST_F(SqliteRollupTest, TheWholeFileTakesAFewBytesASampleWithItsRollups) {
  // Twelve hours of the host mix (100 series every 10 s), then maintenance until everything is
  // merged and rolled up: raw blocks, minute and hour rollups, series, batch identities and the
  // schema, all counted (issue 5's goal: 2 bytes a sample for the whole file). bench/disk_bytes.sh
  // measures the same for the load generator's host metrics.
  constexpr int64_t kSpan = 12 * 60 * kMin;
  WriteHostMix(kSpan);
  for (int i = 0; i < 100; ++i) {
    auto report = store_->RunMaintenance(kHour0 + kSpan + 15 * kMin, {});
    ASSERT_TRUE(report.ok()) << report.status();
    if (!report->more) break;
  }
  AggregateSource src;
  auto hours =
      store_->Aggregates({"node_cpu_seconds_total", {}}, kHour0, kHour0 + kSpan, 60 * kMin, &src);
  ASSERT_TRUE(hours.ok()) << hours.status();
  ASSERT_EQ(hours->size(), 50u);
  EXPECT_EQ(src.hour_buckets, 50u * 12);
  EXPECT_EQ(src.raw_samples, 0u);
  // Counter n: 1000 n + k (n % 7 + 1) at sample k; an hour's increase is
  // 360 steps (its first sample steps from the hour before's last).
  ASSERT_EQ((*hours)[3].buckets.size(), 12u);
  EXPECT_EQ((*hours)[3].buckets[1].increase, 360 * 4);
  EXPECT_EQ((*hours)[3].buckets[11].last, 3000 + 4319 * 4);
  store_.reset();
  // What the file holds, without the free pages a long-running store
  // reuses: VACUUM, then the file's size.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "VACUUM", nullptr, nullptr, nullptr), SQLITE_OK);
  auto table_bytes = [&](const char* name) {
    sqlite3_stmt* st = nullptr;
    int64_t bytes = -1;
    if (sqlite3_prepare_v2(db, "SELECT sum(pgsize) FROM dbstat WHERE name = ?", -1, &st, nullptr) ==
        SQLITE_OK) {
      sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
      if (sqlite3_step(st) == SQLITE_ROW) bytes = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return bytes;
  };
  const double samples = 100.0 * static_cast<double>(kSpan / 10000);
  for (const char* table :
       {"sample_blocks", "rollup_1m_blocks", "rollup_1h_blocks", "batch_ranges"}) {
    // dbstat may be compiled out; then only the whole file is reported.
    const int64_t bytes = table_bytes(table);
    if (bytes >= 0) {
      RecordProperty(std::string(table) + "_bytes_per_sample",
                     std::to_string(static_cast<double>(bytes) / samples));
    }
  }
  sqlite3_close(db);
  const double per_sample = static_cast<double>(std::filesystem::file_size(path_)) / samples;
  RecordProperty("file_bytes_per_sample", std::to_string(per_sample));
  EXPECT_LT(per_sample, 2.0);
}

// An agent sends its series in the same order batch after batch, and the
// store finds their ids by position; a batch that reorders, adds or drops
// series still stores every point under its own series.
TEST_F(SqliteRollupTest, SeriesSentInAnotherOrderKeepTheirOwnIds) {
  const std::vector<std::vector<std::string>> batches = {
      {"a", "b", "c"}, {"a", "b", "c"}, {"c", "a", "b"}, {"a", "d", "b", "c"}, {"b"}, {"a", "b"}};
  for (size_t n = 0; n < batches.size(); ++n) {
    v1::Batch b;
    b.set_agent_id("a");
    b.set_epoch(1);
    b.set_sequence(++sequence_);
    std::vector<BatchWrite> w(1);
    w[0].batch = &b;
    for (const std::string& host : batches[n]) {
      v1::Series* s = b.add_series();
      s->set_name("load");
      s->set_type(v1::METRIC_TYPE_GAUGE);
      auto* l = s->add_labels();
      l->set_name("host");
      l->set_value(host);
      auto* p = s->add_points();
      p->set_timestamp_ms(kHour0 + static_cast<int64_t>(n) * 10000);
      // Each series' own values: host letter x 100 + batch number.
      p->set_number((host[0] - 'a' + 1) * 100 + static_cast<double>(n));
      w[0].series.push_back(b.series_size() - 1);
    }
    ASSERT_TRUE(store_->WriteBatches(w).ok());
  }
  for (const std::string host : {"a", "b", "c", "d"}) {
    auto got = store_->QuerySeries({"load", {{"host", host}}, kHour0, kHour0 + 60 * kMin, 0});
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), 1u) << host;
    std::vector<int64_t> expected_batches;
    for (size_t n = 0; n < batches.size(); ++n) {
      if (std::count(batches[n].begin(), batches[n].end(), host)) {
        expected_batches.push_back(static_cast<int64_t>(n));
      }
    }
    const SeriesPoints& points = (*got)[0];
    ASSERT_EQ(points.values.size(), expected_batches.size()) << host;
    for (size_t i = 0; i < points.values.size(); ++i) {
      EXPECT_EQ(points.timestamps_ms[i], kHour0 + expected_batches[i] * 10000) << host;
      EXPECT_EQ(points.values[i], (host[0] - 'a' + 1) * 100 + expected_batches[i]) << host;
    }
  }
}

// Aggregates read on their own connection while batches are written and
// maintenance runs: each answer counts at least the samples committed
// before it was asked and at most those whose write had begun by its end,
// and a later answer never counts fewer.
TEST_F(SqliteRollupTest, QueriesDuringWritesAndMaintenanceSeeACommittedState) {
  constexpr int kBatches = 300;
  std::atomic<int> begun{0}, committed{0};
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int n = 0; n < kBatches; ++n) {
      // Ten series a batch, one point each, 10 s apart: 50 minutes.
      begun.store(n + 1);
      WriteTen(static_cast<uint64_t>(n) + 1, "requests", kHour0 + n * 10000, 1);
      committed.store(n + 1);
      if (n % 20 == 0) {
        ASSERT_TRUE(store_->RunMaintenance(kHour0 + n * 10000, RetentionPolicy{}).ok());
      }
    }
    done.store(true);
  });
  uint64_t last = 0;
  auto query = [&] {
    const int before = committed.load();
    auto got = store_->Aggregates({"requests", {}}, kHour0, kHour0 + 60 * kMin, 60 * kMin);
    const int after = begun.load();
    ASSERT_TRUE(got.ok()) << got.status();
    uint64_t count = 0;
    for (const SeriesAggregates& s : *got) {
      for (const Aggregate& a : s.buckets) count += a.count;
    }
    EXPECT_GE(count, static_cast<uint64_t>(before) * 10);
    EXPECT_LE(count, static_cast<uint64_t>(after) * 10);
    EXPECT_GE(count, last);
    last = count;
  };
  while (!done.load()) query();
  writer.join();
  query();
  EXPECT_EQ(last, static_cast<uint64_t>(kBatches) * 10);
}

// Maintenance reads and rolls up beside ingest (the store lock only for its
// writes): batches in a scrambled time order, most of them late for the
// minutes already rolled up, land while it runs, and once it has caught up
// every sample is in the rollups exactly once.
TEST_F(SqliteRollupTest, RollupsMadeWhileLateBatchesArriveCountEverySampleOnce) {
  constexpr int kBatches = 1080;            // one per 10 s slot of three hours
  std::atomic<int64_t> written_to{kHour0};  // the newest sample written
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int n = 0; n < kBatches; ++n) {
      // Every slot once, scrambled within each 5 minutes (30 slots; 7 is
      // prime to 30): up to 5 minutes late, past the 2-minute grace.
      const int64_t slot = n / 30 * 30 + n % 30 * 7 % 30;
      WriteTen(static_cast<uint64_t>(n) + 1, "work", kHour0 + slot * 10000,
               static_cast<double>(slot));
      written_to.store(std::max(written_to.load(), kHour0 + slot * 10000));
    }
    done.store(true);
  });
  // The clock follows the data, so minutes are rolled up while samples of
  // them are still arriving.
  store_->SetMaintenanceBudgetForTesting(std::chrono::milliseconds(5));
  while (!done.load()) {
    ASSERT_TRUE(store_->RunMaintenance(written_to.load(), RetentionPolicy{}).ok());
  }
  writer.join();
  const int64_t now = kHour0 + 3 * 60 * kMin + 5 * kMin;
  for (int i = 0; i < 1000; ++i) {
    auto report = store_->RunMaintenance(now, RetentionPolicy{});
    ASSERT_TRUE(report.ok()) << report.status();
    if (!report->more) break;
  }
  // Every slot's value is its number: per hour, 360 slots x 10 series.
  AggregateSource source;
  auto got = store_->Aggregates({"work", {}}, kHour0, kHour0 + 180 * kMin, 60 * kMin, &source);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 10u);
  for (const SeriesAggregates& series : *got) {
    ASSERT_EQ(series.buckets.size(), 3u);
    for (int h = 0; h < 3; ++h) {
      const Aggregate& a = series.buckets[static_cast<size_t>(h)];
      EXPECT_EQ(a.count, 360u);
      // Slots 360h .. 360h + 359.
      EXPECT_EQ(a.sum, 360.0 * (360.0 * h) + 359.0 * 360.0 / 2);
      EXPECT_EQ(a.min, 360.0 * h);
      EXPECT_EQ(a.max, 360.0 * h + 359);
    }
  }
  EXPECT_EQ(source.raw_samples, 0u);
  EXPECT_EQ(source.hour_buckets, 30u);
  // And minute by minute, from the minute rollups.
  auto minutes = store_->Aggregates({"work", {{"n", LabelMatcher::Op::kEqual, "3"}}}, kHour0,
                                    kHour0 + 180 * kMin, kMin, &source);
  ASSERT_TRUE(minutes.ok()) << minutes.status();
  ASSERT_EQ(minutes->size(), 1u);
  ASSERT_EQ((*minutes)[0].buckets.size(), 180u);
  for (const Aggregate& a : (*minutes)[0].buckets) EXPECT_EQ(a.count, 6u);
  EXPECT_EQ(source.raw_samples, 0u);
}

// A batch committed while its minutes are being rolled up (after they were
// read, before the result is written) is not lost from the rollups: rolling
// forward, and recomputing late minutes.
TEST_F(SqliteRollupTest, ASampleWrittenWhileItsMinuteIsRolledUpIsCounted) {
  std::vector<std::pair<int64_t, double>> points;
  for (int64_t t = 0; t < 10 * kMin; t += 10000) points.emplace_back(t, 1);
  Write("g", v1::METRIC_TYPE_GAUGE, points);
  int calls = 0;
  store_->SetRollupHookForTesting([&] {
    if (calls++ == 0) Write("g", v1::METRIC_TYPE_GAUGE, {{3 * kMin + 5000, 1}});
  });
  auto settle = [&](int64_t now) {
    for (int i = 0; i < 100; ++i) {
      auto report = store_->RunMaintenance(now, RetentionPolicy{});
      ASSERT_TRUE(report.ok()) << report.status();
      if (!report->more) return;
    }
  };
  settle(kHour0 + 20 * kMin);
  ASSERT_GE(calls, 1);
  AggregateSource source;
  std::vector<Aggregate> minutes = Buckets("g", 0, 10 * kMin, kMin, &source);
  ASSERT_EQ(minutes.size(), 10u);
  EXPECT_EQ(source.raw_samples, 0u);
  EXPECT_EQ(minutes[3].count, 7u);

  // A late sample marks minute 5; another lands while it is recomputed.
  Write("g", v1::METRIC_TYPE_GAUGE, {{5 * kMin + 5000, 1}});
  calls = 0;
  store_->SetRollupHookForTesting([&] {
    if (calls++ == 0) Write("g", v1::METRIC_TYPE_GAUGE, {{5 * kMin + 15000, 1}});
  });
  settle(kHour0 + 20 * kMin);  // no minute to roll forward: the hook runs in the recompute
  store_->SetRollupHookForTesting(nullptr);
  ASSERT_GE(calls, 1);
  minutes = Buckets("g", 0, 10 * kMin, kMin, &source);
  ASSERT_EQ(minutes.size(), 10u);
  EXPECT_EQ(source.raw_samples, 0u);
  EXPECT_EQ(minutes[5].count, 8u);
}

// Late samples for a minute older than the raw retention, arriving before
// retention deleted its raw samples: retention holds those samples back
// for the minute, and the minute is recomputed from all of them, not kept
// as it was first rolled up (the 24-hour backfill of bench/disk_bytes.sh
// with a short raw retention kept such minutes partial).
TEST_F(SqliteRollupTest, ALateMinuteHeldBackFromRetentionIsRecomputedInFull) {
  std::vector<std::pair<int64_t, double>> points;
  for (int64_t m = 0; m <= 140; ++m) {
    for (int64_t k = 0; k < (m == 3 ? 3 : 6); ++k) points.emplace_back(m * kMin + k * 10000, 1);
  }
  Write("g", v1::METRIC_TYPE_GAUGE, points);
  auto settle = [&](int64_t now, const RetentionPolicy& retention) {
    for (int i = 0; i < 1000; ++i) {
      auto report = store_->RunMaintenance(now, retention);
      ASSERT_TRUE(report.ok()) << report.status();
      if (!report->more) return;
    }
    FAIL() << "maintenance did not settle";
  };
  const int64_t now = kHour0 + 150 * kMin;
  settle(now, RetentionPolicy{});
  ASSERT_EQ(Buckets("g", 3 * kMin, 4 * kMin, kMin)[0].count, 3u);

  // The rest of minute 3, and a sample more in each of minutes 20..140:
  // more late minutes than one recompute step takes (the newest first).
  std::vector<std::pair<int64_t, double>> late;
  for (int64_t k = 3; k < 6; ++k) late.emplace_back(3 * kMin + k * 10000, 1);
  for (int64_t m = 20; m <= 140; ++m) late.emplace_back(m * kMin + 5000, 1);
  Write("g", v1::METRIC_TYPE_GAUGE, late);
  // One step of recomputing, then retention (an hour of raw samples) while
  // minute 3 and others are still waiting.
  RetentionPolicy hour_of_raw;
  hour_of_raw.raw_ms = 60 * kMin;
  store_->SetMaintenanceBudgetForTesting(std::chrono::milliseconds(0));
  ASSERT_TRUE(store_->RunMaintenance(now + kMin, hour_of_raw).ok());
  store_->SetMaintenanceBudgetForTesting(std::chrono::seconds(1));
  settle(now + 2 * kMin, hour_of_raw);

  AggregateSource source;
  std::vector<Aggregate> minutes = Buckets("g", 0, 141 * kMin, kMin, &source);
  ASSERT_EQ(minutes.size(), 141u);
  EXPECT_EQ(source.raw_samples, 0u);
  EXPECT_EQ(minutes[3].count, 6u);
  uint64_t total = 0;
  for (const Aggregate& a : minutes) total += a.count;
  EXPECT_EQ(total, 141u * 6 + 121);
}

TEST_F(SqliteRollupTest, ADamagedRollupBlobLosesOnlyItsTailAndIsCounted) {
  std::vector<std::pair<int64_t, double>> points;
  for (int64_t t = 0; t < 10 * kMin; t += 10000) points.emplace_back(t, 1);
  Write("g", v1::METRIC_TYPE_GAUGE, points);
  ASSERT_TRUE(store_->RunMaintenance(kHour0 + 15 * kMin, {}).ok());
  AggregateSource src;
  ASSERT_EQ(Buckets("g", 0, 10 * kMin, kMin, &src).size(), 10u);
  EXPECT_EQ(src.minute_buckets, 10u);
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE rollup_1m_blocks SET data = substr(data, 1, length(data) - 2)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto reopened = SqliteStore::Open(path_, Durability::kRelaxed);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  store_ = std::move(*reopened);
  auto minutes = Buckets("g", 0, 10 * kMin, kMin, &src);
  EXPECT_LT(minutes.size(), 10u);
  for (const Aggregate& a : minutes) EXPECT_EQ(a.count, 6u);  // what was read is whole
  EXPECT_EQ(store_->CorruptBlocks(), 1u);
}

TEST(SqliteMigration, MovesSchema5RollupRowsIntoBlobsWithTheSameAnswers) {
  std::string path = (std::filesystem::temp_directory_path() /
                      ("plumbline_v5_" + std::to_string(::getpid()) + ".db"))
                         .string();
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  ASSERT_TRUE(SqliteStore::MigrateToForTesting(path, 5).ok());
  constexpr int64_t kHour0 = 1699999200000;  // a whole hour
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  // Two series: minutes 0 and 1 of hour 1 and hour 0's rollup; hours 0 and
  // 25 of the other (two UTC days). Everything before hour 2 is rolled up.
  const std::string rows =
      absl::StrCat(R"sql(
    INSERT INTO series (id, agent_id, name, labels, type) VALUES
      (1, 'a', 'g', 'host="h"', 2), (2, 'a', 'g', 'host="i"', 2);
    INSERT INTO rollup_1m VALUES
      (1, )sql",
                   kHour0 + 3600000, R"sql(, 6, 21, 1, 6, 1, )sql", kHour0 + 3600000,
                   R"sql(, 6, )sql", kHour0 + 3650000, R"sql(, 5),
      (1, )sql",
                   kHour0 + 3660000, R"sql(, 2, 15.5, 7.25, 8.25, 7.25, )sql", kHour0 + 3660000,
                   R"sql(, 8.25, )sql", kHour0 + 3670000, R"sql(, 2.25);
    INSERT INTO rollup_1h VALUES
      (1, )sql",
                   kHour0, R"sql(, 360, 1000, 0, 9, 0, )sql", kHour0, R"sql(, 9, )sql",
                   kHour0 + 3590000, R"sql(, 12),
      (2, )sql",
                   kHour0, R"sql(, 1, 3, 3, 3, 3, )sql", kHour0, R"sql(, 3, )sql", kHour0,
                   R"sql(, 0),
      (2, )sql",
                   kHour0 + 25 * 3600000, R"sql(, 1, 4, 4, 4, 4, )sql", kHour0 + 25 * 3600000,
                   R"sql(, 4, )sql", kHour0 + 25 * 3600000, R"sql(, 1);
    INSERT INTO rollup_state VALUES ('minute_watermark', )sql",
                   kHour0 + 26 * 3600000, R"sql(),
      ('hour_watermark', )sql",
                   kHour0 + 26 * 3600000, R"sql();
  )sql");
  ASSERT_EQ(sqlite3_exec(db, rows.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);

  auto store = SqliteStore::Open(path, Durability::kFull);
  ASSERT_TRUE(store.ok()) << store.status();
  AggregateSource src;
  auto minutes = (*store)->Aggregates({"g", {{"host", LabelMatcher::Op::kEqual, "h"}}},
                                      kHour0 + 3600000, kHour0 + 3720000, 60000, &src);
  ASSERT_TRUE(minutes.ok()) << minutes.status();
  ASSERT_EQ(minutes->size(), 1u);
  ASSERT_EQ((*minutes)[0].buckets.size(), 2u);
  EXPECT_EQ(src.minute_buckets, 2u);
  const Aggregate& m1 = (*minutes)[0].buckets[1];
  EXPECT_EQ(m1.count, 2u);
  EXPECT_EQ(m1.sum, 15.5);
  EXPECT_EQ(m1.min, 7.25);
  EXPECT_EQ(m1.last, 8.25);
  EXPECT_EQ(m1.last_ms, kHour0 + 3670000);
  EXPECT_EQ(m1.increase, 2.25);
  auto days = (*store)->Aggregates({"g", {}}, kHour0, kHour0 + 26 * 3600000, 26 * 3600000, &src);
  ASSERT_TRUE(days.ok()) << days.status();
  ASSERT_EQ(days->size(), 2u);
  EXPECT_EQ((*days)[0].buckets[0].sum, 1000);
  EXPECT_EQ((*days)[0].buckets[0].increase, 12);
  EXPECT_EQ((*days)[1].buckets[0].count, 2u);
  EXPECT_EQ((*days)[1].buckets[0].sum, 7);
  EXPECT_EQ((*days)[1].buckets[0].last, 4);
  EXPECT_TRUE((*store)->CheckIntegrity().ok());
  store->reset();
  sqlite3* check = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &check), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(check, "SELECT 1 FROM rollup_1m", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(check);
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

TEST(SqliteMigration, UpgradesASchemaVersion1FileKeepingItsData) {
  std::string path = (std::filesystem::temp_directory_path() /
                      ("plumbline_v1_" + std::to_string(::getpid()) + ".db"))
                         .string();
  std::filesystem::remove(path);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  // The schema a 0.1.0 collector wrote (migration 1), with one stored batch.
  const char* v1 = R"sql(
    CREATE TABLE agents (agent_id TEXT PRIMARY KEY, hostname TEXT NOT NULL DEFAULT '',
      version TEXT NOT NULL DEFAULT '', os TEXT NOT NULL DEFAULT '', labels TEXT NOT NULL DEFAULT '',
      cpu_count INTEGER NOT NULL DEFAULT 0, memory_bytes INTEGER NOT NULL DEFAULT 0,
      first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL, epoch INTEGER NOT NULL DEFAULT 0,
      last_sequence INTEGER NOT NULL DEFAULT 0, batches INTEGER NOT NULL DEFAULT 0,
      samples INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE batches (agent_id TEXT NOT NULL, epoch INTEGER NOT NULL, sequence INTEGER NOT NULL,
      received_ms INTEGER NOT NULL, samples INTEGER NOT NULL,
      PRIMARY KEY (agent_id, epoch, sequence)) WITHOUT ROWID;
    CREATE TABLE series (id INTEGER PRIMARY KEY, agent_id TEXT NOT NULL, name TEXT NOT NULL,
      labels TEXT NOT NULL, UNIQUE (agent_id, name, labels));
    CREATE INDEX series_by_name ON series (name);
    CREATE TABLE samples (series_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL, value REAL NOT NULL,
      PRIMARY KEY (series_id, ts_ms)) WITHOUT ROWID;
    INSERT INTO agents (agent_id, first_seen_ms, last_seen_ms, batches, samples) VALUES ('a', 1, 2, 1, 2);
    INSERT INTO batches VALUES ('a', 5, 1, 2, 2);
    INSERT INTO series (id, agent_id, name, labels) VALUES (1, 'a', 'g', 'host="h"');
    INSERT INTO samples VALUES (1, 1700000000000, 1.5), (1, 1700000010000, 2.5);
    PRAGMA user_version = 1;
  )sql";
  ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);

  auto store = SqliteStore::Open(path, Durability::kFull);
  ASSERT_TRUE(store.ok()) << store.status();
  auto points = (*store)->QuerySeries({"g", {}, 1700000000000, 1700000010000, 0});
  ASSERT_TRUE(points.ok());
  ASSERT_EQ(points->size(), 1u);
  EXPECT_EQ((*points)[0].values, (std::vector<double>{1.5, 2.5}));
  // Exactly-once still holds for batches stored before the upgrade.
  v1::Batch again;
  again.set_agent_id("a");
  again.set_epoch(5);
  again.set_sequence(1);
  std::vector<BatchWrite> w(1);
  w[0].batch = &again;
  ASSERT_TRUE((*store)->WriteBatches(w).ok());
  EXPECT_FALSE(w[0].stored);
  auto agg = (*store)->Aggregates({"g", {}}, 1700000000000 - 60000, 1700000040000, 120000);
  ASSERT_TRUE(agg.ok());
  ASSERT_EQ(agg->size(), 1u);
  EXPECT_EQ((*agg)[0].series.type, v1::METRIC_TYPE_GAUGE);
  EXPECT_TRUE((*store)->CheckIntegrity().ok());
  store->reset();
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

}  // namespace
}  // namespace plumbline::collector
