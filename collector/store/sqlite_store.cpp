#include "collector/store/sqlite_store.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>
#include <thread>
#include <unordered_set>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "collector/store/flatten.h"
#include "collector/store/rollup_block.h"

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
    // 2: metric type per series; samples clustered by time (append-mostly
    // inserts, cheap rollups and retention); minute and hour rollups.
    R"sql(
    ALTER TABLE series ADD COLUMN type INTEGER NOT NULL DEFAULT 2;
    CREATE TABLE samples_v2 (
      ts_ms INTEGER NOT NULL,
      series_id INTEGER NOT NULL,
      value REAL NOT NULL,
      PRIMARY KEY (ts_ms, series_id)
    ) WITHOUT ROWID;
    INSERT INTO samples_v2 (ts_ms, series_id, value) SELECT ts_ms, series_id, value FROM samples;
    DROP TABLE samples;
    ALTER TABLE samples_v2 RENAME TO samples;
    CREATE TABLE rollup_1m (
      series_id INTEGER NOT NULL,
      bucket INTEGER NOT NULL,
      count INTEGER NOT NULL,
      sum REAL NOT NULL,
      min REAL NOT NULL,
      max REAL NOT NULL,
      first REAL NOT NULL,
      first_ms INTEGER NOT NULL,
      last REAL NOT NULL,
      last_ms INTEGER NOT NULL,
      increase REAL NOT NULL,
      PRIMARY KEY (series_id, bucket)
    ) WITHOUT ROWID;
    CREATE TABLE rollup_1h (
      series_id INTEGER NOT NULL,
      bucket INTEGER NOT NULL,
      count INTEGER NOT NULL,
      sum REAL NOT NULL,
      min REAL NOT NULL,
      max REAL NOT NULL,
      first REAL NOT NULL,
      first_ms INTEGER NOT NULL,
      last REAL NOT NULL,
      last_ms INTEGER NOT NULL,
      increase REAL NOT NULL,
      PRIMARY KEY (series_id, bucket)
    ) WITHOUT ROWID;
    CREATE TABLE rollup_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE dirty_minutes (bucket INTEGER PRIMARY KEY);
    CREATE TABLE dirty_hours (bucket INTEGER PRIMARY KEY);
    )sql",
    // 3: incidents declared by SREs, and notes on any incident.
    R"sql(
    CREATE TABLE incidents (
      id TEXT PRIMARY KEY,
      title TEXT NOT NULL,
      from_ms INTEGER NOT NULL,
      to_ms INTEGER NOT NULL,
      services TEXT NOT NULL,
      declared_by TEXT NOT NULL,
      declared_ms INTEGER NOT NULL
    );
    CREATE TABLE incident_notes (
      incident_id TEXT NOT NULL,
      at_ms INTEGER NOT NULL,
      author TEXT NOT NULL,
      text TEXT NOT NULL
    );
    CREATE INDEX incident_notes_by_incident ON incident_notes (incident_id, at_ms);
    )sql",
    // 4: minute rollups by time, so an hour rollup and retention read only
    // their minutes, not every series' whole history.
    R"sql(
    CREATE INDEX rollup_1m_by_bucket ON rollup_1m (bucket);
    CREATE INDEX rollup_1h_by_bucket ON rollup_1h (bucket);
    )sql",
    // 5: raw samples in compressed blocks, one 10-minute window each
    // (shard -1: written by ingest, any series; n: merged, series ids
    // n * 4096 and up). The old samples table's rows are moved into blocks
    // by MoveSamplesIntoBlocks, which then drops it.
    R"sql(
    CREATE TABLE sample_blocks (
      id INTEGER PRIMARY KEY,
      win INTEGER NOT NULL,
      shard INTEGER NOT NULL,
      min_ts INTEGER NOT NULL,
      max_ts INTEGER NOT NULL,
      samples INTEGER NOT NULL,
      data BLOB NOT NULL
    );
    CREATE INDEX sample_blocks_by_win ON sample_blocks (win);
    CREATE INDEX sample_blocks_unmerged ON sample_blocks (win) WHERE shard = -1;
    )sql",
    // 6: rollups in compressed blobs (rollup_block.h): a series' minutes of
    // one hour, its hours of one UTC day (span: the hour's or day's start;
    // buckets: how many aggregates the blob holds). Rowid tables, so that a
    // blob of up to 4 KB stays on its B-tree page (an index-organised
    // table spills anything over about 1 KB into an overflow page of its
    // own). The old tables' rows are moved into blobs by
    // MoveRollupsIntoBlocks, which then drops them.
    R"sql(
    CREATE TABLE rollup_1m_blocks (
      id INTEGER PRIMARY KEY,
      series_id INTEGER NOT NULL,
      span INTEGER NOT NULL,
      buckets INTEGER NOT NULL,
      data BLOB NOT NULL,
      UNIQUE (series_id, span)
    );
    CREATE INDEX rollup_1m_blocks_by_span ON rollup_1m_blocks (span);
    CREATE TABLE rollup_1h_blocks (
      id INTEGER PRIMARY KEY,
      series_id INTEGER NOT NULL,
      span INTEGER NOT NULL,
      buckets INTEGER NOT NULL,
      data BLOB NOT NULL,
      UNIQUE (series_id, span)
    );
    CREATE INDEX rollup_1h_blocks_by_span ON rollup_1h_blocks (span);
    )sql",
    // 7: batch identities as ranges of consecutive sequences per agent and
    // epoch (received_ms: the newest batch's), instead of a row per batch
    // (about 33 bytes each, a tenth of the file). The old rows are grouped
    // into runs: within one, sequence minus its rank is the same.
    R"sql(
    CREATE TABLE batch_ranges (
      agent_id TEXT NOT NULL,
      epoch INTEGER NOT NULL,
      first_sequence INTEGER NOT NULL,
      last_sequence INTEGER NOT NULL,
      received_ms INTEGER NOT NULL,
      PRIMARY KEY (agent_id, epoch, first_sequence)
    ) WITHOUT ROWID;
    INSERT INTO batch_ranges (agent_id, epoch, first_sequence, last_sequence, received_ms)
      SELECT agent_id, epoch, min(sequence), max(sequence), max(received_ms)
      FROM (SELECT agent_id, epoch, sequence, received_ms,
                   sequence - row_number() OVER (PARTITION BY agent_id, epoch
                                                 ORDER BY sequence) AS run
            FROM batches)
      GROUP BY agent_id, epoch, run;
    DROP TABLE batches;
    )sql",
    // 8: rollup blobs keyed by series and span in one integer, the rowid:
    // key = series_id * 2^24 + span / span length (hours or days since the
    // epoch; timestamps are validated to lie before 2200, 2^21 hours). A
    // series' blobs are then neighbours in the table's own B-tree, read
    // with one seek and a walk along the leaves, where the unique index on
    // (series_id, span) took a seek in the index and another in the table
    // for every blob.
    R"sql(
    CREATE TABLE rollup_1m_keyed (
      key INTEGER PRIMARY KEY,
      span INTEGER NOT NULL,
      buckets INTEGER NOT NULL,
      data BLOB NOT NULL
    );
    INSERT INTO rollup_1m_keyed (key, span, buckets, data)
      SELECT series_id * 16777216 + span / 3600000, span, buckets, data
      FROM rollup_1m_blocks ORDER BY series_id, span;
    DROP TABLE rollup_1m_blocks;
    ALTER TABLE rollup_1m_keyed RENAME TO rollup_1m_blocks;
    CREATE INDEX rollup_1m_blocks_by_span ON rollup_1m_blocks (span);
    CREATE TABLE rollup_1h_keyed (
      key INTEGER PRIMARY KEY,
      span INTEGER NOT NULL,
      buckets INTEGER NOT NULL,
      data BLOB NOT NULL
    );
    INSERT INTO rollup_1h_keyed (key, span, buckets, data)
      SELECT series_id * 16777216 + span / 86400000, span, buckets, data
      FROM rollup_1h_blocks ORDER BY series_id, span;
    DROP TABLE rollup_1h_blocks;
    ALTER TABLE rollup_1h_keyed RENAME TO rollup_1h_blocks;
    CREATE INDEX rollup_1h_blocks_by_span ON rollup_1h_blocks (span);
    )sql",
};

constexpr int64_t kMinute = 60 * 1000;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
// How far back the rollup looks for a series' previous sample (for counter
// increases across bucket boundaries); a counter's step over a longer gap
// is not counted.
constexpr int64_t kLookbackMs = 15 * kMinute;
// Raw sample blocks: each holds samples of one window; merged blocks hold
// the series of one shard.
constexpr int64_t kWindow = kRawWindowMs;
constexpr int kShardBits = 12;
constexpr uint64_t kShardsPerPass = 16;  // a merge transaction: at most 65,536 series
// At most this many samples are decoded at once for a rollup step.
constexpr uint64_t kMaxSamplesPerStep = 4'000'000;
// Late data's (minute, series) pairs remembered at most; beyond, whole
// minutes are recomputed.
constexpr size_t kMaxDirtySeries = 1'000'000;

// RAII prepared statement.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  // Uses a statement kept prepared elsewhere; leaves it reset.
  Stmt(sqlite3* db, sqlite3_stmt* kept) : db_(db), stmt_(kept), rc_(SQLITE_OK), owned_(false) {}
  ~Stmt() {
    if (owned_) {
      sqlite3_finalize(stmt_);
    } else {
      sqlite3_reset(stmt_);
    }
  }
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
  sqlite3_stmt* stmt() const { return stmt_; }
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
  bool owned_ = true;
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

// One level of rollups: its table and the statements on it (kept prepared,
// keyed by the text's address).
struct RollupTier {
  int64_t span_ms;           // what one blob covers
  const char* read;          // data of (key)
  const char* write;         // (key, span, buckets, data)
  const char* scan;          // key, span, data of keys in [?, ?)
  const char* at_span;       // series_id, data of one span
  const char* count_before;  // buckets in spans before ?
  const char* erase_before;
  // Schema 6's layout, before blobs were keyed (only to move schema 5's
  // rows into it): read and write bind (series_id, span) for the key.
  bool by_series_and_span = false;

  // A blob's rowid (schema 8).
  int64_t Key(int64_t series_id, int64_t span) const {
    return series_id * (int64_t{1} << kKeySpanBits) + span / span_ms;
  }
  static int64_t SeriesOf(int64_t key) { return key >> kKeySpanBits; }
  // Also spelled out in SQL: "key >> 24" in the statements below and in
  // LoadState, 16777216 in migration 8.
  static constexpr int kKeySpanBits = 24;
};

namespace {

const RollupTier kMinuteTier{
    kHour,
    "SELECT data FROM rollup_1m_blocks WHERE key = ?",
    "INSERT INTO rollup_1m_blocks (key, span, buckets, data) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET buckets = excluded.buckets, data = excluded.data",
    "SELECT key, span, data FROM rollup_1m_blocks WHERE key >= ? AND key < ?",
    "SELECT key >> 24, data FROM rollup_1m_blocks WHERE span = ?",
    "SELECT coalesce(sum(buckets), 0) FROM rollup_1m_blocks WHERE span < ?",
    "DELETE FROM rollup_1m_blocks WHERE span < ?",
};
const RollupTier kHourTier{
    kDay,
    "SELECT data FROM rollup_1h_blocks WHERE key = ?",
    "INSERT INTO rollup_1h_blocks (key, span, buckets, data) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET buckets = excluded.buckets, data = excluded.data",
    "SELECT key, span, data FROM rollup_1h_blocks WHERE key >= ? AND key < ?",
    "SELECT key >> 24, data FROM rollup_1h_blocks WHERE span = ?",
    "SELECT coalesce(sum(buckets), 0) FROM rollup_1h_blocks WHERE span < ?",
    "DELETE FROM rollup_1h_blocks WHERE span < ?",
};
// Schema 6's tables, for MoveRollupsIntoBlocks (migration 6) alone.
const RollupTier kMinuteTierV6{
    kHour,
    "SELECT data FROM rollup_1m_blocks WHERE series_id = ? AND span = ?",
    "INSERT INTO rollup_1m_blocks (series_id, span, buckets, data) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (series_id, span) DO UPDATE SET buckets = excluded.buckets, data = excluded.data",
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    true,
};
const RollupTier kHourTierV6{
    kDay,
    "SELECT data FROM rollup_1h_blocks WHERE series_id = ? AND span = ?",
    "INSERT INTO rollup_1h_blocks (series_id, span, buckets, data) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (series_id, span) DO UPDATE SET buckets = excluded.buckets, data = excluded.data",
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    true,
};

// Runs a statement that returns no rows on `db`.
absl::Status Check(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    return absl::InternalError(StrCat("sqlite: ", msg));
  }
  return absl::OkStatus();
}

// A blob column's bytes.
std::string_view BlobOf(const Stmt& q, int col) {
  const void* p = sqlite3_column_blob(q.stmt(), col);
  const int n = sqlite3_column_bytes(q.stmt(), col);
  return p == nullptr ? std::string_view() : std::string_view(static_cast<const char*>(p), n);
}

// Schema 5's rollup row: (bucket, count, sum, min, max, first, first_ms,
// last, last_ms, increase) from column first_col on.
Aggregate ReadAggregate(const Stmt& q, int first_col) {
  Aggregate a;
  a.start_ms = q.Int(first_col);
  a.count = static_cast<uint64_t>(q.Int(first_col + 1));
  a.sum = q.Double(first_col + 2);
  a.min = q.Double(first_col + 3);
  a.max = q.Double(first_col + 4);
  a.first = q.Double(first_col + 5);
  a.first_ms = q.Int(first_col + 6);
  a.last = q.Double(first_col + 7);
  a.last_ms = q.Int(first_col + 8);
  a.increase = q.Double(first_col + 9);
  return a;
}

}  // namespace

int SqliteStore::SchemaVersion() { return static_cast<int>(std::size(kMigrations)); }

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               Durability durability) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
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
  // No checkpoint inside a commit: the writer would copy the WAL into the
  // file while holding the store lock, and after a reader held the WAL back
  // (a backfill read by a long query) that was a gigabyte, ingest and
  // queries waiting tens of seconds. Maintenance checkpoints beside them.
  RETURN_IF_ERROR(store->Exec("PRAGMA wal_autocheckpoint=0"));
  // Between checkpoints the log grows (10,000 agents connecting at once:
  // 470 MB); once a checkpoint lets it start over, the file is cut back to
  // 64 MiB instead of keeping its largest size.
  RETURN_IF_ERROR(store->Exec("PRAGMA journal_size_limit=67108864"));
  // Roll-ups read back recent blocks and index pages: 64 MiB of page cache
  // instead of SQLite's 2 MiB default.
  RETURN_IF_ERROR(store->Exec("PRAGMA cache_size=-65536"));
  absl::Status migrated = store->Migrate();
  if (!migrated.ok()) {
    return absl::Status(migrated.code(), StrCat(path, ": ", migrated.message()));
  }
  RETURN_IF_ERROR(store->LoadState());
  RETURN_IF_ERROR(store->OpenReader(path, store->reader_));
  // Queries read the file through a memory map (up to SQLite's 2 GiB
  // limit): no read() call and copy per page. Those pages are the kernel's
  // page cache, shared and reclaimable, but they show in the collector's RSS.
  RETURN_IF_ERROR(Check(store->reader_.db, "PRAGMA mmap_size=2147418112"));
  RETURN_IF_ERROR(store->OpenReader(path, store->maintainer_));
  return store;
}

absl::Status SqliteStore::OpenReader(const std::string& path, Connection& c) {
  if (sqlite3_open_v2(path.c_str(), &c.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    return absl::UnavailableError(
        StrCat(path, ": cannot open a reading connection: ", sqlite3_errmsg(c.db)));
  }
  sqlite3_busy_timeout(c.db, 5000);
  // 16 MiB of page cache each (the writer keeps 64): queries read through
  // a memory map, maintenance mostly pages the writer just wrote.
  for (const char* pragma : {"PRAGMA query_only=1", "PRAGMA cache_size=-16384"}) {
    RETURN_IF_ERROR(Check(c.db, pragma));
  }
  return absl::OkStatus();
}

SqliteStore::Connection::~Connection() {
  for (auto& [sql, stmt] : prepared) sqlite3_finalize(stmt);
  sqlite3_close(db);
}

SqliteStore::~SqliteStore() = default;

absl::StatusOr<sqlite3_stmt*> SqliteStore::Prepared(Connection& c, const char* sql) {
  auto it = c.prepared.find(sql);
  if (it != c.prepared.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(c.db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
    return absl::InternalError(StrCat("sqlite prepare: ", sqlite3_errmsg(c.db)));
  }
  c.prepared.emplace(sql, stmt);
  return stmt;
}

absl::Status SqliteStore::Exec(const char* sql) { return Check(db_, sql); }

absl::Status SqliteStore::MigrateToForTesting(const std::string& path, int version) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    sqlite3_close(db);
    return absl::UnavailableError(StrCat(path, ": cannot open database"));
  }
  SqliteStore store(db);
  return store.Migrate(version);
}

absl::Status SqliteStore::Migrate(int to_version) {
  Stmt version(db_, "PRAGMA user_version");
  RETURN_IF_ERROR(version.status());
  if (version.Step() != SQLITE_ROW) return version.Error();
  int64_t current = version.Int(0);
  version.Reset();  // an open read statement would block DROP TABLE below
  if (current > SchemaVersion()) {
    return absl::FailedPreconditionError(StrCat("database schema version ", current,
                                                " is newer than this collector's (",
                                                SchemaVersion(), "); upgrade the collector"));
  }
  for (int64_t v = current; v < to_version; ++v) {
    RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    absl::Status s = Exec(kMigrations[v]);
    if (s.ok() && v + 1 == 5) s = MoveSamplesIntoBlocks();
    if (s.ok() && v + 1 == 6) s = MoveRollupsIntoBlocks();
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
                                              const std::string& canonical_labels,
                                              v1::MetricType type) {
  std::string key = StrCat(agent_id, std::string_view("\0", 1), name, std::string_view("\0", 1),
                           canonical_labels);
  auto it = series_ids_.find(key);
  if (it != series_ids_.end()) return it->second;
  ASSIGN_OR_RETURN(
      sqlite3_stmt * kept_insert,
      Prepared("INSERT OR IGNORE INTO series (agent_id, name, labels, type) VALUES (?, ?, ?, ?)"));
  Stmt insert(db_, kept_insert);
  RETURN_IF_ERROR(insert.Bind(1, agent_id)
                      .Bind(2, name)
                      .Bind(3, canonical_labels)
                      .Bind(4, static_cast<int64_t>(type))
                      .Run());
  ASSIGN_OR_RETURN(
      sqlite3_stmt * kept_select,
      Prepared("SELECT id FROM series WHERE agent_id = ? AND name = ? AND labels = ?"));
  Stmt select(db_, kept_select);
  select.Bind(1, agent_id).Bind(2, name).Bind(3, canonical_labels);
  if (select.Step() != SQLITE_ROW) return select.Error();
  int64_t id = select.Int(0);
  series_ids_.emplace(std::move(key), id);
  series_by_name_.erase(name);
  return id;
}

absl::StatusOr<int64_t> SqliteStore::PlainSeriesId(const std::string& agent_id,
                                                   const v1::Series& series) {
  const v1::MetricType type =
      series.type() == v1::METRIC_TYPE_COUNTER ? v1::METRIC_TYPE_COUNTER : v1::METRIC_TYPE_GAUGE;
  auto append = [this](std::string_view part) {
    const auto size = static_cast<uint32_t>(part.size());
    key_.append(reinterpret_cast<const char*>(&size), sizeof size);
    key_.append(part);
  };
  key_.clear();
  append(agent_id);
  append(series.name());
  key_.push_back(static_cast<char>(type));
  for (const v1::Label& l : series.labels()) {
    append(l.name());
    append(l.value());
  }
  // The series at this position of the agent's previous batch, most often
  // this one: its key compared in place, no hashing.
  const size_t position = layout_.ids.size();
  int64_t id = -1;
  if (previous_layout_ != nullptr && position < previous_layout_->ids.size()) {
    const uint32_t begin = position == 0 ? 0 : previous_layout_->ends[position - 1];
    const std::string_view known(previous_layout_->keys.data() + begin,
                                 previous_layout_->ends[position] - begin);
    if (known == key_) id = previous_layout_->ids[position];
  }
  if (id < 0) {
    auto it = plain_ids_.find(std::string_view(key_));
    if (it != plain_ids_.end()) {
      id = it->second;
    } else {
      ASSIGN_OR_RETURN(id, SeriesId(agent_id, series.name(),
                                    CanonicalLabels(ToLabelSet(series.labels())), type));
      plain_ids_.emplace(key_, id);
    }
  }
  layout_.keys.append(key_);
  layout_.ends.push_back(static_cast<uint32_t>(layout_.keys.size()));
  layout_.ids.push_back(id);
  return id;
}

absl::StatusOr<bool> SqliteStore::ClaimBatch(const std::string& agent_id, int64_t epoch,
                                             int64_t sequence, int64_t received_ms) {
  // The range at or before the sequence: the one holding it, if any.
  int64_t before_first = 0;
  int64_t before_last = 0;
  bool before = false;
  {
    ASSIGN_OR_RETURN(sqlite3_stmt * kept,
                     Prepared("SELECT first_sequence, last_sequence FROM batch_ranges "
                              "WHERE agent_id = ? AND epoch = ? AND first_sequence <= ? "
                              "ORDER BY first_sequence DESC LIMIT 1"));
    Stmt q(db_, kept);
    q.Bind(1, agent_id).Bind(2, epoch).Bind(3, sequence);
    const int rc = q.Step();
    if (rc == SQLITE_ROW) {
      before = true;
      before_first = q.Int(0);
      before_last = q.Int(1);
    } else if (rc != SQLITE_DONE) {
      return q.Error();
    }
  }
  if (before && before_last >= sequence) return false;
  // The range starting right after it (there is none after INT64_MAX).
  int64_t after_last = 0;
  int64_t after_received_ms = 0;
  bool after = false;
  if (sequence < INT64_MAX) {
    ASSIGN_OR_RETURN(sqlite3_stmt * kept,
                     Prepared("SELECT last_sequence, received_ms FROM batch_ranges "
                              "WHERE agent_id = ? AND epoch = ? AND first_sequence = ?"));
    Stmt q(db_, kept);
    q.Bind(1, agent_id).Bind(2, epoch).Bind(3, sequence + 1);
    const int rc = q.Step();
    if (rc == SQLITE_ROW) {
      after = true;
      after_last = q.Int(0);
      after_received_ms = q.Int(1);
    } else if (rc != SQLITE_DONE) {
      return q.Error();
    }
  }
  // before_last < sequence here, so before_last + 1 cannot overflow.
  if (before && before_last + 1 == sequence) {
    // Extend the range before up to the sequence, or over the range after
    // (then one range instead of two).
    ASSIGN_OR_RETURN(sqlite3_stmt * kept_extend,
                     Prepared("UPDATE batch_ranges SET last_sequence = ?, "
                              "received_ms = max(received_ms, ?) "
                              "WHERE agent_id = ? AND epoch = ? AND first_sequence = ?"));
    Stmt extend(db_, kept_extend);
    RETURN_IF_ERROR(extend.Bind(1, after ? after_last : sequence)
                        .Bind(2, after ? std::max(received_ms, after_received_ms) : received_ms)
                        .Bind(3, agent_id)
                        .Bind(4, epoch)
                        .Bind(5, before_first)
                        .Run());
    if (after) {
      ASSIGN_OR_RETURN(sqlite3_stmt * kept_erase,
                       Prepared("DELETE FROM batch_ranges "
                                "WHERE agent_id = ? AND epoch = ? AND first_sequence = ?"));
      Stmt erase(db_, kept_erase);
      RETURN_IF_ERROR(erase.Bind(1, agent_id).Bind(2, epoch).Bind(3, sequence + 1).Run());
    }
  } else if (after) {
    // Extend the range after down to the sequence (its key changes).
    ASSIGN_OR_RETURN(sqlite3_stmt * kept_lower,
                     Prepared("UPDATE batch_ranges SET first_sequence = ?, "
                              "received_ms = max(received_ms, ?) "
                              "WHERE agent_id = ? AND epoch = ? AND first_sequence = ?"));
    Stmt lower(db_, kept_lower);
    RETURN_IF_ERROR(lower.Bind(1, sequence)
                        .Bind(2, received_ms)
                        .Bind(3, agent_id)
                        .Bind(4, epoch)
                        .Bind(5, sequence + 1)
                        .Run());
  } else {
    ASSIGN_OR_RETURN(sqlite3_stmt * kept_insert,
                     Prepared("INSERT INTO batch_ranges (agent_id, epoch, first_sequence, "
                              "last_sequence, received_ms) VALUES (?1, ?2, ?3, ?3, ?4)"));
    Stmt insert(db_, kept_insert);
    RETURN_IF_ERROR(
        insert.Bind(1, agent_id).Bind(2, epoch).Bind(3, sequence).Bind(4, received_ms).Run());
  }
  return true;
}

absl::Status SqliteStore::WriteOne(BatchWrite& write) {
  const v1::Batch& batch = *write.batch;
  ASSIGN_OR_RETURN(const bool claimed,
                   ClaimBatch(batch.agent_id(), static_cast<int64_t>(batch.epoch()),
                              static_cast<int64_t>(batch.sequence()), write.received_ms));
  if (!claimed) {
    write.stored = false;
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(sqlite3_stmt * kept_dirty,
                   Prepared("INSERT OR IGNORE INTO dirty_minutes (bucket) VALUES (?)"));
  Stmt dirty(db_, kept_dirty);
  std::set<int64_t> marked;        // dirty minutes this call already recorded
  std::vector<int64_t> point_ids;  // the series a point wrote
  // Whether a late sample is its series' newest: then no stored sample
  // steps from it, and only its own minute changes. A series not in
  // latest_ is known to have none only if it was created since the store
  // opened. (A newer sample written earlier in this group has its own
  // minute marked or not yet rolled up.)
  auto newest = [this](int64_t id, int64_t ts) {
    auto it = latest_.find(id);
    return it != latest_.end() ? ts > it->second.first : id > max_series_at_open_;
  };
  std::vector<FlatSample> flat;
  uint64_t samples = 0;
  // Samples before this are late: their minutes are rolled up, or being so.
  const int64_t late_before = std::max(minute_watermark_, rolling_to_);
  BatchLayout& previous = layouts_[batch.agent_id()];
  previous_layout_ = &previous;
  layout_.keys.clear();
  layout_.ends.clear();
  layout_.ids.clear();
  for (int index : write.series) {
    const v1::Series& series = batch.series(index);
    int64_t plain_id = -1;  // the series' own id, for its number points
    LabelSet labels;        // parsed for the first histogram or summary point
    bool parsed = false;
    for (const v1::Point& point : series.points()) {
      const int64_t ts = point.timestamp_ms();
      bool wrote = false;
      bool all_newest = true;
      point_ids.clear();
      flat.clear();
      if (point.value_case() == v1::Point::kNumber) {
        // Counters and gauges (nearly every point) skip flattening.
        if (!std::isnan(point.number())) {
          if (plain_id < 0) {
            ASSIGN_OR_RETURN(plain_id, PlainSeriesId(batch.agent_id(), series));
          }
          pending_samples_.push_back({FloorTo(ts, kWindow), plain_id, ts, point.number()});
          pending_latest_.push_back({plain_id, ts, point.number()});
          if (ts < late_before) all_newest = newest(plain_id, ts);
          point_ids.push_back(plain_id);
          ++samples;
          wrote = true;
        }
      } else {
        if (!parsed) labels = ToLabelSet(series.labels());
        parsed = true;
        FlattenPoint(series.name(), series.type(), labels, point, &flat);
      }
      for (const FlatSample& s : flat) {
        // NaN means "no value" (an empty summary's quantile): SQLite would
        // store it as NULL and fail the whole group, so it is not stored.
        if (std::isnan(s.value)) continue;
        ASSIGN_OR_RETURN(int64_t id,
                         SeriesId(batch.agent_id(), s.name, CanonicalLabels(s.labels), s.type));
        pending_samples_.push_back({FloorTo(ts, kWindow), id, ts, s.value});
        pending_latest_.push_back({id, ts, s.value});
        if (ts < late_before && all_newest) all_newest = newest(id, ts);
        point_ids.push_back(id);
        ++samples;
        wrote = true;
      }
      // Late data: its minute was rolled up already and must be recomputed,
      // and so must every minute whose first increase may step from it (the
      // series' next sample can be up to the lookback later), unless no
      // later sample of the series exists. Only the series written change.
      if (wrote && ts < late_before) {
        const int64_t minute = FloorTo(ts, kMinute);
        const int64_t until = all_newest ? minute : minute + kLookbackMs;
        for (int64_t m = minute; m <= until; m += kMinute) {
          if (marked.insert(m).second) RETURN_IF_ERROR(dirty.Bind(1, m).Run());
          for (int64_t id : point_ids) pending_dirty_.emplace_back(m, id);
        }
      }
    }
  }
  // This batch's series are what the agent's next batch most likely sends.
  std::swap(previous, layout_);
  previous_layout_ = nullptr;
  ASSIGN_OR_RETURN(
      sqlite3_stmt * kept_agent,
      Prepared("INSERT INTO agents (agent_id, first_seen_ms, last_seen_ms, epoch, last_sequence, "
               "batches, samples) VALUES (?1, ?2, ?2, ?3, ?4, 1, ?5) "
               "ON CONFLICT (agent_id) DO UPDATE SET last_seen_ms = max(last_seen_ms, ?2), "
               "epoch = ?3, last_sequence = ?4, batches = batches + 1, samples = samples + ?5"));
  Stmt agent(db_, kept_agent);
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

bool SqliteStore::YieldToWriters() {
  for (int i = 0; i < 200 && writers_waiting_.load(std::memory_order_relaxed) > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  return now - last_write_ms_.load(std::memory_order_relaxed) < 1000;
}

absl::Status SqliteStore::WriteBatches(std::vector<BatchWrite>& writes) {
  last_write_ms_.store(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now().time_since_epoch())
                           .count(),
                       std::memory_order_relaxed);
  writers_waiting_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  writers_waiting_.fetch_sub(1, std::memory_order_relaxed);
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  pending_latest_.clear();
  pending_samples_.clear();
  pending_dirty_.clear();
  pending_windows_.clear();
  absl::Status s;
  for (BatchWrite& w : writes) {
    s = WriteOne(w);
    if (!s.ok()) break;
  }
  if (s.ok()) s = FlushSamples();
  if (s.ok()) s = Exec("COMMIT");
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
    // Ids created inside the rolled-back transaction are gone, and so are
    // its samples: they must not show up as the latest values.
    series_ids_.clear();
    plain_ids_.clear();
    layouts_.clear();
    previous_layout_ = nullptr;
    series_by_name_.clear();
    pending_latest_.clear();
    pending_dirty_.clear();
    for (BatchWrite& w : writes) {
      w.stored = false;
      w.samples_written = 0;
    }
    return s;
  }
  for (const PendingLatest& p : pending_latest_) {
    auto [it, fresh] = latest_.try_emplace(p.series_id, p.ts_ms, p.value);
    if (!fresh && p.ts_ms >= it->second.first) it->second = {p.ts_ms, p.value};
  }
  pending_latest_.clear();
  for (const auto& [minute, id] : pending_dirty_) {
    ++dirty_marks_[minute];
    if (dirty_all_minutes_.count(minute) == 0 && dirty_series_[minute].insert(id).second) {
      ++dirty_series_count_;
    }
  }
  pending_dirty_.clear();
  {
    // A sample also changes the counter step of its series' next sample,
    // up to the lookback later: that may be the next day's.
    for (int64_t window : pending_windows_) DaysChanged(window, window + kWindow + kLookbackMs);
  }
  pending_windows_.clear();
  // A backfill of a whole fleet would make these sets big: past a million
  // series-minutes, the minutes are recomputed for every series instead.
  if (dirty_series_count_ > kMaxDirtySeries) {
    for (const auto& entry : dirty_series_) dirty_all_minutes_.insert(entry.first);
    dirty_series_.clear();
    dirty_series_count_ = 0;
  }
  return s;
}

absl::Status SqliteStore::FlushSamples() {
  if (pending_samples_.empty()) return absl::OkStatus();
  // By window, series and time; the stable sort keeps a repeated (series,
  // timestamp) in write order, so the last one written wins below.
  std::stable_sort(pending_samples_.begin(), pending_samples_.end(),
                   [](const PendingSample& a, const PendingSample& b) {
                     if (a.window != b.window) return a.window < b.window;
                     if (a.series_id != b.series_id) return a.series_id < b.series_id;
                     return a.ts_ms < b.ts_ms;
                   });
  ASSIGN_OR_RETURN(sqlite3_stmt * kept,
                   Prepared("INSERT INTO sample_blocks (win, shard, min_ts, max_ts, samples, data) "
                            "VALUES (?, -1, ?, ?, ?, ?)"));
  BlockWriter writer;
  const size_t n = pending_samples_.size();
  for (size_t i = 0; i < n;) {
    const int64_t window = pending_samples_[i].window;
    while (i < n && pending_samples_[i].window == window) {
      const int64_t id = pending_samples_[i].series_id;
      run_.clear();
      for (; i < n && pending_samples_[i].window == window && pending_samples_[i].series_id == id;
           ++i) {
        const PendingSample& p = pending_samples_[i];
        if (!run_.empty() && run_.back().ts_ms == p.ts_ms) {
          run_.back().value = p.value;
        } else {
          run_.push_back({p.ts_ms, p.value});
        }
      }
      writer.AddRun(id, run_);
    }
    if (pending_windows_.empty() || pending_windows_.back() != window) {
      pending_windows_.push_back(window);
    }
    const int64_t min_ts = writer.min_ts();
    const int64_t max_ts = writer.max_ts();
    const auto samples = static_cast<int64_t>(writer.samples());
    const std::string data = writer.Finish();
    Stmt insert(db_, kept);
    insert.Bind(1, window).Bind(2, min_ts).Bind(3, max_ts).Bind(4, samples);
    sqlite3_bind_blob(insert.stmt(), 5, data.data(), static_cast<int>(data.size()), SQLITE_STATIC);
    RETURN_IF_ERROR(insert.Run());
  }
  pending_samples_.clear();
  return absl::OkStatus();
}

uint64_t SqliteStore::CorruptBlocks() {
  std::lock_guard lock(corrupt_mu_);
  return corrupt_blocks_.size() + corrupt_rollups_.size();
}

absl::Status SqliteStore::VisitRuns(
    Connection& c, sqlite3_stmt* q, const SeriesFilter& want,
    const std::function<void(int64_t, std::span<const RawSample>)>& visit) {
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    const auto* blob = static_cast<const char*>(sqlite3_column_blob(q, 0));
    const int bytes = sqlite3_column_bytes(q, 0);
    BlockReader reader(std::string_view(blob == nullptr ? "" : blob, static_cast<size_t>(bytes)));
    while (reader.NextRun()) {
      if (want && !want(reader.series_id())) continue;
      c.run.clear();
      if (!reader.Decode(&c.run)) break;
      visit(reader.series_id(), c.run);
    }
    if (!reader.status().ok()) {
      std::lock_guard lock(corrupt_mu_);
      corrupt_blocks_.insert(sqlite3_column_int64(q, 1));
    }
  }
  sqlite3_reset(q);
  if (rc != SQLITE_DONE) return absl::InternalError(StrCat("sqlite: ", sqlite3_errmsg(c.db)));
  return absl::OkStatus();
}

namespace {

// Blocks that may hold samples in [from, to), in (window, id) order: a
// (series, timestamp) lies in one window, so a later block there wins.
constexpr const char* kBlocksInRangeSql =
    "SELECT data, id FROM sample_blocks WHERE win >= ? AND win < ? AND max_ts >= ? AND min_ts < ? "
    "ORDER BY win, id";

int64_t WindowOf(int64_t t) { return t <= INT64_MIN + kWindow ? INT64_MIN : FloorTo(t, kWindow); }

// Sorts by timestamp (stable: write order among equals) and keeps the last
// sample written at each timestamp.
void SortKeepingLast(std::vector<RawSample>& v) {
  std::stable_sort(v.begin(), v.end(),
                   [](const RawSample& a, const RawSample& b) { return a.ts_ms < b.ts_ms; });
  size_t out = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i + 1 < v.size() && v[i + 1].ts_ms == v[i].ts_ms) continue;
    v[out++] = v[i];
  }
  v.resize(out);
}

}  // namespace

absl::Status SqliteStore::ReadRaw(Connection& c, int64_t from_ms, int64_t to_ms,
                                  const SeriesFilter& want, RawBySeries* out) {
  if (to_ms <= from_ms) return absl::OkStatus();
  ASSIGN_OR_RETURN(sqlite3_stmt * q, Prepared(c, kBlocksInRangeSql));
  Stmt bind(c.db, q);
  bind.Bind(1, WindowOf(from_ms)).Bind(2, to_ms).Bind(3, from_ms).Bind(4, to_ms);
  return CollectRuns(c, q, want, from_ms, to_ms, out);
}

absl::Status SqliteStore::CollectRuns(Connection& c, sqlite3_stmt* q, const SeriesFilter& want,
                                      int64_t from_ms, int64_t to_ms, RawBySeries* out) {
  std::vector<int64_t> unsorted;
  RETURN_IF_ERROR(VisitRuns(c, q, want, [&](int64_t id, std::span<const RawSample> run) {
    std::vector<RawSample>& v = (*out)[id];
    bool in_order = true;
    for (const RawSample& s : run) {
      if (s.ts_ms < from_ms || s.ts_ms >= to_ms) continue;
      if (!v.empty() && s.ts_ms <= v.back().ts_ms) in_order = false;
      v.push_back(s);
    }
    if (!in_order) unsorted.push_back(id);
  }));
  std::sort(unsorted.begin(), unsorted.end());
  unsorted.erase(std::unique(unsorted.begin(), unsorted.end()), unsorted.end());
  for (int64_t id : unsorted) SortKeepingLast((*out)[id]);
  return absl::OkStatus();
}

absl::Status SqliteStore::ReadLast(Connection& c, int64_t from_ms, int64_t to_ms,
                                   const SeriesFilter& want,
                                   std::unordered_map<int64_t, RawSample>* out) {
  if (to_ms <= from_ms) return absl::OkStatus();
  ASSIGN_OR_RETURN(sqlite3_stmt * q, Prepared(c, kBlocksInRangeSql));
  Stmt bind(c.db, q);
  bind.Bind(1, WindowOf(from_ms)).Bind(2, to_ms).Bind(3, from_ms).Bind(4, to_ms);
  return VisitRuns(c, q, want, [&](int64_t id, std::span<const RawSample> run) {
    for (auto it = run.rbegin(); it != run.rend(); ++it) {
      if (it->ts_ms >= to_ms) continue;
      if (it->ts_ms < from_ms) break;
      auto [slot, fresh] = out->try_emplace(id, *it);
      if (!fresh && it->ts_ms >= slot->second.ts_ms) slot->second = *it;
      break;
    }
  });
}

absl::Status SqliteStore::MinuteAggregates(
    Connection& c, int64_t from_ms, int64_t to_ms, const SeriesFilter& want,
    const std::function<absl::Status(int64_t, const Aggregate&)>& emit) {
  RawBySeries raw;
  RETURN_IF_ERROR(ReadRaw(c, from_ms, to_ms, want, &raw));
  if (raw.empty()) return absl::OkStatus();
  // A sample's increase is the (reset-aware) step from the series' previous
  // sample if that is at most kLookbackMs older, else 0: a rule about the
  // sample alone, so the answer is the same however the samples are cut
  // into ranges (rollup steps, recomputed minutes, the raw part of a query).
  std::unordered_map<int64_t, RawSample> previous;
  RETURN_IF_ERROR(ReadLast(
      c, from_ms - kLookbackMs, from_ms, [&](int64_t id) { return raw.count(id) != 0; },
      &previous));
  std::vector<int64_t> ids;
  ids.reserve(raw.size());
  for (const auto& entry : raw) ids.push_back(entry.first);
  std::sort(ids.begin(), ids.end());
  for (int64_t id : ids) {
    auto prev_it = previous.find(id);
    const RawSample* prev = prev_it == previous.end() ? nullptr : &prev_it->second;
    Aggregate a;
    for (const RawSample& s : raw[id]) {
      const int64_t minute = FloorTo(s.ts_ms, kMinute);
      if (a.count > 0 && minute != a.start_ms) {
        RETURN_IF_ERROR(emit(id, a));
        a = Aggregate{};
      }
      double increase = 0;
      if (prev != nullptr && s.ts_ms - prev->ts_ms <= kLookbackMs) {
        increase = s.value >= prev->value ? s.value - prev->value : s.value;
      }
      if (a.count == 0) {
        a.start_ms = minute;
        a.min = a.max = a.first = s.value;
        a.first_ms = s.ts_ms;
      }
      ++a.count;
      a.sum += s.value;
      a.min = std::min(a.min, s.value);
      a.max = std::max(a.max, s.value);
      a.last = s.value;
      a.last_ms = s.ts_ms;
      a.increase += increase;
      prev = &s;
    }
    if (a.count > 0) RETURN_IF_ERROR(emit(id, a));
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::MoveSamplesIntoBlocks() {
  Stmt q(db_, "SELECT series_id, ts_ms, value FROM samples ORDER BY ts_ms, series_id");
  RETURN_IF_ERROR(q.status());
  pending_samples_.clear();
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    const int64_t ts = q.Int(1);
    pending_samples_.push_back({FloorTo(ts, kWindow), q.Int(0), ts, q.Double(2)});
    if (pending_samples_.size() >= (1u << 20)) RETURN_IF_ERROR(FlushSamples());
  }
  if (rc != SQLITE_DONE) return q.Error();
  q.Reset();
  RETURN_IF_ERROR(FlushSamples());
  return Exec("DROP TABLE samples");
}

absl::StatusOr<uint64_t> SqliteStore::CompactWindow(int64_t window_ms) {
  int64_t last_unmerged = 0;
  int64_t max_shard = 0;
  uint64_t window_samples = 0;
  {
    std::lock_guard lock(mu_);
    Stmt q(db_,
           "SELECT max(id), (SELECT max(id) FROM series), "
           "(SELECT coalesce(sum(samples), 0) FROM sample_blocks WHERE win = ?1) "
           "FROM sample_blocks WHERE win = ?1 AND shard = -1");
    RETURN_IF_ERROR(q.status());
    q.Bind(1, window_ms);
    if (q.Step() != SQLITE_ROW) return q.Error();
    last_unmerged = q.Int(0);
    max_shard = q.Int(1) >> kShardBits;
    window_samples = static_cast<uint64_t>(q.Int(2));
  }
  if (last_unmerged == 0) return 0;
  // A few shards per transaction, so the store is never held for long and
  // memory stays bounded (about kMaxSamplesPerStep samples decoded at once).
  // The ingest blocks stay until every shard has its part: until then a
  // sample is in both, which reads resolve (same value).
  const uint64_t per_shard = window_samples / static_cast<uint64_t>(max_shard + 1) + 1;
  const auto shards_per_pass =
      static_cast<int64_t>(std::clamp<uint64_t>(kMaxSamplesPerStep / per_shard, 1, kShardsPerPass));
  for (int64_t first = 0; first <= max_shard; first += shards_per_pass) {
    const int64_t end = first + shards_per_pass;
    // Read, merged and encoded on maintenance's own connection, outside the
    // store lock, so ingest commits meanwhile: ingest only adds blocks, and
    // only this thread writes or deletes per-shard blocks, so what was read
    // is still there, as it was, when the result is written.
    struct Merged {
      int64_t shard, min_ts, max_ts, samples;
      std::string data;
    };
    std::vector<Merged> blocks;
    {
      ASSIGN_OR_RETURN(sqlite3_stmt * q,
                       Prepared(maintainer_,
                                "SELECT data, id FROM sample_blocks WHERE win = ? AND "
                                "(shard = -1 OR (shard >= ? AND shard < ?)) ORDER BY win, id"));
      Stmt bind(maintainer_.db, q);
      bind.Bind(1, window_ms).Bind(2, first).Bind(3, end);
      RawBySeries merged;
      RETURN_IF_ERROR(CollectRuns(
          maintainer_, q,
          [&](int64_t id) {
            const int64_t shard = id >> kShardBits;
            return shard >= first && shard < end;
          },
          INT64_MIN, INT64_MAX, &merged));
      std::vector<int64_t> ids;
      ids.reserve(merged.size());
      for (const auto& entry : merged) ids.push_back(entry.first);
      std::sort(ids.begin(), ids.end());
      BlockWriter writer;
      for (size_t i = 0; i < ids.size();) {
        const int64_t shard = ids[i] >> kShardBits;
        for (; i < ids.size() && (ids[i] >> kShardBits) == shard; ++i) {
          writer.AddRun(ids[i], merged[ids[i]]);
        }
        Merged& b = blocks.emplace_back();
        b.shard = shard;
        b.min_ts = writer.min_ts();
        b.max_ts = writer.max_ts();
        b.samples = static_cast<int64_t>(writer.samples());
        b.data = writer.Finish();
      }
    }
    YieldToWriters();
    std::lock_guard lock(mu_);
    RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    absl::Status s;
    int64_t first_new = INT64_MAX;
    if (!blocks.empty()) {
      Stmt insert(db_,
                  "INSERT INTO sample_blocks (win, shard, min_ts, max_ts, samples, data) "
                  "VALUES (?, ?, ?, ?, ?, ?)");
      s = insert.status();
      for (size_t i = 0; s.ok() && i < blocks.size(); ++i) {
        const Merged& b = blocks[i];
        insert.Bind(1, window_ms)
            .Bind(2, b.shard)
            .Bind(3, b.min_ts)
            .Bind(4, b.max_ts)
            .Bind(5, b.samples);
        sqlite3_bind_blob(insert.stmt(), 6, b.data.data(), static_cast<int>(b.data.size()),
                          SQLITE_STATIC);
        s = insert.Run();
        if (s.ok()) first_new = std::min<int64_t>(first_new, sqlite3_last_insert_rowid(db_));
      }
    }
    if (s.ok() && first_new != INT64_MAX) {
      Stmt drop(db_,
                "DELETE FROM sample_blocks WHERE win = ? AND shard >= ? AND shard < ? AND id < ?");
      s = drop.status();
      if (s.ok()) s = drop.Bind(1, window_ms).Bind(2, first).Bind(3, end).Bind(4, first_new).Run();
    }
    if (s.ok() && end > max_shard) {
      Stmt drop(db_, "DELETE FROM sample_blocks WHERE win = ? AND shard = -1 AND id <= ?");
      s = drop.status();
      if (s.ok()) s = drop.Bind(1, window_ms).Bind(2, last_unmerged).Run();
    }
    if (s.ok()) s = Exec("COMMIT");
    if (!s.ok()) {
      (void)Exec("ROLLBACK");
      return s;
    }
  }
  return 1;
}

absl::Status SqliteStore::UpsertAgents(const std::vector<AgentSighting>& agents) {
  if (agents.empty()) return absl::OkStatus();
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(
      sqlite3_stmt * kept,
      Prepared("INSERT INTO agents (agent_id, hostname, version, os, labels, cpu_count, "
               "memory_bytes, first_seen_ms, last_seen_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
               "?8, ?8) ON CONFLICT (agent_id) DO UPDATE SET hostname = ?2, version = ?3, "
               "os = ?4, labels = ?5, cpu_count = ?6, memory_bytes = ?7, "
               "last_seen_ms = max(last_seen_ms, ?8)"));
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  absl::Status s;
  for (const auto& [info, now_ms] : agents) {
    Stmt upsert(db_, kept);
    s = upsert.Bind(1, info.agent_id())
            .Bind(2, info.hostname())
            .Bind(3, info.version())
            .Bind(4, info.os())
            .Bind(5, CanonicalLabels(ToLabelSet(info.labels())))
            .Bind(6, static_cast<int64_t>(info.cpu_count()))
            .Bind(7, static_cast<int64_t>(info.memory_bytes()))
            .Bind(8, now_ms)
            .Run();
    if (!s.ok()) break;
  }
  if (s.ok()) s = Exec("COMMIT");
  if (!s.ok()) (void)Exec("ROLLBACK");
  return s;
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
  Stmt q(db_, "SELECT id, labels FROM series WHERE agent_id = ? AND name = ? ORDER BY id");
  RETURN_IF_ERROR(q.status());
  std::vector<SampleValue> out;
  for (const std::string& name : names) {
    q.Bind(1, agent_id).Bind(2, name);
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
      auto it = latest_.find(q.Int(0));
      if (it == latest_.end()) continue;
      out.push_back({name, ParseLabelsOrEmpty(q.Text(1)), it->second.first, it->second.second});
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
  std::unordered_set<int64_t> wanted;
  for (const auto& entry : matched) wanted.insert(entry.first);
  RawBySeries raw;
  const int64_t to = query.to_ms == INT64_MAX ? INT64_MAX : query.to_ms + 1;  // inclusive
  RETURN_IF_ERROR(ReadRaw(
      writer_, query.from_ms, to, [&](int64_t id) { return wanted.count(id) != 0; }, &raw));
  std::vector<SeriesPoints> out;
  for (auto& [id, labels] : matched) {
    SeriesPoints sp{query.name, std::move(labels), {}, {}};
    for (const RawSample& p : raw[id]) {
      if (query.limit != 0 && sp.values.size() >= query.limit) break;
      sp.timestamps_ms.push_back(p.ts_ms);
      sp.values.push_back(p.value);
    }
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

absl::Status SqliteStore::SetState(const char* name, int64_t value) {
  Stmt set(db_, "INSERT OR REPLACE INTO rollup_state (name, value) VALUES (?, ?)");
  RETURN_IF_ERROR(set.status());
  return set.Bind(1, std::string(name)).Bind(2, value).Run();
}

absl::Status SqliteStore::LoadState() {
  std::lock_guard lock(mu_);
  Stmt state(db_, "SELECT name, value FROM rollup_state");
  RETURN_IF_ERROR(state.status());
  int rc;
  while ((rc = state.Step()) == SQLITE_ROW) {
    std::string name = state.Text(0);
    if (name == "minute_watermark") minute_watermark_ = state.Int(1);
    if (name == "hour_watermark") hour_watermark_ = state.Int(1);
    if (name == "raw_cutoff") raw_cutoff_ = state.Int(1);
  }
  if (rc != SQLITE_DONE) return state.Error();
  Stmt dirty_minutes(db_, "SELECT bucket FROM dirty_minutes");
  RETURN_IF_ERROR(dirty_minutes.status());
  while ((rc = dirty_minutes.Step()) == SQLITE_ROW) dirty_all_minutes_.insert(dirty_minutes.Int(0));
  if (rc != SQLITE_DONE) return dirty_minutes.Error();
  Stmt dirty_hours(db_, "SELECT bucket FROM dirty_hours");
  RETURN_IF_ERROR(dirty_hours.status());
  while ((rc = dirty_hours.Step()) == SQLITE_ROW) dirty_hours_.insert(dirty_hours.Int(0));
  if (rc != SQLITE_DONE) return dirty_hours.Error();
  Stmt max_id(db_, "SELECT coalesce(max(id), 0) FROM series");
  RETURN_IF_ERROR(max_id.status());
  if (max_id.Step() != SQLITE_ROW) return max_id.Error();
  max_series_at_open_ = max_id.Int(0);
  // Newest value per series: the last rolled-up minute of the last day, then
  // anything newer from raw samples.
  int64_t day_ago = minute_watermark_ - 24 * kHour;
  // (The row of each series' newest span: SQLite takes bare columns from
  // the row max() picks.)
  Stmt rolled(db_,
              "SELECT key >> 24, max(span), data FROM rollup_1m_blocks WHERE span >= ? "
              "GROUP BY key >> 24");
  RETURN_IF_ERROR(rolled.status());
  rolled.Bind(1, FloorTo(day_ago, kHour));
  std::vector<Aggregate> minutes;
  while ((rc = rolled.Step()) == SQLITE_ROW) {
    minutes.clear();
    DecodeRollups(kMinuteTier, rolled.Int(0), rolled.Int(1), BlobOf(rolled, 2), &minutes);
    if (!minutes.empty()) latest_[rolled.Int(0)] = {minutes.back().last_ms, minutes.back().last};
  }
  if (rc != SQLITE_DONE) return rolled.Error();
  std::unordered_map<int64_t, RawSample> newest;
  RETURN_IF_ERROR(ReadLast(writer_,
                           minute_watermark_ == 0 ? INT64_MIN : minute_watermark_ - kLookbackMs,
                           INT64_MAX, nullptr, &newest));
  for (const auto& [id, sample] : newest) latest_[id] = {sample.ts_ms, sample.value};
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SeriesInfo>> SqliteStore::FindSeries(const SeriesSelector& selector) {
  std::lock_guard lock(mu_);
  return FindSeriesLocked(selector);
}

absl::StatusOr<std::vector<SeriesInfo>> SqliteStore::FindSeriesLocked(
    const SeriesSelector& selector) {
  auto cached = series_by_name_.find(selector.name);
  if (cached == series_by_name_.end()) {
    Stmt q(db_, "SELECT id, agent_id, labels, type FROM series WHERE name = ? ORDER BY id");
    RETURN_IF_ERROR(q.status());
    q.Bind(1, selector.name);
    std::vector<SeriesInfo> all;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
      SeriesInfo& info = all.emplace_back();
      info.id = q.Int(0);
      info.agent_id = q.Text(1);
      info.name = selector.name;
      info.labels = ParseLabelsOrEmpty(q.Text(2));
      info.type = static_cast<v1::MetricType>(q.Int(3));
    }
    if (rc != SQLITE_DONE) return q.Error();
    cached = series_by_name_.emplace(selector.name, std::move(all)).first;
  }
  std::vector<SeriesInfo> out;
  for (const SeriesInfo& info : cached->second) {
    if (std::all_of(selector.matchers.begin(), selector.matchers.end(),
                    [&](const LabelMatcher& m) { return m.Matches(info.labels); })) {
      out.push_back(info);
    }
  }
  return out;
}

void SqliteStore::DecodeRollups(const RollupTier& tier, int64_t series_id, int64_t span,
                                std::string_view blob, std::vector<Aggregate>* out) {
  if (!DecodeAggregates(blob, out).ok()) {
    std::lock_guard lock(corrupt_mu_);
    corrupt_rollups_.emplace(tier.span_ms, series_id, span);
  }
}

absl::Status SqliteStore::MergeRollups(Connection& c, const RollupTier& tier,
                                       std::vector<SeriesBucket>& fresh, bool keep_existing,
                                       std::vector<EncodedRollup>* out) {
  ASSIGN_OR_RETURN(sqlite3_stmt * kept_read, Prepared(c, tier.read));
  std::stable_sort(fresh.begin(), fresh.end(), [](const SeriesBucket& x, const SeriesBucket& y) {
    return std::tie(x.first, x.second.start_ms) < std::tie(y.first, y.second.start_ms);
  });
  std::vector<Aggregate> stored, merged;
  for (size_t i = 0; i < fresh.size();) {
    const int64_t id = fresh[i].first;
    const int64_t span = FloorTo(fresh[i].second.start_ms, tier.span_ms);
    size_t j = i;
    while (j < fresh.size() && fresh[j].first == id &&
           FloorTo(fresh[j].second.start_ms, tier.span_ms) == span) {
      ++j;
    }
    stored.clear();
    {
      Stmt read(c.db, kept_read);
      if (tier.by_series_and_span) {
        read.Bind(1, id).Bind(2, span);
      } else {
        read.Bind(1, tier.Key(id, span));
      }
      const int rc = read.Step();
      if (rc == SQLITE_ROW) {
        DecodeRollups(tier, id, span, BlobOf(read, 0), &stored);
      } else if (rc != SQLITE_DONE) {
        return read.Error();
      }
    }
    // Both ascending: merged in order, a bucket in both taken once.
    merged.clear();
    size_t k = 0;
    for (size_t f = i; f < j; ++f) {
      const Aggregate& a = fresh[f].second;
      if (f + 1 < j && fresh[f + 1].second.start_ms == a.start_ms) continue;  // the later wins
      while (k < stored.size() && stored[k].start_ms < a.start_ms) merged.push_back(stored[k++]);
      const bool both = k < stored.size() && stored[k].start_ms == a.start_ms;
      merged.push_back(both && keep_existing ? stored[k] : a);
      if (both) ++k;
    }
    merged.insert(merged.end(), stored.begin() + static_cast<ptrdiff_t>(k), stored.end());
    out->push_back({id, span, static_cast<int64_t>(merged.size()), EncodeAggregates(merged)});
    i = j;
  }
  fresh.clear();
  return absl::OkStatus();
}

absl::Status SqliteStore::PutRollups(const RollupTier& tier,
                                     const std::vector<EncodedRollup>& blobs) {
  ASSIGN_OR_RETURN(sqlite3_stmt * kept_write, Prepared(tier.write));
  for (const EncodedRollup& b : blobs) {
    Stmt write(db_, kept_write);
    write.Bind(1, tier.by_series_and_span ? b.series_id : tier.Key(b.series_id, b.span))
        .Bind(2, b.span)
        .Bind(3, b.buckets);
    sqlite3_bind_blob(write.stmt(), 4, b.data.data(), static_cast<int>(b.data.size()),
                      SQLITE_STATIC);
    RETURN_IF_ERROR(write.Run());
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::WriteRollups(const RollupTier& tier, std::vector<SeriesBucket>& fresh,
                                       bool keep_existing) {
  std::vector<EncodedRollup> blobs;
  RETURN_IF_ERROR(MergeRollups(writer_, tier, fresh, keep_existing, &blobs));
  return PutRollups(tier, blobs);
}

absl::Status SqliteStore::MoveRollupsIntoBlocks() {
  for (const auto& [from, tier] :
       {std::pair<const char*, const RollupTier*>{"rollup_1m", &kMinuteTierV6},
        {"rollup_1h", &kHourTierV6}}) {
    Stmt q(db_, StrCat("SELECT series_id, bucket, count, sum, min, max, first, first_ms, last, "
                       "last_ms, increase FROM ",
                       from, " ORDER BY series_id, bucket")
                    .c_str());
    RETURN_IF_ERROR(q.status());
    std::vector<SeriesBucket> rows;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
      // Flushed between series, so a blob is written once.
      if (rows.size() >= (1u << 20) && rows.back().first != q.Int(0)) {
        RETURN_IF_ERROR(WriteRollups(*tier, rows, false));
      }
      rows.emplace_back(q.Int(0), ReadAggregate(q, 1));
    }
    if (rc != SQLITE_DONE) return q.Error();
    q.Reset();
    RETURN_IF_ERROR(WriteRollups(*tier, rows, false));
    RETURN_IF_ERROR(Exec(StrCat("DROP TABLE ", from).c_str()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SeriesAggregates>> SqliteStore::Aggregates(
    const SeriesSelector& selector, int64_t from_ms, int64_t to_ms, int64_t step_ms,
    AggregateSource* source) {
  if (step_ms <= 0 || step_ms % kMinute != 0) {
    return absl::InvalidArgumentError("step must be a positive multiple of one minute");
  }
  from_ms = FloorTo(from_ms, kMinute);
  to_ms = FloorTo(to_ms, kMinute);
  if (to_ms < from_ms) return absl::InvalidArgumentError("window ends before it starts");
  // Read on the query connection, in a read transaction opened while the
  // writer's state (watermarks, hours being redone) is copied under mu_:
  // the snapshot and the state agree, and later commits (ingest, roll-up
  // steps) go on beside the query instead of waiting for it, nor it for
  // them.
  std::lock_guard read_lock(read_mu_);
  std::vector<SeriesInfo> series;
  int64_t minute_watermark = 0, hour_watermark = 0;
  std::set<int64_t> dirty_hours;
  {
    // Counted as a waiting writer: maintenance gives way between its steps.
    writers_waiting_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mu_);
    writers_waiting_.fetch_sub(1, std::memory_order_relaxed);
    ASSIGN_OR_RETURN(series, FindSeriesLocked(selector));
    minute_watermark = minute_watermark_;
    hour_watermark = hour_watermark_;
    dirty_hours = dirty_hours_;
    if (!query_rollups_.load()) minute_watermark = hour_watermark = INT64_MIN;
    if (!series.empty() && to_ms > from_ms) {
      Stmt begin(reader_.db, "BEGIN");
      RETURN_IF_ERROR(begin.Run());
      Stmt pin(reader_.db, "SELECT count(*) FROM sqlite_schema");
      if (pin.Step() != SQLITE_ROW) {
        absl::Status error = pin.Error();
        (void)sqlite3_exec(reader_.db, "ROLLBACK", nullptr, nullptr, nullptr);
        return error;
      }
    }
  }
  absl::Cleanup end_read = [this] {
    if (!sqlite3_get_autocommit(reader_.db)) {
      (void)sqlite3_exec(reader_.db, "COMMIT", nullptr, nullptr, nullptr);
    }
  };
  std::unordered_map<int64_t, size_t> index;
  std::vector<SeriesAggregates> out(series.size());
  for (size_t i = 0; i < series.size(); ++i) {
    index[series[i].id] = i;
    out[i].series = std::move(series[i]);
  }
  if (out.empty() || to_ms == from_ms) return out;
  BucketFolder folded(out.size(), from_ms, to_ms, step_ms);
  auto fold = [&](int64_t series_id, const Aggregate& a) {
    auto it = index.find(series_id);
    if (it != index.end()) folded.Fold(it->second, a);
  };
  AggregateSource used;

  // Whole hours from hourly rollups when an hour never straddles two buckets.
  const bool hours_fit =
      step_ms >= to_ms - from_ms || (from_ms % kHour == 0 && step_ms % kHour == 0);
  int64_t hour_from = CeilTo(from_ms, kHour);
  int64_t hour_to = std::min(FloorTo(to_ms, kHour), hour_watermark);
  if (!hours_fit || hour_to <= hour_from) hour_from = hour_to = from_ms;
  // Whole minutes from minute rollups, outside the hour range.
  int64_t minute_end = std::min(to_ms, minute_watermark);
  // Only the matched series (label matchers included), each by its primary
  // key range: not every series of the name (a fleet's thousands of hosts).
  std::vector<int64_t> ids;
  ids.reserve(index.size());
  for (const auto& entry : index) ids.push_back(entry.first);
  std::sort(ids.begin(), ids.end());
  std::vector<Aggregate> decoded;
  auto scan_rollup = [&](const RollupTier& tier, int64_t a, int64_t b,
                         uint64_t* counter) -> absl::Status {
    if (b <= a) return absl::OkStatus();
    ASSIGN_OR_RETURN(sqlite3_stmt * kept, Prepared(reader_, tier.scan));
    const int64_t first_span = FloorTo(a, tier.span_ms), end_span = CeilTo(b, tier.span_ms);
    for (int64_t id : ids) {
      const size_t slot = index.at(id);
      Stmt q(reader_.db, kept);
      q.Bind(1, tier.Key(id, first_span)).Bind(2, tier.Key(id, end_span));
      int rc;
      while ((rc = q.Step()) == SQLITE_ROW) {
        decoded.clear();
        DecodeRollups(tier, id, q.Int(1), BlobOf(q, 2), &decoded);
        for (const Aggregate& agg : decoded) {
          if (agg.start_ms < a || agg.start_ms >= b) continue;
          folded.Fold(slot, agg);
          ++*counter;
        }
      }
      if (rc != SQLITE_DONE) return q.Error();
    }
    return absl::OkStatus();
  };
  // An hour whose minutes changed since it was rolled up comes from its
  // minutes until it is rolled up again.
  int64_t hours_at = hour_from;
  for (auto it = dirty_hours.lower_bound(hour_from); it != dirty_hours.end() && *it < hour_to;
       ++it) {
    RETURN_IF_ERROR(scan_rollup(kHourTier, hours_at, *it, &used.hour_buckets));
    RETURN_IF_ERROR(scan_rollup(kMinuteTier, *it, *it + kHour, &used.minute_buckets));
    hours_at = *it + kHour;
  }
  RETURN_IF_ERROR(scan_rollup(kHourTier, hours_at, hour_to, &used.hour_buckets));
  RETURN_IF_ERROR(
      scan_rollup(kMinuteTier, from_ms, std::min(hour_from, minute_end), &used.minute_buckets));
  RETURN_IF_ERROR(
      scan_rollup(kMinuteTier, std::max(hour_to, from_ms), minute_end, &used.minute_buckets));
  // The part not rolled up yet, from raw samples.
  int64_t raw_from = std::max(from_ms, minute_watermark);
  if (raw_from < to_ms) {
    RETURN_IF_ERROR(MinuteAggregates(
        reader_, raw_from, to_ms, [&](int64_t id) { return index.count(id) != 0; },
        [&](int64_t id, const Aggregate& a) {
          used.raw_samples += a.count;
          fold(id, a);
          return absl::OkStatus();
        }));
  }
  for (size_t i = 0; i < out.size(); ++i) out[i].buckets = folded.Take(i);
  if (source != nullptr) *source = used;
  return out;
}

absl::Status SqliteStore::RollUpMinutes(int64_t from_ms, int64_t to_ms, bool keep_existing,
                                        const SeriesFilter& want,
                                        const std::function<absl::Status()>& last,
                                        const std::function<void()>& committed) {
  std::vector<SeriesBucket> fresh;
  std::vector<EncodedRollup> blobs;
  auto emit = [&](int64_t id, const Aggregate& a) {
    fresh.emplace_back(id, a);
    return absl::OkStatus();
  };
  // In steps of whole minutes that decode at most kMaxSamplesPerStep
  // samples (estimated from the blocks of the step's first window). A step
  // is read, aggregated and merged into its blobs on maintainer_, without
  // the store lock; only writing the blobs takes it (one transaction). This
  // thread alone writes rollup blobs, so the ones read are still current
  // when written back.
  ASSIGN_OR_RETURN(
      sqlite3_stmt * kept_count,
      Prepared(maintainer_, "SELECT coalesce(sum(samples), 0) FROM sample_blocks WHERE win = ?"));
  for (int64_t from = from_ms; from < to_ms;) {
    Stmt count(maintainer_.db, kept_count);
    count.Bind(1, FloorTo(from, kWindow));
    if (count.Step() != SQLITE_ROW) return count.Error();
    const auto per_minute = static_cast<uint64_t>(count.Int(0)) / (kWindow / kMinute) + 1;
    count.Reset();
    const auto minutes =
        static_cast<int64_t>(std::max<uint64_t>(1, kMaxSamplesPerStep / per_minute));
    const int64_t to = std::min(to_ms, from + minutes * kMinute);
    RETURN_IF_ERROR(MinuteAggregates(maintainer_, from, to, want, emit));
    blobs.clear();
    RETURN_IF_ERROR(MergeRollups(maintainer_, kMinuteTier, fresh, keep_existing, &blobs));
    if (rollup_hook_) rollup_hook_();
    YieldToWriters();
    std::lock_guard lock(mu_);
    RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    absl::Status s = PutRollups(kMinuteTier, blobs);
    if (s.ok() && to == to_ms && last) s = last();
    if (s.ok()) s = Exec("COMMIT");
    if (!s.ok()) {
      (void)Exec("ROLLBACK");
      return s;
    }
    // Minutes recomputed for late data (`want` names its series) change
    // answers; rolling up on time does not.
    if (want) DaysChanged(from, to);
    if (to == to_ms && committed) committed();
    from = to;
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::HourAggregates(Connection& c, int64_t hour,
                                         std::vector<SeriesBucket>* out) {
  ASSIGN_OR_RETURN(sqlite3_stmt * kept_minutes, Prepared(c, kMinuteTier.at_span));
  Stmt q(c.db, kept_minutes);
  q.Bind(1, hour);
  std::vector<Aggregate> minutes;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    minutes.clear();
    DecodeRollups(kMinuteTier, q.Int(0), hour, BlobOf(q, 1), &minutes);
    if (minutes.empty()) continue;
    Aggregate merged;
    for (const Aggregate& m : minutes) merged.Merge(m);
    merged.start_ms = hour;
    out->emplace_back(q.Int(0), merged);
  }
  if (rc != SQLITE_DONE) return q.Error();
  return absl::OkStatus();
}

absl::Status SqliteStore::RollUpHours(int64_t from_ms, int64_t to_ms) {
  // An hour is its minutes merged in time order; written a day at a time
  // (one blob per series and day).
  std::vector<SeriesBucket> hours;
  for (int64_t hour = FloorTo(from_ms, kHour); hour < to_ms; hour += kHour) {
    RETURN_IF_ERROR(HourAggregates(writer_, hour, &hours));
    if (hour + kHour >= to_ms || (hour + kHour) % kDay == 0 || hours.size() >= (1u << 20)) {
      RETURN_IF_ERROR(WriteRollups(kHourTier, hours, /*keep_existing=*/false));
    }
  }
  return absl::OkStatus();
}

void SqliteStore::SetMinuteRollupStep(int64_t step_ms) {
  std::lock_guard lock(mu_);
  minute_rollup_step_ = std::clamp<int64_t>(FloorTo(step_ms, kMinute), kMinute, kHour);
  while (kHour % minute_rollup_step_ != 0) minute_rollup_step_ -= kMinute;
}

absl::StatusOr<MaintenanceReport> SqliteStore::RunMaintenance(int64_t now_ms,
                                                              const RetentionPolicy& retention) {
  // One call at a time: maintainer_ and the roll-up state are this call's.
  std::lock_guard maintaining(maintenance_mu_);
  MaintenanceReport report;
  const int64_t settled = FloorTo(now_ms - kRollupGraceMs, kMinute);
  // Rolled forward in whole steps (SetMinuteRollupStep); late minutes are
  // recomputed whatever the step.
  const int64_t rollable = FloorTo(settled, minute_rollup_step_);
  // Rolls forward in slices of an hour at most, one short transaction each,
  // for about a second per call, so ingest is never stalled for long and a
  // backlog (a restored or backfilled store) still catches up quickly.
  const auto budget_end = std::chrono::steady_clock::now() + budget_;
  while (std::chrono::steady_clock::now() < budget_end) {
    // While batches arrive, ten minutes a step instead of an hour.
    const int64_t step = YieldToWriters() ? 10 * kMinute : kHour;
    int64_t from = 0, to = 0;
    {
      std::lock_guard lock(mu_);
      if (minute_watermark_ == 0) {
        Stmt oldest(db_, "SELECT min(min_ts) FROM sample_blocks");
        RETURN_IF_ERROR(oldest.status());
        if (oldest.Step() != SQLITE_ROW) return oldest.Error();
        bool empty = sqlite3_column_type(oldest.stmt(), 0) == SQLITE_NULL;
        minute_watermark_ = empty ? settled : FloorTo(oldest.Int(0), kMinute);
        hour_watermark_ = FloorTo(minute_watermark_, kHour);
      }
      if (minute_watermark_ >= rollable) break;
      report.more = true;  // until the loop sees the watermark settled
      const int64_t chunk = std::max(step, minute_rollup_step_);
      from = minute_watermark_;
      to = std::min({rollable, FloorTo(from, kHour) + kHour, FloorTo(from, chunk) + chunk});
      // From now on a sample before `to` is late: one that arrives while
      // [from, to) is rolled up (outside the lock) has its minute recomputed.
      rolling_to_ = std::max(rolling_to_, to);
    }
    const int64_t hour_to = FloorTo(to, kHour);
    auto advance = [&]() -> absl::Status {
      if (hour_to > hour_watermark_) RETURN_IF_ERROR(RollUpHours(hour_watermark_, hour_to));
      RETURN_IF_ERROR(SetState("minute_watermark", to));
      if (hour_to > hour_watermark_) RETURN_IF_ERROR(SetState("hour_watermark", hour_to));
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(RollUpMinutes(from, to, /*keep_existing=*/false, nullptr, advance, [&] {
      report.minutes_rolled_up += static_cast<uint64_t>((to - from) / kMinute);
      if (hour_to > hour_watermark_) {
        report.hours_rolled_up += static_cast<uint64_t>((hour_to - hour_watermark_) / kHour);
        hour_watermark_ = hour_to;
      }
      minute_watermark_ = to;
      report.more = minute_watermark_ < rollable;
    }));
  }
  // Minutes that late data touched, for the series it touched: in chunks
  // until the second is used up (at least one), so a backfilled history
  // catches up in minutes, not hours.
  bool minutes_done = false;
  for (bool first = true; first || std::chrono::steady_clock::now() < budget_end; first = false) {
    const int64_t limit = YieldToWriters() ? 15 : 120;
    // Consecutive minutes are recomputed as one range (the increase rule
    // makes that the same as minute by minute), for the union of their
    // dirty series. Retention may have deleted raw samples an old minute's
    // rollups were made from (or their lookback): recomputing would replace
    // those with a part of the data, so such a minute only gains rollups
    // for series that had none (a backfilled history), never loses any.
    struct Range {
      int64_t from = 0, to = 0;
      bool recomputable = true;
      bool every_series = false;
      std::unordered_set<int64_t> series;
    };
    std::vector<Range> ranges;
    std::unordered_map<int64_t, uint64_t> marks;  // each minute's marks when read
    {
      std::lock_guard lock(mu_);
      Stmt dirty(db_,
                 "SELECT bucket FROM dirty_minutes WHERE bucket < ? ORDER BY bucket DESC LIMIT ?");
      RETURN_IF_ERROR(dirty.status());
      dirty.Bind(1, minute_watermark_).Bind(2, limit);
      std::vector<int64_t> minutes;
      int rc;
      while ((rc = dirty.Step()) == SQLITE_ROW) minutes.push_back(dirty.Int(0));
      if (rc != SQLITE_DONE) return dirty.Error();
      if (minutes.empty()) {
        report.more = report.more && minute_watermark_ < rollable;
        minutes_done = true;
        break;
      }
      // Newest first: a replayed or backfilled history shows its recent
      // days (what dashboards look at) before the old ones.
      std::reverse(minutes.begin(), minutes.end());
      report.more = true;  // an empty query ends the loop and says otherwise
      for (size_t i = 0; i < minutes.size();) {
        Range& r = ranges.emplace_back();
        r.recomputable = minutes[i] - kLookbackMs >= raw_cutoff_;
        size_t j = i + 1;
        while (j < minutes.size() && minutes[j] == minutes[j - 1] + kMinute &&
               (minutes[j] - kLookbackMs >= raw_cutoff_) == r.recomputable) {
          ++j;
        }
        r.from = minutes[i];
        r.to = minutes[j - 1] + kMinute;
        for (size_t k = i; k < j; ++k) {
          auto it = dirty_series_.find(minutes[k]);
          if (dirty_all_minutes_.count(minutes[k]) != 0 || it == dirty_series_.end()) {
            r.every_series = true;
          } else {
            r.series.insert(it->second.begin(), it->second.end());
          }
          auto m = dirty_marks_.find(minutes[k]);
          marks[minutes[k]] = m == dirty_marks_.end() ? 0 : m->second;
        }
        i = j;
      }
    }
    // Each range recomputed aside (RollUpMinutes); a minute is clean once
    // written, unless late data marked it again meanwhile (then it stays
    // dirty, with the series of both marks, and is recomputed again).
    for (const Range& r : ranges) {
      SeriesFilter want;
      if (!r.every_series) want = [&r](int64_t id) { return r.series.count(id) != 0; };
      std::vector<int64_t> clean;
      std::set<int64_t> hours;
      auto settle = [&]() -> absl::Status {
        Stmt clear(db_, "DELETE FROM dirty_minutes WHERE bucket = ?");
        Stmt mark(db_, "INSERT OR IGNORE INTO dirty_hours (bucket) VALUES (?)");
        RETURN_IF_ERROR(clear.status());
        RETURN_IF_ERROR(mark.status());
        for (int64_t m = r.from; m < r.to; m += kMinute) {
          auto now = dirty_marks_.find(m);
          if ((now == dirty_marks_.end() ? 0 : now->second) == marks[m]) {
            RETURN_IF_ERROR(clear.Bind(1, m).Run());
            clean.push_back(m);
          }
          const int64_t hour = FloorTo(m, kHour);
          if (hour < hour_watermark_ && hours.insert(hour).second) {
            RETURN_IF_ERROR(mark.Bind(1, hour).Run());
          }
        }
        return absl::OkStatus();
      };
      RETURN_IF_ERROR(
          RollUpMinutes(r.from, r.to, /*keep_existing=*/!r.recomputable, want, settle, [&] {
            for (int64_t m : clean) {
              auto it = dirty_series_.find(m);
              if (it != dirty_series_.end()) {
                dirty_series_count_ -= it->second.size();
                dirty_series_.erase(it);
              }
              dirty_all_minutes_.erase(m);
              dirty_marks_.erase(m);
            }
            dirty_hours_.insert(hours.begin(), hours.end());
            report.late_minutes_recomputed += static_cast<uint64_t>((r.to - r.from) / kMinute);
          }));
    }
  }
  // Hours whose minutes changed: once the late minutes are done, or every
  // 30 s while they keep coming (queries read a dirty hour's minutes).
  const auto steady_now = std::chrono::steady_clock::now();
  if (!dirty_hours_.empty() &&
      (minutes_done || steady_now - last_hours_rollup_ >= std::chrono::seconds(30))) {
    last_hours_rollup_ = steady_now;
    // A UTC day (one blob per series) at a time: its hours read from their
    // minutes and merged into the day's blobs on maintainer_, without the
    // store lock (this thread alone writes rollups and marks hours dirty;
    // queries read a dirty hour's minutes meanwhile); then written, and the
    // hours marked clean, in one transaction under it. A backfill's
    // hundreds of hours are no longer decoded and merged under the lock.
    const std::vector<int64_t> hs(dirty_hours_.begin(), dirty_hours_.end());
    std::vector<SeriesBucket> hours;
    std::vector<EncodedRollup> blobs;
    for (size_t a = 0; a < hs.size();) {
      const int64_t day = FloorTo(hs[a], kDay);
      size_t b = a;
      hours.clear();
      for (; b < hs.size() && FloorTo(hs[b], kDay) == day; ++b) {
        RETURN_IF_ERROR(HourAggregates(maintainer_, hs[b], &hours));
      }
      blobs.clear();
      RETURN_IF_ERROR(MergeRollups(maintainer_, kHourTier, hours, /*keep_existing=*/false, &blobs));
      YieldToWriters();
      {
        std::lock_guard lock(mu_);
        RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
        absl::Status s = PutRollups(kHourTier, blobs);
        if (s.ok()) {
          Stmt clean(db_, "DELETE FROM dirty_hours WHERE bucket >= ? AND bucket < ?");
          s = clean.status();
          if (s.ok()) s = clean.Bind(1, day).Bind(2, day + kDay).Run();
        }
        if (s.ok()) s = Exec("COMMIT");
        if (!s.ok()) {
          (void)Exec("ROLLBACK");
          return s;
        }
        for (size_t i = a; i < b; ++i) dirty_hours_.erase(hs[i]);
      }
      DaysChanged(day, day + kDay);
      a = b;
    }
  } else if (!dirty_hours_.empty()) {
    report.more = true;
  }
  // Closed windows' ingest blocks merged into per-shard blocks (what
  // makes raw samples compact on disk), oldest first, one a call (also when
  // the roll-ups used the second: a backfill must not starve it).
  {
    int64_t window = INT64_MIN;
    {
      std::lock_guard lock(mu_);
      Stmt next(db_, "SELECT min(win) FROM sample_blocks WHERE shard = -1 AND win <= ?");
      RETURN_IF_ERROR(next.status());
      if (next.Bind(1, settled - kWindow).Step() != SQLITE_ROW) return next.Error();
      if (sqlite3_column_type(next.stmt(), 0) != SQLITE_NULL) window = next.Int(0);
    }
    if (window != INT64_MIN) {
      ASSIGN_OR_RETURN(uint64_t merged, CompactWindow(window));
      report.windows_compacted += merged;
      report.more = true;
    }
  }
  // Retention, at most once a minute: raw only once rolled up, minute
  // rollups only once covered by hour rollups.
  if (now_ms - last_retention_ms_ >= kMinute) {
    std::lock_guard lock(mu_);
    last_retention_ms_ = now_ms;
    // Raw samples within the lookback before the watermark stay: the next
    // rollup needs each series' previous sample for its counter increase.
    const int64_t raw_cutoff =
        std::max(std::min(now_ms - retention.raw_ms, minute_watermark_ - kLookbackMs), raw_cutoff_);
    // Late raw samples stay until their minutes are rolled up.
    int64_t delete_before = raw_cutoff;
    {
      Stmt oldest(db_, "SELECT min(bucket) FROM dirty_minutes");
      RETURN_IF_ERROR(oldest.status());
      if (oldest.Step() != SQLITE_ROW) return oldest.Error();
      if (sqlite3_column_type(oldest.stmt(), 0) != SQLITE_NULL) {
        delete_before = std::min(delete_before, oldest.Int(0) - 2 * kLookbackMs);
      }
    }
    int64_t minute_cutoff = std::min(now_ms - retention.minute_ms, hour_watermark_);
    int64_t hour_cutoff = now_ms - retention.hour_ms;
    int64_t dedupe_cutoff = now_ms - std::max<int64_t>(retention.raw_ms, 8LL * 24 * kHour);
    // Before deleting: days whose hour rollups go are no longer tracked.
    // Whole days are answered from hour rollups, which cover every minute
    // rollup retention deletes and every raw sample (raw samples go only
    // once rolled up).
    if (hour_cutoff > retention_cut_.load()) retention_cut_.store(hour_cutoff);
    RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    absl::Status s;
    auto erase = [&](const char* sql, int64_t cutoff, uint64_t* counter) {
      if (!s.ok()) return;
      Stmt d(db_, sql);
      s = d.status();
      if (s.ok()) s = d.Bind(1, cutoff).Run();
      if (s.ok() && counter != nullptr) *counter += static_cast<uint64_t>(sqlite3_changes(db_));
    };
    // Raw samples go in whole windows (every block lies in one).
    const int64_t window_cutoff = FloorTo(delete_before, kWindow);
    if (s.ok()) {
      Stmt gone(db_, "SELECT coalesce(sum(samples), 0) FROM sample_blocks WHERE win < ?");
      s = gone.status();
      if (s.ok() && gone.Bind(1, window_cutoff).Step() != SQLITE_ROW) s = gone.Error();
      if (s.ok()) report.raw_deleted += static_cast<uint64_t>(gone.Int(0));
    }
    erase("DELETE FROM sample_blocks WHERE win < ?", window_cutoff, nullptr);
    // Rollups go in whole blobs, once all of a blob's span is past the cutoff.
    for (const auto& [tier, cutoff] :
         {std::pair<const RollupTier*, int64_t>{&kMinuteTier, minute_cutoff},
          {&kHourTier, hour_cutoff}}) {
      const int64_t before = cutoff - tier->span_ms + 1;
      if (s.ok()) {
        Stmt gone(db_, tier->count_before);
        s = gone.status();
        if (s.ok() && gone.Bind(1, before).Step() != SQLITE_ROW) s = gone.Error();
        if (s.ok()) report.rollups_deleted += static_cast<uint64_t>(gone.Int(0));
      }
      erase(tier->erase_before, before, nullptr);
    }
    // A range goes once its newest batch is past the cutoff: an older
    // identity in it stays as long as the range holds a recent one, so
    // identities are only ever kept longer than the cutoff, never shorter.
    erase("DELETE FROM batch_ranges WHERE received_ms < ?", dedupe_cutoff, nullptr);
    // What a late minute's recompute may rely on: raw samples from here on
    // are all still there. Not raw_cutoff, which only says where retention
    // would like to delete: late minutes hold deletion back, and a minute
    // held back is recomputed from all its samples, not kept as it was.
    const int64_t deleted_before = std::max(raw_cutoff_, window_cutoff);
    if (s.ok() && deleted_before != raw_cutoff_) s = SetState("raw_cutoff", deleted_before);
    if (s.ok()) s = Exec("COMMIT");
    if (!s.ok()) {
      (void)Exec("ROLLBACK");
      return s;
    }
    raw_cutoff_ = deleted_before;
  }
  {
    std::lock_guard lock(mu_);
    std::lock_guard corrupt_lock(corrupt_mu_);
    const size_t corrupt = corrupt_blocks_.size() + corrupt_rollups_.size();
    report.corrupt_blocks = corrupt - corrupt_blocks_reported_;
    corrupt_blocks_reported_ = corrupt;
  }
  // The WAL copied into the file as far as no reader still needs it, on
  // maintainer_ without the store lock: commits go on meanwhile (a passive
  // checkpoint blocks neither readers nor the writer).
  int wal_frames = 0, copied = 0;
  const int rc = sqlite3_wal_checkpoint_v2(maintainer_.db, nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                           &wal_frames, &copied);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
    return absl::InternalError(StrCat("checkpoint: ", sqlite3_errmsg(maintainer_.db)));
  }
  report.wal_frames_left = static_cast<uint64_t>(std::max(0, wal_frames - copied));
  return report;
}

void SqliteStore::DaysChanged(int64_t from_ms, int64_t to_ms) {
  std::lock_guard lock(versions_mu_);
  for (int64_t day = FloorTo(from_ms, kDay); day < to_ms; day += kDay) {
    day_changes_[day] = ++changes_;
  }
}

std::optional<uint64_t> SqliteStore::DayVersion(int64_t day_ms) {
  if (day_ms < retention_cut_.load() || !query_rollups_.load()) return std::nullopt;
  std::lock_guard lock(versions_mu_);
  auto it = day_changes_.find(FloorTo(day_ms, kDay));
  return it == day_changes_.end() ? 0 : it->second;
}

absl::Status SqliteStore::PutIncident(const DeclaredIncident& incident) {
  std::lock_guard lock(mu_);
  Stmt q(db_,
         "INSERT OR REPLACE INTO incidents (id, title, from_ms, to_ms, services, declared_by, "
         "declared_ms) VALUES (?, ?, ?, ?, ?, ?, ?)");
  RETURN_IF_ERROR(q.status());
  return q.Bind(1, incident.id)
      .Bind(2, incident.title)
      .Bind(3, incident.from_ms)
      .Bind(4, incident.to_ms)
      .Bind(5, JoinIds(incident.services))
      .Bind(6, incident.declared_by)
      .Bind(7, incident.declared_ms)
      .Run();
}

absl::StatusOr<std::vector<DeclaredIncident>> SqliteStore::DeclaredIncidents(int64_t from_ms,
                                                                             int64_t to_ms) {
  std::lock_guard lock(mu_);
  Stmt q(db_,
         "SELECT id, title, from_ms, to_ms, services, declared_by, declared_ms FROM incidents "
         "WHERE from_ms < ? AND (to_ms = 0 OR to_ms > ?) ORDER BY from_ms, id");
  RETURN_IF_ERROR(q.status());
  q.Bind(1, to_ms).Bind(2, from_ms);
  std::vector<DeclaredIncident> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    DeclaredIncident d;
    d.id = q.Text(0);
    d.title = q.Text(1);
    d.from_ms = q.Int(2);
    d.to_ms = q.Int(3);
    d.services = SplitIds(q.Text(4));
    d.declared_by = q.Text(5);
    d.declared_ms = q.Int(6);
    out.push_back(std::move(d));
  }
  if (rc != SQLITE_DONE) return q.Error();
  return out;
}

absl::Status SqliteStore::AddIncidentNote(const IncidentNote& note) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "INSERT INTO incident_notes (incident_id, at_ms, author, text) VALUES (?, ?, ?, ?)");
  RETURN_IF_ERROR(q.status());
  return q.Bind(1, note.incident_id)
      .Bind(2, note.at_ms)
      .Bind(3, note.author)
      .Bind(4, note.text)
      .Run();
}

absl::StatusOr<std::vector<IncidentNote>> SqliteStore::IncidentNotes(
    const std::string& incident_id) {
  std::lock_guard lock(mu_);
  Stmt q(db_,
         "SELECT at_ms, author, text FROM incident_notes WHERE incident_id = ? "
         "ORDER BY at_ms, rowid");
  RETURN_IF_ERROR(q.status());
  q.Bind(1, incident_id);
  std::vector<IncidentNote> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    out.push_back({incident_id, q.Int(0), q.Text(1), q.Text(2)});
  }
  if (rc != SQLITE_DONE) return q.Error();
  return out;
}

}  // namespace plumbline::collector
