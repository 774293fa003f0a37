#include "collector/store/sqlite_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "collector/store/flatten.h"

namespace plumbline::collector {

namespace {

// Numbered migrations: entry i brings the schema from version i to i + 1.
// Never edit a released entry; append a new one.
constexpr const char* kMigrations[] = {
    // 1: agents, batch identities for exactly-once, series index, raw samples.
    R"sql(
    CREATE TABLE agents (
      agent_id TEXT PRIMARY KEY,
      hostname TEXT NOT NULL DEFAULT '',
      version TEXT NOT NULL DEFAULT '',
      os TEXT NOT NULL DEFAULT '',
      labels TEXT NOT NULL DEFAULT '',
      cpu_count INTEGER NOT NULL DEFAULT 0,
      memory_bytes INTEGER NOT NULL DEFAULT 0,
      first_seen_ms INTEGER NOT NULL,
      last_seen_ms INTEGER NOT NULL,
      epoch INTEGER NOT NULL DEFAULT 0,
      last_sequence INTEGER NOT NULL DEFAULT 0,
      batches INTEGER NOT NULL DEFAULT 0,
      samples INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE batches (
      agent_id TEXT NOT NULL,
      epoch INTEGER NOT NULL,
      sequence INTEGER NOT NULL,
      received_ms INTEGER NOT NULL,
      samples INTEGER NOT NULL,
      PRIMARY KEY (agent_id, epoch, sequence)
    ) WITHOUT ROWID;
    CREATE TABLE series (
      id INTEGER PRIMARY KEY,
      agent_id TEXT NOT NULL,
      name TEXT NOT NULL,
      labels TEXT NOT NULL,
      UNIQUE (agent_id, name, labels)
    );
    CREATE INDEX series_by_name ON series (name);
    CREATE TABLE samples (
      series_id INTEGER NOT NULL,
      ts_ms INTEGER NOT NULL,
      value REAL NOT NULL,
      PRIMARY KEY (series_id, ts_ms)
    ) WITHOUT ROWID;
    )sql",
};

// RAII prepared statement.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  absl::Status status() const {
    if (rc_ == SQLITE_OK) return absl::OkStatus();
    return absl::InternalError(StrCat("sqlite prepare: ", sqlite3_errmsg(db_)));
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& Bind(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(stmt_); }
  absl::Status Run() {
    int rc = Step();
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
      sqlite3_reset(stmt_);
      return absl::OkStatus();
    }
    absl::Status s = absl::InternalError(StrCat("sqlite: ", sqlite3_errmsg(db_)));
    sqlite3_reset(stmt_);
    return s;
  }
  void Reset() { sqlite3_reset(stmt_); }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string Text(int col) const {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(t));
  }
  absl::Status Error() const {
    return absl::InternalError(StrCat("sqlite: ", sqlite3_errmsg(db_)));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

LabelSet ToLabelSet(const google::protobuf::RepeatedPtrField<v1::Label>& labels) {
  LabelSet out;
  out.reserve(static_cast<size_t>(labels.size()));
  for (const auto& l : labels) out.emplace_back(l.name(), l.value());
  std::sort(out.begin(), out.end());
  return out;
}

LabelSet ParseLabelsOrEmpty(const std::string& text) {
  absl::StatusOr<LabelSet> parsed = ParseCanonicalLabels(text);
  return parsed.ok() ? *std::move(parsed) : LabelSet{};
}

}  // namespace

int SqliteStore::SchemaVersion() { return static_cast<int>(std::size(kMigrations)); }

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               Durability durability) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::UnavailableError(StrCat(path, ": cannot open database: ", msg));
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(db));
  sqlite3_busy_timeout(db, 5000);
  RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL"));
  RETURN_IF_ERROR(store->Exec(durability == Durability::kFull ? "PRAGMA synchronous=FULL"
                                                              : "PRAGMA synchronous=NORMAL"));
  RETURN_IF_ERROR(store->Exec("PRAGMA foreign_keys=ON"));
  absl::Status migrated = store->Migrate();
  if (!migrated.ok()) {
    return absl::Status(migrated.code(), StrCat(path, ": ", migrated.message()));
  }
  return store;
}

SqliteStore::~SqliteStore() { sqlite3_close(db_); }

absl::Status SqliteStore::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    return absl::InternalError(StrCat("sqlite: ", msg));
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::Migrate() {
  Stmt version(db_, "PRAGMA user_version");
  RETURN_IF_ERROR(version.status());
  if (version.Step() != SQLITE_ROW) return version.Error();
  int64_t current = version.Int(0);
  if (current > SchemaVersion()) {
    return absl::FailedPreconditionError(
        StrCat("database schema version ", current, " is newer than this collector's (",
                     SchemaVersion(), "); upgrade the collector"));
  }
  for (int64_t v = current; v < SchemaVersion(); ++v) {
    RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    absl::Status s = Exec(kMigrations[v]);
    if (s.ok()) s = Exec(StrCat("PRAGMA user_version=", v + 1).c_str());
    if (!s.ok()) {
      (void)Exec("ROLLBACK");
      return absl::InternalError(StrCat("migration ", v + 1, ": ", s.message()));
    }
    RETURN_IF_ERROR(Exec("COMMIT"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> SqliteStore::SeriesId(const std::string& agent_id, const std::string& name,
                                              const std::string& canonical_labels) {
  std::string key = StrCat(agent_id, std::string_view("\0", 1), name,
                                 std::string_view("\0", 1), canonical_labels);
  auto it = series_ids_.find(key);
  if (it != series_ids_.end()) return it->second;
  Stmt insert(db_, "INSERT OR IGNORE INTO series (agent_id, name, labels) VALUES (?, ?, ?)");
  RETURN_IF_ERROR(insert.status());
  RETURN_IF_ERROR(insert.Bind(1, agent_id).Bind(2, name).Bind(3, canonical_labels).Run());
  Stmt select(db_, "SELECT id FROM series WHERE agent_id = ? AND name = ? AND labels = ?");
  RETURN_IF_ERROR(select.status());
  select.Bind(1, agent_id).Bind(2, name).Bind(3, canonical_labels);
  if (select.Step() != SQLITE_ROW) return select.Error();
  int64_t id = select.Int(0);
  series_ids_.emplace(std::move(key), id);
  return id;
}

absl::Status SqliteStore::WriteOne(BatchWrite& write) {
  const v1::Batch& batch = *write.batch;
  Stmt claim(db_,
             "INSERT OR IGNORE INTO batches (agent_id, epoch, sequence, received_ms, samples) "
             "VALUES (?, ?, ?, ?, 0)");
  RETURN_IF_ERROR(claim.status());
  RETURN_IF_ERROR(claim.Bind(1, batch.agent_id())
                      .Bind(2, static_cast<int64_t>(batch.epoch()))
                      .Bind(3, static_cast<int64_t>(batch.sequence()))
                      .Bind(4, write.received_ms)
                      .Run());
  if (sqlite3_changes(db_) == 0) {
    write.stored = false;
    return absl::OkStatus();
  }
  Stmt insert(db_, "INSERT OR REPLACE INTO samples (series_id, ts_ms, value) VALUES (?, ?, ?)");
  RETURN_IF_ERROR(insert.status());
  std::vector<FlatSample> flat;
  uint64_t samples = 0;
  for (int index : write.series) {
    const v1::Series& series = batch.series(index);
    LabelSet labels = ToLabelSet(series.labels());
    for (const v1::Point& point : series.points()) {
      flat.clear();
      FlattenPoint(series.name(), labels, point, &flat);
      for (const FlatSample& s : flat) {
        ASSIGN_OR_RETURN(int64_t id, SeriesId(batch.agent_id(), s.name, CanonicalLabels(s.labels)));
        RETURN_IF_ERROR(insert.Bind(1, id).Bind(2, point.timestamp_ms()).Bind(3, s.value).Run());
        ++samples;
      }
    }
  }
  Stmt count(db_,
             "UPDATE batches SET samples = ? WHERE agent_id = ? AND epoch = ? AND sequence = ?");
  RETURN_IF_ERROR(count.status());
  RETURN_IF_ERROR(count.Bind(1, static_cast<int64_t>(samples))
                      .Bind(2, batch.agent_id())
                      .Bind(3, static_cast<int64_t>(batch.epoch()))
                      .Bind(4, static_cast<int64_t>(batch.sequence()))
                      .Run());
  Stmt agent(db_,
             "INSERT INTO agents (agent_id, first_seen_ms, last_seen_ms, epoch, last_sequence, "
             "batches, samples) VALUES (?1, ?2, ?2, ?3, ?4, 1, ?5) "
             "ON CONFLICT (agent_id) DO UPDATE SET last_seen_ms = max(last_seen_ms, ?2), "
             "epoch = ?3, last_sequence = ?4, batches = batches + 1, samples = samples + ?5");
  RETURN_IF_ERROR(agent.status());
  RETURN_IF_ERROR(agent.Bind(1, batch.agent_id())
                      .Bind(2, write.received_ms)
                      .Bind(3, static_cast<int64_t>(batch.epoch()))
                      .Bind(4, static_cast<int64_t>(batch.sequence()))
                      .Bind(5, static_cast<int64_t>(samples))
                      .Run());
  write.stored = true;
  write.samples_written = samples;
  return absl::OkStatus();
}

absl::Status SqliteStore::WriteBatches(std::vector<BatchWrite>& writes) {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  absl::Status s;
  for (BatchWrite& w : writes) {
    s = WriteOne(w);
    if (!s.ok()) break;
  }
  if (s.ok()) s = Exec("COMMIT");
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
    // Ids created inside the rolled-back transaction are gone.
    series_ids_.clear();
    for (BatchWrite& w : writes) {
      w.stored = false;
      w.samples_written = 0;
    }
  }
  return s;
}

absl::Status SqliteStore::UpsertAgent(const v1::AgentInfo& info, int64_t now_ms) {
  std::lock_guard lock(mu_);
  LabelSet labels = ToLabelSet(info.labels());
  Stmt upsert(db_,
              "INSERT INTO agents (agent_id, hostname, version, os, labels, cpu_count, "
              "memory_bytes, first_seen_ms, last_seen_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) "
              "ON CONFLICT (agent_id) DO UPDATE SET hostname = ?2, version = ?3, os = ?4, "
              "labels = ?5, cpu_count = ?6, memory_bytes = ?7, "
              "last_seen_ms = max(last_seen_ms, ?8)");
  RETURN_IF_ERROR(upsert.status());
  return upsert.Bind(1, info.agent_id())
      .Bind(2, info.hostname())
      .Bind(3, info.version())
      .Bind(4, info.os())
      .Bind(5, CanonicalLabels(labels))
      .Bind(6, static_cast<int64_t>(info.cpu_count()))
      .Bind(7, static_cast<int64_t>(info.memory_bytes()))
      .Bind(8, now_ms)
      .Run();
}

absl::StatusOr<std::vector<AgentRecord>> SqliteStore::ListAgents() {
  std::lock_guard lock(mu_);
  Stmt q(db_,
         "SELECT agent_id, hostname, version, os, labels, cpu_count, memory_bytes, first_seen_ms, "
         "last_seen_ms, epoch, last_sequence, batches, samples FROM agents ORDER BY agent_id");
  RETURN_IF_ERROR(q.status());
  std::vector<AgentRecord> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    AgentRecord a;
    a.agent_id = q.Text(0);
    a.hostname = q.Text(1);
    a.version = q.Text(2);
    a.os = q.Text(3);
    a.labels = ParseLabelsOrEmpty(q.Text(4));
    a.cpu_count = static_cast<uint32_t>(q.Int(5));
    a.memory_bytes = static_cast<uint64_t>(q.Int(6));
    a.first_seen_ms = q.Int(7);
    a.last_seen_ms = q.Int(8);
    a.epoch = static_cast<uint64_t>(q.Int(9));
    a.last_sequence = static_cast<uint64_t>(q.Int(10));
    a.batches = static_cast<uint64_t>(q.Int(11));
    a.samples = static_cast<uint64_t>(q.Int(12));
    out.push_back(std::move(a));
  }
  if (rc != SQLITE_DONE) return q.Error();
  return out;
}

absl::StatusOr<std::vector<SampleValue>> SqliteStore::LatestSamples(
    const std::string& agent_id, const std::vector<std::string>& names) {
  std::lock_guard lock(mu_);
  Stmt q(db_,
         "SELECT s.labels, x.ts_ms, x.value FROM series s "
         "JOIN samples x ON x.series_id = s.id "
         "WHERE s.agent_id = ? AND s.name = ? "
         "AND x.ts_ms = (SELECT max(ts_ms) FROM samples WHERE series_id = s.id)");
  RETURN_IF_ERROR(q.status());
  std::vector<SampleValue> out;
  for (const std::string& name : names) {
    q.Bind(1, agent_id).Bind(2, name);
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
      out.push_back({name, ParseLabelsOrEmpty(q.Text(0)), q.Int(1), q.Double(2)});
    }
    if (rc != SQLITE_DONE) return q.Error();
    q.Reset();
  }
  return out;
}

absl::StatusOr<std::vector<SeriesPoints>> SqliteStore::QuerySeries(const SeriesQuery& query) {
  std::lock_guard lock(mu_);
  Stmt series(db_, "SELECT id, labels FROM series WHERE name = ? ORDER BY id");
  RETURN_IF_ERROR(series.status());
  series.Bind(1, query.name);
  std::vector<std::pair<int64_t, LabelSet>> matched;
  int rc;
  while ((rc = series.Step()) == SQLITE_ROW) {
    LabelSet labels = ParseLabelsOrEmpty(series.Text(1));
    bool ok = std::all_of(query.match.begin(), query.match.end(), [&](const auto& m) {
      return std::find(labels.begin(), labels.end(), m) != labels.end();
    });
    if (ok) matched.emplace_back(series.Int(0), std::move(labels));
  }
  if (rc != SQLITE_DONE) return series.Error();
  Stmt points(db_,
              "SELECT ts_ms, value FROM samples WHERE series_id = ? AND ts_ms BETWEEN ? AND ? "
              "ORDER BY ts_ms LIMIT ?");
  RETURN_IF_ERROR(points.status());
  std::vector<SeriesPoints> out;
  for (auto& [id, labels] : matched) {
    SeriesPoints sp{query.name, std::move(labels), {}, {}};
    points.Bind(1, id).Bind(2, query.from_ms).Bind(3, query.to_ms)
        .Bind(4, query.limit == 0 ? int64_t{-1} : static_cast<int64_t>(query.limit));
    while ((rc = points.Step()) == SQLITE_ROW) {
      sp.timestamps_ms.push_back(points.Int(0));
      sp.values.push_back(points.Double(1));
    }
    if (rc != SQLITE_DONE) return points.Error();
    points.Reset();
    out.push_back(std::move(sp));
  }
  return out;
}

absl::Status SqliteStore::CheckIntegrity() {
  std::lock_guard lock(mu_);
  Stmt q(db_, "PRAGMA integrity_check");
  RETURN_IF_ERROR(q.status());
  if (q.Step() != SQLITE_ROW) return q.Error();
  std::string result = q.Text(0);
  if (result != "ok") return absl::DataLossError(StrCat("integrity check: ", result));
  return absl::OkStatus();
}

}  // namespace plumbline::collector
