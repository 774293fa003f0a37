// One suite, every backend: the same tests run against the embedded SQLite
// store and against PostgreSQL (a real server the tests start themselves,
// see postgres_server.h). Values are computed by hand.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "collector/store/postgres_store.h"
#include "collector/store/sqlite_store.h"
#include "tests/store_conformance/postgres_server.h"

namespace plumbline::collector {
namespace {

using ::plumbline::testing::PostgresServer;

// Stops the PostgreSQL server after the last test, whatever their outcome.
class PostgresEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { PostgresServer::Shutdown(); }
};
[[maybe_unused]] ::testing::Environment* const kPostgresEnvironment =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

enum class Backend { kSqlite, kPostgres };

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

constexpr int64_t kMin = 60000;
constexpr int64_t kHour = 60 * kMin;
constexpr int64_t kHour0 = 1699999200000;  // 2023-11-14T22:00:00Z, a whole hour

struct Pt {
  int64_t offset_ms;  // from kHour0
  double value;
};

v1::Batch MakeBatch(const std::string& agent, uint64_t epoch, uint64_t sequence,
                    const std::string& name, v1::MetricType type, const LabelSet& labels,
                    const std::vector<Pt>& points) {
  v1::Batch b;
  b.set_agent_id(agent);
  b.set_epoch(epoch);
  b.set_sequence(sequence);
  v1::Series* s = b.add_series();
  s->set_name(name);
  s->set_type(type);
  for (const auto& [n, v] : labels) {
    v1::Label* l = s->add_labels();
    l->set_name(n);
    l->set_value(v);
  }
  for (const Pt& p : points) {
    v1::Point* point = s->add_points();
    point->set_timestamp_ms(kHour0 + p.offset_ms);
    point->set_number(p.value);
  }
  return b;
}

BatchWrite WriteOf(const v1::Batch& b, int64_t received_ms = 0) {
  BatchWrite w;
  w.batch = &b;
  for (int i = 0; i < b.series_size(); ++i) w.series.push_back(i);
  w.received_ms = received_ms;
  return w;
}

class StoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kSqlite) {
      std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
      std::replace(test.begin(), test.end(), '/', '_');  // "Name/Sqlite"
      location_ = (std::filesystem::temp_directory_path() /
                   StrCat("plumbline_conformance_", ::getpid(), "_", test, ".db"))
                      .string();
      RemoveSqliteFiles();
    } else {
      // Fails (never skips) when PostgreSQL is not installed.
      absl::StatusOr<PostgresServer*> server = PostgresServer::Get();
      ASSERT_TRUE(server.ok()) << server.status();
      server_ = *server;
      absl::StatusOr<std::string> dsn = server_->NewSchema();
      ASSERT_TRUE(dsn.ok()) << dsn.status();
      location_ = *dsn;
    }
    absl::StatusOr<std::unique_ptr<Store>> store = Open();
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  void TearDown() override {
    store_.reset();
    if (GetParam() == Backend::kSqlite) RemoveSqliteFiles();
  }

  void RemoveSqliteFiles() {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(location_ + suffix);
  }

  // Another store on the same database: a restart, or a second collector.
  absl::StatusOr<std::unique_ptr<Store>> Open(Durability durability = Durability::kFull) {
    if (GetParam() == Backend::kSqlite) {
      ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> s, SqliteStore::Open(location_, durability));
      return std::unique_ptr<Store>(std::move(s));
    }
    ASSIGN_OR_RETURN(std::unique_ptr<PostgresStore> s, PostgresStore::Open(location_, durability));
    return std::unique_ptr<Store>(std::move(s));
  }

  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<Store>> store = Open();
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  // Writes one batch of one series of agent "a", labels {host="web-1"}.
  void Write(const std::string& name, v1::MetricType type, const std::vector<Pt>& points) {
    v1::Batch b = MakeBatch("a", 1, ++sequence_, name, type, {{"host", "web-1"}}, points);
    std::vector<BatchWrite> w = {WriteOf(b)};
    absl::Status s = store_->WriteBatches(w);
    ASSERT_TRUE(s.ok()) << s;
    ASSERT_TRUE(w[0].stored);
  }

  std::vector<Aggregate> Buckets(const std::string& name, int64_t from, int64_t to, int64_t step,
                                 AggregateSource* source = nullptr) {
    auto got = store_->Aggregates({name, {}}, kHour0 + from, kHour0 + to, step, source);
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok() || got->empty()) return {};
    EXPECT_EQ(got->size(), 1u);
    return (*got)[0].buckets;
  }

  MaintenanceReport Maintain(int64_t now_offset, RetentionPolicy retention = {}) {
    auto report = store_->RunMaintenance(kHour0 + now_offset, retention);
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *report : MaintenanceReport{};
  }

  // Makes every write to the agents table (the last step of storing a
  // group) fail, or stops doing so, behind the store's back.
  void FailAgentWrites(bool fail) {
    if (GetParam() == Backend::kSqlite) {
      sqlite3* db = nullptr;
      ASSERT_EQ(sqlite3_open(location_.c_str(), &db), SQLITE_OK);
      const char* sql = fail ? "CREATE TRIGGER fail_insert BEFORE INSERT ON agents "
                               "BEGIN SELECT RAISE(ABORT, 'injected failure'); END; "
                               "CREATE TRIGGER fail_update BEFORE UPDATE ON agents "
                               "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
                             : "DROP TRIGGER fail_insert; DROP TRIGGER fail_update;";
      char* error = nullptr;
      int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
      std::string message = error != nullptr ? error : "";
      sqlite3_free(error);
      sqlite3_close(db);
      ASSERT_EQ(rc, SQLITE_OK) << message;
    } else {
      auto done = server_->Query(
          location_, fail ? "CREATE FUNCTION fail_write() RETURNS trigger LANGUAGE plpgsql AS "
                            "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$; "
                            "CREATE TRIGGER fail_write BEFORE INSERT OR UPDATE ON agents "
                            "FOR EACH ROW EXECUTE FUNCTION fail_write()"
                          : "DROP TRIGGER fail_write ON agents");
      ASSERT_TRUE(done.ok()) << done.status();
    }
  }

  std::string location_;  // SQLite file or PostgreSQL DSN (a schema of its own)
  PostgresServer* server_ = nullptr;
  std::unique_ptr<Store> store_;
  uint64_t sequence_ = 0;
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

// --- exactly-once ---------------------------------------------------------

TEST_P(StoreConformance, StoresABatchOnceAndReportsARepeatInTheSameGroupAsDuplicate) {
  v1::Batch b = MakeBatch("agent-1", 42, 1, "host_memory_used_bytes", v1::METRIC_TYPE_GAUGE,
                          {{"host", "h1"}}, {{1000, 100}});
  std::vector<BatchWrite> w = {WriteOf(b), WriteOf(b)};
  ASSERT_TRUE(store_->WriteBatches(w).ok());
  EXPECT_TRUE(w[0].stored);
  EXPECT_EQ(w[0].samples_written, 1u);
  EXPECT_FALSE(w[1].stored);
  EXPECT_EQ(w[1].samples_written, 0u);

  auto agents = store_->ListAgents();
  ASSERT_TRUE(agents.ok()) << agents.status();
  ASSERT_EQ(agents->size(), 1u);
  EXPECT_EQ((*agents)[0].batches, 1u);
  EXPECT_EQ((*agents)[0].samples, 1u);
}

TEST_P(StoreConformance, ARepeatInALaterGroupAndAfterAReopenIsADuplicate) {
  v1::Batch b = MakeBatch("agent-1", 42, 7, "g", v1::METRIC_TYPE_GAUGE, {}, {{0, 1}});
  std::vector<BatchWrite> first = {WriteOf(b)};
  ASSERT_TRUE(store_->WriteBatches(first).ok());
  EXPECT_TRUE(first[0].stored);
  std::vector<BatchWrite> again = {WriteOf(b)};
  ASSERT_TRUE(store_->WriteBatches(again).ok());
  EXPECT_FALSE(again[0].stored);

  Reopen();
  std::vector<BatchWrite> after = {WriteOf(b)};
  ASSERT_TRUE(store_->WriteBatches(after).ok());
  EXPECT_FALSE(after[0].stored);
  // The same sequence in another epoch (the agent lost its state) is new.
  v1::Batch next_epoch = MakeBatch("agent-1", 43, 7, "g", v1::METRIC_TYPE_GAUGE, {}, {{1000, 2}});
  std::vector<BatchWrite> other = {WriteOf(next_epoch)};
  ASSERT_TRUE(store_->WriteBatches(other).ok());
  EXPECT_TRUE(other[0].stored);
  EXPECT_TRUE(store_->CheckIntegrity().ok());

  auto agents = store_->ListAgents();
  ASSERT_TRUE(agents.ok());
  ASSERT_EQ(agents->size(), 1u);
  EXPECT_EQ((*agents)[0].batches, 2u);
  EXPECT_EQ((*agents)[0].epoch, 43u);
  EXPECT_EQ((*agents)[0].last_sequence, 7u);
}

TEST_P(StoreConformance, AFailedWriteStoresNothingAndCanBeRetried) {
  Write("g", v1::METRIC_TYPE_GAUGE, {{0, 1}});
  auto before = store_->FindSeries({"g", {}});  // a backend may remember this
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), 1u);
  FailAgentWrites(true);
  v1::Batch newer =
      MakeBatch("a", 1, 99, "g", v1::METRIC_TYPE_GAUGE, {{"host", "web-1"}}, {{1000, 2}});
  v1::Batch new_series = MakeBatch("a", 1, 100, "h", v1::METRIC_TYPE_GAUGE, {}, {{1000, 3}});
  std::vector<BatchWrite> w = {WriteOf(newer), WriteOf(new_series)};
  EXPECT_FALSE(store_->WriteBatches(w).ok());
  EXPECT_FALSE(w[0].stored);
  EXPECT_FALSE(w[1].stored);
  EXPECT_EQ(w[0].samples_written, 0u);
  // Nothing of the group is visible, not even as the latest value.
  auto latest = store_->LatestSamples("a", {"g", "h"});
  ASSERT_TRUE(latest.ok()) << latest.status();
  ASSERT_EQ(latest->size(), 1u);
  EXPECT_EQ((*latest)[0].value, 1);
  auto h = store_->FindSeries({"h", {}});
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->empty());
  auto g = store_->FindSeries({"g", {}});  // not the rolled-back {host="web-1"}
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->size(), 1u);

  // The identities were not used up: the retry stores them.
  FailAgentWrites(false);
  std::vector<BatchWrite> retry = {WriteOf(newer), WriteOf(new_series)};
  absl::Status s = store_->WriteBatches(retry);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(retry[0].stored);
  EXPECT_TRUE(retry[1].stored);
  latest = store_->LatestSamples("a", {"g", "h"});
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 2u);
  EXPECT_EQ((*latest)[0].value, 2);
  EXPECT_EQ((*latest)[1].value, 3);
}

TEST_P(StoreConformance, OnlyValidatedSeriesAreStored) {
  v1::Batch b =
      MakeBatch("agent-1", 1, 1, "validated", v1::METRIC_TYPE_GAUGE, {{"host", "h1"}}, {{0, 100}});
  *b.add_series() = b.series(0);
  b.mutable_series(1)->set_name("not_validated");
  std::vector<BatchWrite> w = {WriteOf(b)};
  w[0].series = {0};
  ASSERT_TRUE(store_->WriteBatches(w).ok());
  EXPECT_EQ(w[0].samples_written, 1u);
  auto rejected = store_->QuerySeries({"not_validated", {}, 0, INT64_MAX, 0});
  ASSERT_TRUE(rejected.ok());
  EXPECT_TRUE(rejected->empty());
  auto kept = store_->QuerySeries({"validated", {}, 0, INT64_MAX, 0});
  ASSERT_TRUE(kept.ok());
  ASSERT_EQ(kept->size(), 1u);
  EXPECT_EQ((*kept)[0].values, std::vector<double>{100});
}

TEST_P(StoreConformance, NaNSamplesAreNotStoredAndDoNotFailTheGroup) {
  // An empty summary's quantiles are NaN; the rest of the batch and group is kept.
  v1::Batch b = MakeBatch("agent-1", 1, 1, "g", v1::METRIC_TYPE_GAUGE, {},
                          {{0, std::numeric_limits<double>::quiet_NaN()}, {1000, 5}});
  v1::Batch other = MakeBatch("agent-2", 1, 1, "g", v1::METRIC_TYPE_GAUGE, {}, {{0, 7}});
  std::vector<BatchWrite> w = {WriteOf(b), WriteOf(other)};
  absl::Status s = store_->WriteBatches(w);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(w[0].stored);
  EXPECT_EQ(w[0].samples_written, 1u);
  EXPECT_TRUE(w[1].stored);
  auto got = store_->QuerySeries({"g", {}, 0, INT64_MAX, 0});
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].values, std::vector<double>{5});
  EXPECT_EQ((*got)[1].values, std::vector<double>{7});
}

TEST_P(StoreConformance, ASampleWrittenTwiceKeepsTheLastValue) {
  Write("g", v1::METRIC_TYPE_GAUGE, {{0, 1}});
  Write("g", v1::METRIC_TYPE_GAUGE, {{0, 2}});
  auto got = store_->QuerySeries({"g", {}, 0, INT64_MAX, 0});
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].values, std::vector<double>{2});
}

TEST_P(StoreConformance, HistogramsAreStoredAsBucketSumAndCountSeries) {
  v1::Batch b;
  b.set_agent_id("a");
  b.set_epoch(1);
  b.set_sequence(1);
  v1::Series* s = b.add_series();
  s->set_name("latency_seconds");
  s->set_type(v1::METRIC_TYPE_HISTOGRAM);
  v1::Point* p = s->add_points();
  p->set_timestamp_ms(kHour0);
  v1::Histogram* h = p->mutable_histogram();
  h->add_bounds(0.1);
  h->add_bounds(1);
  h->add_bucket_counts(3);
  h->add_bucket_counts(4);
  h->add_bucket_counts(1);
  h->set_count(8);
  h->set_sum(4.5);
  std::vector<BatchWrite> w = {WriteOf(b)};
  ASSERT_TRUE(store_->WriteBatches(w).ok());
  EXPECT_EQ(w[0].samples_written, 5u);  // 3 buckets, sum, count
  auto buckets = store_->QuerySeries({"latency_seconds_bucket", {{"le", "1"}}, 0, INT64_MAX, 0});
  ASSERT_TRUE(buckets.ok());
  ASSERT_EQ(buckets->size(), 1u);
  EXPECT_EQ((*buckets)[0].values, std::vector<double>{7});
  auto series = store_->FindSeries({"latency_seconds_bucket", {}});
  ASSERT_TRUE(series.ok());
  ASSERT_EQ(series->size(), 3u);
  EXPECT_EQ((*series)[0].type, v1::METRIC_TYPE_COUNTER);
  auto sum = store_->QuerySeries({"latency_seconds_sum", {}, 0, INT64_MAX, 0});
  ASSERT_TRUE(sum.ok());
  ASSERT_EQ(sum->size(), 1u);
  EXPECT_EQ((*sum)[0].values, std::vector<double>{4.5});
}

TEST_P(StoreConformance, LongLabelSetsAreStored) {
  // Three values of 1000 bytes: more than fits in one index entry as text.
  LabelSet labels = {
      {"a", std::string(1000, 'a')}, {"b", std::string(1000, 'b')}, {"c", std::string(1000, 'c')}};
  v1::Batch b = MakeBatch("agent-1", 1, 1, "g", v1::METRIC_TYPE_GAUGE, labels, {{0, 1}});
  std::vector<BatchWrite> w = {WriteOf(b)};
  absl::Status s = store_->WriteBatches(w);
  ASSERT_TRUE(s.ok()) << s;
  v1::Batch again = MakeBatch("agent-1", 1, 2, "g", v1::METRIC_TYPE_GAUGE, labels, {{1000, 2}});
  std::vector<BatchWrite> w2 = {WriteOf(again)};
  ASSERT_TRUE(store_->WriteBatches(w2).ok());
  auto got = store_->QuerySeries({"g", {{"b", std::string(1000, 'b')}}, 0, INT64_MAX, 0});
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].labels, labels);
  EXPECT_EQ((*got)[0].values, (std::vector<double>{1, 2}));
}

TEST_P(StoreConformance, ALargeGroupIsStoredWhole) {
  // 40 batches of 1000 points each, in one group (one transaction).
  std::vector<v1::Batch> batches;
  for (int i = 0; i < 40; ++i) {
    std::vector<Pt> points;
    for (int p = 0; p < 1000; ++p) points.push_back({(i * 1000 + p) * 100LL, 1.0 * p});
    batches.push_back(MakeBatch("a", 1, static_cast<uint64_t>(i + 1), "g", v1::METRIC_TYPE_GAUGE,
                                {{"shard", std::to_string(i % 4)}}, points));
  }
  std::vector<BatchWrite> w;
  for (const v1::Batch& b : batches) w.push_back(WriteOf(b));
  absl::Status s = store_->WriteBatches(w);
  ASSERT_TRUE(s.ok()) << s;
  uint64_t written = 0;
  for (const BatchWrite& one : w) written += one.samples_written;
  EXPECT_EQ(written, 40000u);
  auto agents = store_->ListAgents();
  ASSERT_TRUE(agents.ok());
  ASSERT_EQ(agents->size(), 1u);
  EXPECT_EQ((*agents)[0].samples, 40000u);
  EXPECT_EQ((*agents)[0].batches, 40u);
  auto got = store_->QuerySeries({"g", {}, 0, INT64_MAX, 0});
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 4u);
  size_t points = 0;
  for (const SeriesPoints& sp : *got) points += sp.values.size();
  EXPECT_EQ(points, 40000u);
}

// --- agents ---------------------------------------------------------------

TEST_P(StoreConformance, AgentsRecordedTogetherAreEachListed) {
  // A reconnect storm's hellos, recorded in one call: every agent, each
  // with its own description; one seen twice keeps its newest time.
  std::vector<AgentSighting> hellos;
  for (int i = 0; i < 50; ++i) {
    AgentSighting& a = hellos.emplace_back();
    a.info.set_agent_id("host-" + std::to_string(100 + i));
    a.info.set_hostname("host-" + std::to_string(100 + i) + ".example");
    a.info.set_cpu_count(static_cast<uint32_t>(i + 1));
    a.now_ms = 1000 + i;
  }
  hellos.push_back(hellos[7]);
  hellos.back().now_ms = 5;  // an older sighting of host-107, after the newer
  ASSERT_TRUE(store_->UpsertAgents(hellos).ok());
  ASSERT_TRUE(store_->UpsertAgents({}).ok());
  auto agents = store_->ListAgents();
  ASSERT_TRUE(agents.ok()) << agents.status();
  ASSERT_EQ(agents->size(), 50u);
  for (int i = 0; i < 50; ++i) {
    const AgentRecord& r = (*agents)[static_cast<size_t>(i)];
    EXPECT_EQ(r.agent_id, "host-" + std::to_string(100 + i));
    EXPECT_EQ(r.hostname, r.agent_id + ".example");
    EXPECT_EQ(r.cpu_count, static_cast<uint32_t>(i + 1));
    EXPECT_EQ(r.last_seen_ms, 1000 + i);
  }
}

TEST_P(StoreConformance, AgentsAreListedWithDescriptionAndCounts) {
  v1::AgentInfo info;
  info.set_agent_id("web-01");
  info.set_hostname("web-01.example");
  info.set_version("0.1.0");
  info.set_os("Debian 12");
  info.set_cpu_count(8);
  info.set_memory_bytes(16ull << 30);
  v1::Label* l = info.add_labels();
  l->set_name("env");
  l->set_value("prod");
  ASSERT_TRUE(store_->UpsertAgent(info, 5).ok());

  v1::Batch b1 = MakeBatch("web-01", 3, 10, "g", v1::METRIC_TYPE_GAUGE, {}, {{0, 1}, {1000, 2}});
  v1::Batch b2 = MakeBatch("web-01", 3, 11, "g", v1::METRIC_TYPE_GAUGE, {}, {{2000, 3}});
  v1::Batch other = MakeBatch("db-01", 9, 1, "g", v1::METRIC_TYPE_GAUGE, {}, {{0, 1}});
  std::vector<BatchWrite> w = {WriteOf(b1, 20), WriteOf(other, 21), WriteOf(b2, 22)};
  ASSERT_TRUE(store_->WriteBatches(w).ok());

  // A newer description; last seen never goes back.
  info.set_version("0.2.0");
  info.set_hostname("web-01.example.com");
  ASSERT_TRUE(store_->UpsertAgent(info, 10).ok());

  auto agents = store_->ListAgents();
  ASSERT_TRUE(agents.ok()) << agents.status();
  ASSERT_EQ(agents->size(), 2u);
  const AgentRecord& db = (*agents)[0];
  const AgentRecord& web = (*agents)[1];
  EXPECT_EQ(db.agent_id, "db-01");
  EXPECT_EQ(db.first_seen_ms, 21);
  EXPECT_EQ(db.last_seen_ms, 21);
  EXPECT_EQ(db.epoch, 9u);
  EXPECT_EQ(db.batches, 1u);
  EXPECT_EQ(web.agent_id, "web-01");
  EXPECT_EQ(web.hostname, "web-01.example.com");
  EXPECT_EQ(web.version, "0.2.0");
  EXPECT_EQ(web.os, "Debian 12");
  EXPECT_EQ(web.labels, (LabelSet{{"env", "prod"}}));
  EXPECT_EQ(web.cpu_count, 8u);
  EXPECT_EQ(web.memory_bytes, 16ull << 30);
  EXPECT_EQ(web.first_seen_ms, 5);
  EXPECT_EQ(web.last_seen_ms, 22);
  EXPECT_EQ(web.epoch, 3u);
  EXPECT_EQ(web.last_sequence, 11u);
  EXPECT_EQ(web.batches, 2u);
  EXPECT_EQ(web.samples, 3u);
}

// --- reading samples ------------------------------------------------------

TEST_P(StoreConformance, LatestSamplesAreTheNewestOfEachSeries) {
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    v1::Batch b = MakeBatch("agent-1", 42, seq, "host_memory_used_bytes", v1::METRIC_TYPE_GAUGE,
                            {{"host", "h1"}},
                            {{static_cast<int64_t>(seq) * 1000, 100.0 * static_cast<double>(seq)}});
    std::vector<BatchWrite> w = {WriteOf(b)};
    ASSERT_TRUE(store_->WriteBatches(w).ok());
  }
  // An older sample arriving last does not replace the newest.
  v1::Batch late = MakeBatch("agent-1", 42, 4, "host_memory_used_bytes", v1::METRIC_TYPE_GAUGE,
                             {{"host", "h1"}}, {{500, 50}});
  v1::Batch cpu = MakeBatch("agent-1", 42, 5, "host_cpu_utilization", v1::METRIC_TYPE_GAUGE,
                            {{"cpu", "total"}}, {{0, 0.25}});
  v1::Batch someone_else = MakeBatch("agent-2", 1, 1, "host_memory_used_bytes",
                                     v1::METRIC_TYPE_GAUGE, {{"host", "h2"}}, {{9000, 1}});
  std::vector<BatchWrite> w = {WriteOf(late), WriteOf(cpu), WriteOf(someone_else)};
  ASSERT_TRUE(store_->WriteBatches(w).ok());

  auto latest = store_->LatestSamples("agent-1",
                                      {"host_memory_used_bytes", "absent", "host_cpu_utilization"});
  ASSERT_TRUE(latest.ok()) << latest.status();
  ASSERT_EQ(latest->size(), 2u);
  EXPECT_EQ((*latest)[0].name, "host_memory_used_bytes");
  EXPECT_EQ((*latest)[0].value, 300);
  EXPECT_EQ((*latest)[0].timestamp_ms, kHour0 + 3000);
  EXPECT_EQ((*latest)[0].labels, (LabelSet{{"host", "h1"}}));
  EXPECT_EQ((*latest)[1].name, "host_cpu_utilization");
  EXPECT_EQ((*latest)[1].value, 0.25);

  Reopen();
  latest = store_->LatestSamples("agent-1", {"host_memory_used_bytes"});
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 1u);
  EXPECT_EQ((*latest)[0].value, 300);
}

TEST_P(StoreConformance, LatestSamplesOutliveRawRetention) {
  Write("g", v1::METRIC_TYPE_GAUGE, {{0, 1}, {kMin, 2}});
  RetentionPolicy short_raw;
  short_raw.raw_ms = kMin;
  EXPECT_EQ(Maintain(2 * kHour, short_raw).raw_deleted, 2u);
  Reopen();
  auto latest = store_->LatestSamples("a", {"g"});
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 1u);
  EXPECT_EQ((*latest)[0].value, 2);
  EXPECT_EQ((*latest)[0].timestamp_ms, kHour0 + kMin);
}

TEST_P(StoreConformance, QuerySeriesReturnsTheWindowInclusiveWithLimitAndLabelMatch) {
  v1::Batch web1 =
      MakeBatch("a", 1, 1, "g", v1::METRIC_TYPE_GAUGE, {{"host", "web-1"}, {"dc", "ams"}},
                {{0, 0}, {1000, 1}, {2000, 2}, {3000, 3}, {4000, 4}});
  v1::Batch web2 = MakeBatch("b", 1, 1, "g", v1::METRIC_TYPE_GAUGE,
                             {{"host", "web-2"}, {"dc", "ams"}}, {{1000, 10}, {2000, 20}});
  std::vector<BatchWrite> w = {WriteOf(web1), WriteOf(web2)};
  ASSERT_TRUE(store_->WriteBatches(w).ok());

  auto window = store_->QuerySeries({"g", {{"host", "web-1"}}, kHour0 + 1000, kHour0 + 3000, 0});
  ASSERT_TRUE(window.ok());
  ASSERT_EQ(window->size(), 1u);
  EXPECT_EQ((*window)[0].values, (std::vector<double>{1, 2, 3}));
  EXPECT_EQ((*window)[0].timestamps_ms,
            (std::vector<int64_t>{kHour0 + 1000, kHour0 + 2000, kHour0 + 3000}));
  EXPECT_EQ((*window)[0].labels, (LabelSet{{"dc", "ams"}, {"host", "web-1"}}));

  auto limited = store_->QuerySeries({"g", {{"host", "web-1"}}, kHour0, kHour0 + 4000, 2});
  ASSERT_TRUE(limited.ok());
  ASSERT_EQ(limited->size(), 1u);
  EXPECT_EQ((*limited)[0].values, (std::vector<double>{0, 1}));

  // Both series match {dc="ams"}; a series without points in the window is still listed.
  auto both = store_->QuerySeries({"g", {{"dc", "ams"}}, kHour0 + 3000, kHour0 + 4000, 0});
  ASSERT_TRUE(both.ok());
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ((*both)[0].values, (std::vector<double>{3, 4}));
  EXPECT_TRUE((*both)[1].values.empty());

  auto none = store_->QuerySeries({"g", {{"dc", "fra"}}, 0, INT64_MAX, 0});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_P(StoreConformance, SelectorsMatchLabelsByEqualityInequalityAndGlob) {
  for (const char* host : {"web-1", "web-2", "db-1", "db-3"}) {
    v1::Batch b = MakeBatch(host, 1, 1, "g", v1::METRIC_TYPE_GAUGE,
                            {{"host", host}, {"env", "prod"}}, {{0, 1}});
    std::vector<BatchWrite> w = {WriteOf(b)};
    ASSERT_TRUE(store_->WriteBatches(w).ok());
  }
  using Op = LabelMatcher::Op;
  auto hosts = [&](std::vector<LabelMatcher> matchers) {
    std::vector<std::string> out;
    auto found = store_->FindSeries({"g", std::move(matchers)});
    EXPECT_TRUE(found.ok()) << found.status();
    if (!found.ok()) return out;
    for (const SeriesInfo& s : *found) out.push_back(s.agent_id);
    std::sort(out.begin(), out.end());
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(hosts({{"host", Op::kEqual, "web-1"}}), V{"web-1"});
  EXPECT_EQ(hosts({{"host", Op::kGlob, "web-*"}}), (V{"web-1", "web-2"}));
  EXPECT_EQ(hosts({{"host", Op::kGlob, "db-[12]"}}), V{"db-1"});
  EXPECT_EQ(hosts({{"host", Op::kGlob, "?eb-2"}}), V{"web-2"});
  EXPECT_EQ(hosts({{"host", Op::kNotEqual, "web-1"}}), (V{"db-1", "db-3", "web-2"}));
  EXPECT_EQ(hosts({{"host", Op::kGlob, "web-*"}, {"host", Op::kNotEqual, "web-2"}}), V{"web-1"});
  EXPECT_EQ(hosts({{"env", Op::kEqual, "prod"}}).size(), 4u);
  // An absent label is the empty string.
  EXPECT_EQ(hosts({{"absent", Op::kEqual, ""}}).size(), 4u);
  EXPECT_TRUE(hosts({{"absent", Op::kGlob, "?*"}}).empty());
  EXPECT_TRUE(hosts({{"host", Op::kGlob, "mail-*"}}).empty());
  auto other_name = store_->FindSeries({"h", {}});
  ASSERT_TRUE(other_name.ok());
  EXPECT_TRUE(other_name->empty());
  // A series created after a selector was answered is found by the next one.
  v1::Batch later = MakeBatch("web-9", 1, 1, "g", v1::METRIC_TYPE_GAUGE,
                              {{"host", "web-9"}, {"env", "prod"}}, {{0, 1}});
  std::vector<BatchWrite> w = {WriteOf(later)};
  ASSERT_TRUE(store_->WriteBatches(w).ok());
  EXPECT_EQ(hosts({{"host", Op::kGlob, "web-*"}}), (V{"web-1", "web-2", "web-9"}));
}

// --- rollups and aggregates ------------------------------------------------

TEST_P(StoreConformance, CounterIncreaseIsResetAwareAndCrossesBucketBoundaries) {
  // Minute 0: 10, 15, then a reset to 5. Minute 1: 8.
  // Increase in minute 0: (15-10) + 5 (reset: the new value) = 10; minute 1: 8-5 = 3.
  Write("requests_total", v1::METRIC_TYPE_COUNTER, {{0, 10}, {20000, 15}, {40000, 5}, {60000, 8}});
  AggregateSource src;
  auto raw = Buckets("requests_total", 0, 2 * kMin, kMin, &src);
  ASSERT_EQ(raw.size(), 2u);
  EXPECT_EQ(raw[0].start_ms, kHour0);
  EXPECT_EQ(raw[0].increase, 10);
  EXPECT_EQ(raw[1].increase, 3);
  EXPECT_EQ(raw[0].count, 3u);
  EXPECT_EQ(raw[0].first, 10);
  EXPECT_EQ(raw[0].first_ms, kHour0);
  EXPECT_EQ(raw[0].last, 5);
  EXPECT_EQ(raw[0].last_ms, kHour0 + 40000);
  EXPECT_EQ(raw[0].min, 5);
  EXPECT_EQ(raw[0].max, 15);
  EXPECT_EQ(raw[0].sum, 30);
  EXPECT_EQ(src.raw_samples, 4u);
  EXPECT_EQ(src.minute_buckets, 0u);

  // After maintenance the same answer comes from minute rollups.
  MaintenanceReport report = Maintain(10 * kMin);
  EXPECT_EQ(report.minutes_rolled_up, 8u);  // minutes 0..7; 8 and 9 are within the grace
  auto rolled = Buckets("requests_total", 0, 2 * kMin, kMin, &src);
  ASSERT_EQ(rolled.size(), 2u);
  EXPECT_EQ(rolled[0].increase, 10);
  EXPECT_EQ(rolled[1].increase, 3);
  EXPECT_EQ(rolled[1].first, 8);
  EXPECT_EQ(rolled[1].last_ms, kHour0 + 60000);
  EXPECT_EQ(src.raw_samples, 0u);
  EXPECT_EQ(src.minute_buckets, 2u);

  // One bucket over both minutes: 13.
  auto whole = Buckets("requests_total", 0, 2 * kMin, 2 * kMin);
  ASSERT_EQ(whole.size(), 1u);
  EXPECT_EQ(whole[0].increase, 13);
  EXPECT_EQ(whole[0].count, 4u);
  EXPECT_EQ(whole[0].first, 10);
  EXPECT_EQ(whole[0].last, 8);
  EXPECT_EQ(whole[0].min, 5);
  EXPECT_EQ(whole[0].max, 15);
}

TEST_P(StoreConformance, TheStepFromThePreviousBucketCountsEvenWhenTheQueryStartsLater) {
  Write("c", v1::METRIC_TYPE_COUNTER, {{50000, 100}, {70000, 104}});
  // Minute 1 alone: 104 - 100, the step from minute 0's sample.
  auto raw = Buckets("c", kMin, 2 * kMin, kMin);
  ASSERT_EQ(raw.size(), 1u);
  EXPECT_EQ(raw[0].increase, 4);
  EXPECT_EQ(raw[0].count, 1u);
  Maintain(10 * kMin);
  auto rolled = Buckets("c", kMin, 2 * kMin, kMin);
  ASSERT_EQ(rolled.size(), 1u);
  EXPECT_EQ(rolled[0].increase, 4);
}

TEST_P(StoreConformance, IncreaseIsTheSameFromRawSamplesAndRollupsAfterALongGap) {
  // 20 minutes without samples (longer than the 15-minute lookback): the step
  // over the gap is not counted, however the window is cut.
  Write("c", v1::METRIC_TYPE_COUNTER, {{0, 10}, {20 * kMin, 15}, {21 * kMin, 17}});
  auto whole_raw = Buckets("c", 0, 30 * kMin, 30 * kMin);
  ASSERT_EQ(whole_raw.size(), 1u);
  EXPECT_EQ(whole_raw[0].increase, 2);
  auto late_window = Buckets("c", 20 * kMin, 30 * kMin, 30 * kMin);
  ASSERT_EQ(late_window.size(), 1u);
  EXPECT_EQ(late_window[0].increase, 2);
  Maintain(2 * kHour);
  AggregateSource src;
  auto rolled = Buckets("c", 0, 30 * kMin, 30 * kMin, &src);
  ASSERT_EQ(rolled.size(), 1u);
  EXPECT_EQ(src.raw_samples, 0u);
  EXPECT_EQ(rolled[0].increase, 2);
  auto hour = Buckets("c", 0, kHour, kHour, &src);
  ASSERT_EQ(hour.size(), 1u);
  EXPECT_EQ(src.hour_buckets, 1u);
  EXPECT_EQ(hour[0].increase, 2);
}

TEST_P(StoreConformance, LongWindowsComeFromHourRollupsNotRawPoints) {
  // A gauge every 10 s for 3 hours: value = minute index.
  std::vector<Pt> points;
  for (int64_t t = 0; t < 3 * kHour; t += 10000)
    points.push_back({t, static_cast<double>(t / kMin)});
  Write("host_memory_used_bytes", v1::METRIC_TYPE_GAUGE, points);
  MaintenanceReport m = Maintain(4 * kHour);
  EXPECT_EQ(m.hours_rolled_up, 3u);
  AggregateSource src;
  auto hours = Buckets("host_memory_used_bytes", 0, 3 * kHour, kHour, &src);
  ASSERT_EQ(hours.size(), 3u);
  EXPECT_EQ(src.hour_buckets, 3u);
  EXPECT_EQ(src.minute_buckets, 0u);
  EXPECT_EQ(src.raw_samples, 0u);
  // Hour 1 holds minutes 60..119, six samples each: mean 89.5, min 60, max 119.
  EXPECT_EQ(hours[1].start_ms, kHour0 + kHour);
  EXPECT_EQ(hours[1].count, 360u);
  EXPECT_DOUBLE_EQ(hours[1].Mean(), 89.5);
  EXPECT_EQ(hours[1].min, 60);
  EXPECT_EQ(hours[1].max, 119);
  EXPECT_EQ(hours[1].first, 60);
  EXPECT_EQ(hours[1].first_ms, kHour0 + kHour);
  EXPECT_EQ(hours[1].last, 119);
  EXPECT_EQ(hours[1].last_ms, kHour0 + 2 * kHour - 10000);

  // A window that does not start on an hour mixes minute and hour rollups.
  auto mixed = Buckets("host_memory_used_bytes", 30 * kMin, 150 * kMin, 120 * kMin, &src);
  ASSERT_EQ(mixed.size(), 1u);
  EXPECT_EQ(mixed[0].count, 720u);
  EXPECT_EQ(src.hour_buckets, 1u);     // hour 1
  EXPECT_EQ(src.minute_buckets, 60u);  // minutes 30..59 and 120..149
  EXPECT_EQ(src.raw_samples, 0u);
  EXPECT_DOUBLE_EQ(mixed[0].Mean(), 89.5);

  // Buckets of 30 minutes do not fit whole hours: minute rollups only.
  auto halves = Buckets("host_memory_used_bytes", 0, kHour, 30 * kMin, &src);
  ASSERT_EQ(halves.size(), 2u);
  EXPECT_EQ(src.hour_buckets, 0u);
  EXPECT_EQ(src.minute_buckets, 60u);
  EXPECT_DOUBLE_EQ(halves[1].Mean(), 44.5);
}

TEST_P(StoreConformance, CalendarBucketsReadWholeHoursFromHourRollupsWhateverTheStart) {
  // A gauge every 10 s for 4 hours: value = minute index.
  std::vector<Pt> points;
  for (int64_t t = 0; t < 4 * kHour; t += 10000)
    points.push_back({t, static_cast<double>(t / kMin)});
  Write("host_memory_used_bytes", v1::METRIC_TYPE_GAUGE, points);
  Maintain(5 * kHour);
  // Hourly buckets from minute 25 to minute 205: counted from the start,
  // every bucket straddles two hours and only minute rollups answer.
  AggregateSource src;
  auto straddling = Buckets("host_memory_used_bytes", 25 * kMin, 205 * kMin, kHour, &src);
  ASSERT_EQ(straddling.size(), 3u);
  EXPECT_EQ(src.hour_buckets, 0u);
  EXPECT_EQ(src.minute_buckets, 180u);
  // On the calendar: 25..59, hours 1 and 2, 180..204.
  auto got = CalendarAggregates(*store_, {"host_memory_used_bytes", {}}, kHour0 + 25 * kMin,
                                kHour0 + 205 * kMin, kHour, &src);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  const std::vector<Aggregate>& b = (*got)[0].buckets;
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(src.hour_buckets, 2u);
  EXPECT_EQ(src.minute_buckets, 35u + 25u);
  EXPECT_EQ(src.raw_samples, 0u);
  EXPECT_EQ(b[0].start_ms, kHour0 + 25 * kMin);
  EXPECT_EQ(b[0].count, 35u * 6);
  EXPECT_DOUBLE_EQ(b[0].Mean(), 42);  // minutes 25..59
  EXPECT_EQ(b[1].start_ms, kHour0 + kHour);
  EXPECT_DOUBLE_EQ(b[1].Mean(), 89.5);
  EXPECT_EQ(b[2].start_ms, kHour0 + 2 * kHour);
  EXPECT_EQ(b[3].start_ms, kHour0 + 3 * kHour);
  EXPECT_EQ(b[3].count, 25u * 6);
  EXPECT_DOUBLE_EQ(b[3].Mean(), 192);  // minutes 180..204
  EXPECT_EQ(b[3].min, 180);
  EXPECT_EQ(b[3].max, 204);

  // Within one step, or with a step that is not whole hours: one call.
  auto inside = CalendarAggregates(*store_, {"host_memory_used_bytes", {}}, kHour0 + 10 * kMin,
                                   kHour0 + 20 * kMin, kHour, &src);
  ASSERT_TRUE(inside.ok());
  ASSERT_EQ((*inside)[0].buckets.size(), 1u);
  EXPECT_EQ((*inside)[0].buckets[0].start_ms, kHour0 + 10 * kMin);
  EXPECT_EQ((*inside)[0].buckets[0].count, 60u);
  auto halves = CalendarAggregates(*store_, {"host_memory_used_bytes", {}}, kHour0 + 10 * kMin,
                                   kHour0 + 70 * kMin, 30 * kMin, &src);
  ASSERT_TRUE(halves.ok());
  ASSERT_EQ((*halves)[0].buckets.size(), 2u);
  EXPECT_EQ((*halves)[0].buckets[1].start_ms, kHour0 + 40 * kMin);
  // Days on UTC midnights: kHour0 is 22:00Z, so 22:30..00:00 and 00:00..02:00.
  auto day = CalendarAggregates(*store_, {"host_memory_used_bytes", {}}, kHour0 + 30 * kMin,
                                kHour0 + 4 * kHour, 24 * kHour, &src);
  ASSERT_TRUE(day.ok());
  ASSERT_EQ((*day)[0].buckets.size(), 2u);
  EXPECT_EQ((*day)[0].buckets[0].count, 90u * 6);
  EXPECT_EQ((*day)[0].buckets[1].start_ms, kHour0 + 2 * kHour);
  EXPECT_EQ((*day)[0].buckets[1].count, 120u * 6);
  EXPECT_EQ(src.hour_buckets, 3u);
  EXPECT_EQ(src.minute_buckets, 30u);
}

TEST_P(StoreConformance, AggregatesCoverEverySeriesTheSelectorMatches) {
  v1::Batch web1 =
      MakeBatch("a", 1, 1, "g", v1::METRIC_TYPE_GAUGE, {{"host", "web-1"}}, {{0, 1}, {kMin, 3}});
  v1::Batch web2 = MakeBatch("b", 1, 1, "g", v1::METRIC_TYPE_GAUGE, {{"host", "web-2"}}, {{0, 10}});
  v1::Batch db = MakeBatch("c", 1, 1, "g", v1::METRIC_TYPE_GAUGE, {{"host", "db-1"}}, {{0, 100}});
  std::vector<BatchWrite> w = {WriteOf(web1), WriteOf(web2), WriteOf(db)};
  ASSERT_TRUE(store_->WriteBatches(w).ok());
  auto got = store_->Aggregates({"g", {{"host", LabelMatcher::Op::kGlob, "web-*"}}}, kHour0,
                                kHour0 + 2 * kMin, 2 * kMin);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].series.agent_id, "a");
  EXPECT_EQ((*got)[0].series.type, v1::METRIC_TYPE_GAUGE);
  ASSERT_EQ((*got)[0].buckets.size(), 1u);
  EXPECT_EQ((*got)[0].buckets[0].sum, 4);
  EXPECT_EQ((*got)[1].series.agent_id, "b");
  ASSERT_EQ((*got)[1].buckets.size(), 1u);
  EXPECT_EQ((*got)[1].buckets[0].sum, 10);
  // A window with no samples lists the series with no buckets.
  auto empty = store_->Aggregates({"g", {}}, kHour0 + kHour, kHour0 + 2 * kHour, kMin);
  ASSERT_TRUE(empty.ok());
  ASSERT_EQ(empty->size(), 3u);
  EXPECT_TRUE((*empty)[0].buckets.empty());
}

TEST_P(StoreConformance, LateDataIsFoldedIntoRollupsAlreadyMade) {
  Write("errors_total", v1::METRIC_TYPE_COUNTER, {{0, 1}, {2 * kMin, 4}});
  Maintain(70 * kMin);
  auto before = Buckets("errors_total", 0, 3 * kMin, 3 * kMin);
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0].increase, 3);
  EXPECT_EQ(before[0].count, 2u);
  // A sample for minute 1 arrives late (an agent's spool replay): 2.
  Write("errors_total", v1::METRIC_TYPE_COUNTER, {{kMin, 2}});
  MaintenanceReport report = Maintain(71 * kMin);
  EXPECT_GE(report.late_minutes_recomputed, 2u);
  AggregateSource src;
  auto after = Buckets("errors_total", 0, 3 * kMin, kMin, &src);
  EXPECT_EQ(src.raw_samples, 0u);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(after[1].increase, 1);  // 1 -> 2
  EXPECT_EQ(after[1].count, 1u);
  EXPECT_EQ(after[2].increase, 2);  // 2 -> 4
  // And the hour rollup agrees.
  auto hour = Buckets("errors_total", 0, kHour, kHour, &src);
  ASSERT_EQ(hour.size(), 1u);
  EXPECT_EQ(src.hour_buckets, 1u);
  EXPECT_EQ(hour[0].count, 3u);
  EXPECT_EQ(hour[0].increase, 3);
  EXPECT_EQ(hour[0].sum, 7);
}

TEST_P(StoreConformance, LateDataCorrectsTheNextSampleEvenMinutesLater) {
  // A counter sampled every 5 minutes; the sample of minute 6 arrives late.
  Write("c", v1::METRIC_TYPE_COUNTER, {{kMin, 10}, {11 * kMin, 40}});
  Maintain(70 * kMin);
  Write("c", v1::METRIC_TYPE_COUNTER, {{6 * kMin, 20}});
  Maintain(71 * kMin);
  AggregateSource src;
  auto minutes = Buckets("c", 0, 15 * kMin, kMin, &src);
  EXPECT_EQ(src.raw_samples, 0u);
  ASSERT_EQ(minutes.size(), 3u);
  EXPECT_EQ(minutes[1].start_ms, kHour0 + 6 * kMin);
  EXPECT_EQ(minutes[1].increase, 10);  // 10 -> 20
  EXPECT_EQ(minutes[2].start_ms, kHour0 + 11 * kMin);
  EXPECT_EQ(minutes[2].increase, 20);  // 20 -> 40, no longer 10 -> 40
  auto hour = Buckets("c", 0, kHour, kHour, &src);
  ASSERT_EQ(hour.size(), 1u);
  EXPECT_EQ(src.hour_buckets, 1u);
  EXPECT_EQ(hour[0].increase, 30);
}

TEST_P(StoreConformance, RetentionDropsRawOnlyAfterItIsRolledUp) {
  Write("g", v1::METRIC_TYPE_GAUGE, {{0, 1}, {kMin, 2}, {3 * kHour, 5}});
  RetentionPolicy keep_raw_one_minute;
  keep_raw_one_minute.raw_ms = kMin;
  // At 3h + 1m, raw older than 3h is past retention, but only what is
  // rolled up (before 3h - 1m) may go: the first two samples.
  MaintenanceReport report = Maintain(3 * kHour + kMin, keep_raw_one_minute);
  EXPECT_EQ(report.raw_deleted, 2u);
  auto raw = store_->QuerySeries({"g", {}, kHour0, kHour0 + 4 * kHour, 0});
  ASSERT_TRUE(raw.ok());
  ASSERT_EQ(raw->size(), 1u);
  EXPECT_EQ((*raw)[0].values, std::vector<double>{5});
  // The rollups still answer.
  auto agg = Buckets("g", 0, 2 * kMin, 2 * kMin);
  ASSERT_EQ(agg.size(), 1u);
  EXPECT_EQ(agg[0].sum, 3);
  EXPECT_EQ(agg[0].count, 2u);
}

TEST_P(StoreConformance, RetentionKeepsTheSamplesTheNextRollupStepsFrom) {
  // A counter going up by one every 30 s for 70 minutes.
  std::vector<Pt> points;
  for (int64_t t = 0; t < 70 * kMin; t += 30000)
    points.push_back({t, static_cast<double>(t / 30000)});
  Write("c", v1::METRIC_TYPE_COUNTER, points);
  RetentionPolicy keep_raw_one_minute;
  keep_raw_one_minute.raw_ms = kMin;
  // Rolls up minutes 0..59; raw data goes, but for the last 15 minutes
  // and in whole 10-minute windows: minutes 0..39.
  EXPECT_EQ(Maintain(62 * kMin, keep_raw_one_minute).raw_deleted, 80u);
  Maintain(72 * kMin, keep_raw_one_minute);
  AggregateSource src;
  auto minute60 = Buckets("c", 60 * kMin, 61 * kMin, kMin, &src);
  EXPECT_EQ(src.minute_buckets, 1u);
  ASSERT_EQ(minute60.size(), 1u);
  EXPECT_EQ(minute60[0].increase, 2);  // 119 -> 120 -> 121
  auto all = Buckets("c", 0, 70 * kMin, 70 * kMin);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].increase, 139);
  EXPECT_EQ(all[0].count, 140u);
}

TEST_P(StoreConformance, MinuteRollupsAreKeptUntilHourRollupsCoverThem) {
  Write("g", v1::METRIC_TYPE_GAUGE, {{0, 1}, {kMin, 2}});
  RetentionPolicy short_minutes;
  short_minutes.raw_ms = kMin;
  short_minutes.minute_ms = 2 * kMin;
  MaintenanceReport report = Maintain(3 * kHour, short_minutes);
  EXPECT_EQ(report.rollups_deleted, 2u);  // both minutes, hour 0 covers them
  AggregateSource src;
  auto hour = Buckets("g", 0, kHour, kHour, &src);
  ASSERT_EQ(hour.size(), 1u);
  EXPECT_EQ(src.hour_buckets, 1u);
  EXPECT_EQ(hour[0].sum, 3);
}

TEST_P(StoreConformance, LateDataOlderThanRawRetentionLeavesRollupsIntact) {
  Write("g", v1::METRIC_TYPE_GAUGE, {{0, 1}, {kMin, 2}});
  RetentionPolicy keep_raw_one_minute;
  keep_raw_one_minute.raw_ms = kMin;
  EXPECT_EQ(Maintain(2 * kHour, keep_raw_one_minute).raw_deleted, 2u);
  // A sample for minute 0 arrives after its raw neighbours were deleted:
  // recomputing minute 0 from raw data would keep only this one.
  Write("g", v1::METRIC_TYPE_GAUGE, {{30000, 100}});
  Maintain(2 * kHour + 30000, keep_raw_one_minute);
  auto agg = Buckets("g", 0, 2 * kMin, kMin);
  ASSERT_EQ(agg.size(), 2u);
  EXPECT_EQ(agg[0].sum, 1);
  EXPECT_EQ(agg[0].count, 1u);
  EXPECT_EQ(agg[1].sum, 2);
  auto hour = Buckets("g", 0, kHour, kHour);
  ASSERT_EQ(hour.size(), 1u);
  EXPECT_EQ(hour[0].sum, 3);
}

TEST_P(StoreConformance, ABackfilledHistoryOlderThanRawRetentionIsRolledUpNotLost) {
  // The store runs (its rollups are at 3 h) when an hour of history from
  // long before arrives: a counter every minute, a new series.
  Write("now", v1::METRIC_TYPE_GAUGE, {{3 * kHour, 1}});
  RetentionPolicy keep_raw_one_minute;
  keep_raw_one_minute.raw_ms = kMin;
  Maintain(3 * kHour + 2 * kMin, keep_raw_one_minute);
  std::vector<Pt> history;
  for (int64_t t = 0; t < kHour; t += kMin) history.push_back({t, static_cast<double>(t / kMin)});
  Write("backfilled_total", v1::METRIC_TYPE_COUNTER, history);
  MaintenanceReport report;
  for (int i = 0; i < 5; ++i) {
    MaintenanceReport r = Maintain(3 * kHour + (3 + i) * kMin, keep_raw_one_minute);
    report.late_minutes_recomputed += r.late_minutes_recomputed;
  }
  EXPECT_GE(report.late_minutes_recomputed, 60u);
  // Its raw samples are gone now (past retention), and its rollups answer.
  auto raw = store_->QuerySeries({"backfilled_total", {}, kHour0, kHour0 + kHour, 0});
  ASSERT_TRUE(raw.ok());
  EXPECT_TRUE(raw->empty() || (*raw)[0].values.empty());
  AggregateSource src;
  auto hour = Buckets("backfilled_total", 0, kHour, kHour, &src);
  ASSERT_EQ(hour.size(), 1u);
  EXPECT_EQ(src.hour_buckets, 1u);
  EXPECT_EQ(hour[0].count, 60u);
  EXPECT_EQ(hour[0].increase, 59);
  auto minutes = Buckets("backfilled_total", 0, 10 * kMin, kMin, &src);
  ASSERT_EQ(minutes.size(), 10u);
  EXPECT_EQ(minutes[5].increase, 1);
}

TEST_P(StoreConformance, MaintenanceStateSurvivesAReopen) {
  Write("c", v1::METRIC_TYPE_COUNTER, {{0, 1}, {kMin, 2}});
  Maintain(70 * kMin);
  Reopen();
  // Nothing to roll up again; late data after the reopen is still recognised.
  MaintenanceReport again = Maintain(70 * kMin);
  EXPECT_EQ(again.minutes_rolled_up, 0u);
  Write("c", v1::METRIC_TYPE_COUNTER, {{2 * kMin, 5}});
  EXPECT_GE(Maintain(71 * kMin).late_minutes_recomputed, 1u);
  AggregateSource src;
  auto hour = Buckets("c", 0, kHour, kHour, &src);
  ASSERT_EQ(hour.size(), 1u);
  EXPECT_EQ(src.hour_buckets, 1u);
  EXPECT_EQ(hour[0].increase, 4);
  EXPECT_EQ(hour[0].count, 3u);
}

TEST_P(StoreConformance, BadStepOrInvertedWindowIsAnError) {
  EXPECT_EQ(store_->Aggregates({"g", {}}, 0, kMin, 1000).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Aggregates({"g", {}}, 0, kMin, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Aggregates({"g", {}}, kMin, 0, kMin).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreConformance, RelaxedDurabilityStoresTheSame) {
  store_.reset();
  auto relaxed = Open(Durability::kRelaxed);
  ASSERT_TRUE(relaxed.ok()) << relaxed.status();
  v1::Batch b = MakeBatch("a", 1, 1, "g", v1::METRIC_TYPE_GAUGE, {}, {{0, 1}});
  std::vector<BatchWrite> w = {WriteOf(b)};
  ASSERT_TRUE((*relaxed)->WriteBatches(w).ok());
  EXPECT_TRUE(w[0].stored);
  EXPECT_TRUE((*relaxed)->CheckIntegrity().ok());
}

TEST_P(StoreConformance, DeclaredIncidentsAndNotesAreKeptAndFoundByOverlap) {
  DeclaredIncident a{"inc-1", "Checkout slow", 1000, 5000, {"checkout", "payments"}, "alice", 900};
  DeclaredIncident open{"inc-2", "Search down", 8000, 0, {"search"}, "bob", 7900};
  ASSERT_TRUE(store_->PutIncident(a).ok());
  ASSERT_TRUE(store_->PutIncident(open).ok());
  ASSERT_TRUE(store_->AddIncidentNote({"inc-1", 2000, "alice", "rolled back 1.4.2"}).ok());
  ASSERT_TRUE(store_->AddIncidentNote({"inc-1", 1500, "bob", "paged the PSP"}).ok());
  ASSERT_TRUE(store_->AddIncidentNote({"auto-psp-20261127T0800Z", 1, "carol", "x"}).ok());

  auto all = store_->DeclaredIncidents(0, 100000);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, "inc-1");
  EXPECT_EQ((*all)[0].services, std::vector<std::string>({"checkout", "payments"}));
  EXPECT_EQ((*all)[0].declared_by, "alice");
  EXPECT_EQ((*all)[0].declared_ms, 900);
  EXPECT_EQ((*all)[1].to_ms, 0);

  // [5000, 7000) touches neither: inc-1 ends at 5000 (half-open), inc-2 starts at 8000.
  auto none = store_->DeclaredIncidents(5000, 7000);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  // An open incident overlaps everything after its start.
  auto later = store_->DeclaredIncidents(1000000, 2000000);
  ASSERT_TRUE(later.ok());
  ASSERT_EQ(later->size(), 1u);
  EXPECT_EQ((*later)[0].id, "inc-2");

  // Closing replaces by id.
  open.to_ms = 9000;
  ASSERT_TRUE(store_->PutIncident(open).ok());
  later = store_->DeclaredIncidents(1000000, 2000000);
  ASSERT_TRUE(later.ok());
  EXPECT_TRUE(later->empty());

  auto notes = store_->IncidentNotes("inc-1");
  ASSERT_TRUE(notes.ok()) << notes.status();
  ASSERT_EQ(notes->size(), 2u);
  EXPECT_EQ((*notes)[0].text, "paged the PSP");
  EXPECT_EQ((*notes)[1].author, "alice");
  auto reopened = Open();
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  store_ = std::move(*reopened);
  notes = store_->IncidentNotes("auto-psp-20261127T0800Z");
  ASSERT_TRUE(notes.ok());
  EXPECT_EQ(notes->size(), 1u);
}

}  // namespace
}  // namespace plumbline::collector
