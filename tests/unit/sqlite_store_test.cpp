#include "collector/store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

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
  EXPECT_NE(std::string(store.status().message()).find("/nonexistent/dir/c.db"),
            std::string::npos);
}

}  // namespace
}  // namespace plumbline::collector
