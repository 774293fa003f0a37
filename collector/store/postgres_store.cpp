#include "collector/store/postgres_store.h"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <tuple>

#include "collector/store/flatten.h"

namespace plumbline::collector {

namespace pg {

// Type OIDs (src/include/catalog/pg_type.dat); stable across releases.
constexpr Oid kInt4 = 23;
constexpr Oid kInt8 = 20;
constexpr Oid kFloat8 = 701;
constexpr Oid kText = 25;
constexpr Oid kInt4Array = 1007;
constexpr Oid kInt8Array = 1016;
constexpr Oid kFloat8Array = 1022;
constexpr Oid kTextArray = 1009;

void PutU32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out->push_back(static_cast<char>((v >> shift) & 0xff));
}
void PutU64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out->push_back(static_cast<char>((v >> shift) & 0xff));
}
uint64_t DoubleBits(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits;
}

// Parameters of one statement, all sent in binary format: no value is ever
// spliced into SQL text, and numbers cross the wire without formatting.
class Params {
 public:
  Params& Int(int64_t v) {
    std::string b;
    PutU64(&b, static_cast<uint64_t>(v));
    return Add(kInt8, std::move(b));
  }
  Params& Double(double v) {
    std::string b;
    PutU64(&b, DoubleBits(v));
    return Add(kFloat8, std::move(b));
  }
  Params& Text(const std::string& v) { return Add(kText, v); }
  Params& NullInt() {
    types_.push_back(kInt8);
    values_.emplace_back();
    null_.push_back(true);
    return *this;
  }
  Params& IntArray(const std::vector<int64_t>& v) {
    return Array(kInt8Array, kInt8, v.size(), [&](size_t i, std::string* out) {
      PutU32(out, 8);
      PutU64(out, static_cast<uint64_t>(v[i]));
    });
  }
  Params& Int32Array(const std::vector<int32_t>& v) {
    return Array(kInt4Array, kInt4, v.size(), [&](size_t i, std::string* out) {
      PutU32(out, 4);
      PutU32(out, static_cast<uint32_t>(v[i]));
    });
  }
  Params& DoubleArray(const std::vector<double>& v) {
    return Array(kFloat8Array, kFloat8, v.size(), [&](size_t i, std::string* out) {
      PutU32(out, 8);
      PutU64(out, DoubleBits(v[i]));
    });
  }
  Params& TextArray(const std::vector<std::string>& v) {
    return Array(kTextArray, kText, v.size(), [&](size_t i, std::string* out) {
      PutU32(out, static_cast<uint32_t>(v[i].size()));
      out->append(v[i]);
    });
  }

  int size() const { return static_cast<int>(types_.size()); }
  const Oid* types() const { return types_.data(); }
  const std::string& value(size_t i) const { return values_[i]; }
  bool null(size_t i) const { return null_[i]; }

 private:
  Params& Add(Oid type, std::string bytes) {
    types_.push_back(type);
    values_.push_back(std::move(bytes));
    null_.push_back(false);
    return *this;
  }
  // One-dimensional array in array_recv's format: ndim, has-nulls flag,
  // element type, then (length, lower bound) per dimension and the elements.
  template <typename PutElement>
  Params& Array(Oid array_type, Oid element_type, size_t n, PutElement put) {
    std::string b;
    PutU32(&b, n == 0 ? 0 : 1);
    PutU32(&b, 0);
    PutU32(&b, element_type);
    if (n > 0) {
      PutU32(&b, static_cast<uint32_t>(n));
      PutU32(&b, 1);
    }
    for (size_t i = 0; i < n; ++i) put(i, &b);
    return Add(array_type, std::move(b));
  }

  std::vector<Oid> types_;
  std::vector<std::string> values_;
  std::vector<bool> null_;
};

// A query result (text format).
class Result {
 public:
  explicit Result(PGresult* r) : r_(r, &PQclear) {}
  int rows() const { return PQntuples(r_.get()); }
  bool IsNull(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string Text(int row, int col) const {
    return std::string(PQgetvalue(r_.get(), row, col),
                       static_cast<size_t>(PQgetlength(r_.get(), row, col)));
  }
  int64_t Int(int row, int col) const {
    const char* v = PQgetvalue(r_.get(), row, col);
    int64_t out = 0;
    std::from_chars(v, v + PQgetlength(r_.get(), row, col), out);
    return out;
  }
  double Double(int row, int col) const {
    const char* v = PQgetvalue(r_.get(), row, col);
    const size_t n = static_cast<size_t>(PQgetlength(r_.get(), row, col));
    std::string_view text(v, n);
    if (text == "NaN") return std::nan("");
    if (text == "Infinity") return HUGE_VAL;
    if (text == "-Infinity") return -HUGE_VAL;
    double out = 0;
    std::from_chars(v, v + n, out);
    return out;
  }
  bool Bool(int row, int col) const { return Text(row, col) == "t"; }
  // Rows an INSERT/UPDATE/DELETE touched.
  uint64_t Affected() const {
    const char* n = PQcmdTuples(r_.get());
    uint64_t out = 0;
    std::from_chars(n, n + std::strlen(n), out);
    return out;
  }
  std::string CommandTag() const { return PQcmdStatus(r_.get()); }

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> r_;
};

}  // namespace pg

namespace {

// Advisory lock keys: (class, id) with a class of our own ("PLMB"), so they
// cannot collide with other applications' locks in the same database.
constexpr int64_t kLockClass = 0x504c4d42;
constexpr int64_t kMigrationLock = 1;
constexpr int64_t kMaintenanceLock = 2;
// Ingest holds it shared, rollups exclusively (see the header).
constexpr int64_t kRollupFence = 3;

// Numbered migrations: entry i brings the schema from version i to i + 1.
// Never edit a released entry; append a new one.
constexpr const char* kMigrations[] = {
    // 1: the schema of SQLite's version 2 in PostgreSQL types. Series are
    // unique by md5(labels), since a label set can outgrow a btree entry.
    R"sql(
    CREATE TABLE agents (
      agent_id TEXT PRIMARY KEY,
      hostname TEXT NOT NULL DEFAULT '',
      version TEXT NOT NULL DEFAULT '',
      os TEXT NOT NULL DEFAULT '',
      labels TEXT NOT NULL DEFAULT '',
      cpu_count BIGINT NOT NULL DEFAULT 0,
      memory_bytes BIGINT NOT NULL DEFAULT 0,
      first_seen_ms BIGINT NOT NULL,
      last_seen_ms BIGINT NOT NULL,
      epoch BIGINT NOT NULL DEFAULT 0,
      last_sequence BIGINT NOT NULL DEFAULT 0,
      batches BIGINT NOT NULL DEFAULT 0,
      samples BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE batches (
      agent_id TEXT NOT NULL,
      epoch BIGINT NOT NULL,
      sequence BIGINT NOT NULL,
      received_ms BIGINT NOT NULL,
      samples BIGINT NOT NULL,
      PRIMARY KEY (agent_id, epoch, sequence)
    );
    CREATE INDEX batches_by_received ON batches (received_ms);
    CREATE TABLE series (
      id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      agent_id TEXT NOT NULL,
      name TEXT NOT NULL,
      labels TEXT NOT NULL,
      type INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX series_identity ON series (agent_id, name, (md5(labels)));
    CREATE INDEX series_by_name ON series (name);
    CREATE TABLE samples (
      series_id BIGINT NOT NULL,
      ts_ms BIGINT NOT NULL,
      value DOUBLE PRECISION NOT NULL,
      PRIMARY KEY (series_id, ts_ms)
    );
    CREATE INDEX samples_by_time ON samples (ts_ms);
    CREATE TABLE rollup_1m (
      series_id BIGINT NOT NULL,
      bucket BIGINT NOT NULL,
      count BIGINT NOT NULL,
      sum DOUBLE PRECISION NOT NULL,
      min DOUBLE PRECISION NOT NULL,
      max DOUBLE PRECISION NOT NULL,
      first DOUBLE PRECISION NOT NULL,
      first_ms BIGINT NOT NULL,
      last DOUBLE PRECISION NOT NULL,
      last_ms BIGINT NOT NULL,
      increase DOUBLE PRECISION NOT NULL,
      PRIMARY KEY (series_id, bucket)
    );
    CREATE INDEX rollup_1m_by_bucket ON rollup_1m (bucket);
    CREATE TABLE rollup_1h (LIKE rollup_1m INCLUDING ALL);
    CREATE TABLE rollup_state (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
    INSERT INTO rollup_state (name, value) VALUES
      ('minute_watermark', 0), ('hour_watermark', 0), ('raw_cutoff', -9223372036854775808);
    CREATE TABLE dirty_minutes (bucket BIGINT PRIMARY KEY);
    CREATE TABLE dirty_hours (bucket BIGINT PRIMARY KEY);
    )sql",
    // 2: incidents declared by SREs, and notes on any incident.
    R"sql(
    CREATE TABLE incidents (
      id TEXT PRIMARY KEY,
      title TEXT NOT NULL,
      from_ms BIGINT NOT NULL,
      to_ms BIGINT NOT NULL,
      services TEXT NOT NULL,
      declared_by TEXT NOT NULL,
      declared_ms BIGINT NOT NULL
    );
    CREATE TABLE incident_notes (
      note_id BIGSERIAL PRIMARY KEY,
      incident_id TEXT NOT NULL,
      at_ms BIGINT NOT NULL,
      author TEXT NOT NULL,
      text TEXT NOT NULL
    );
    CREATE INDEX incident_notes_by_incident ON incident_notes (incident_id, at_ms);
    )sql",
    // 3: day versions for the engine's day cache (PostgresStore::DayVersion):
    // per UTC day that changed after it ended, a number from one sequence
    // (never repeated, so every committed state of a day has its own), and
    // the hour rollups' retention cutoff (days before it are not tracked).
    R"sql(
    CREATE SEQUENCE day_change_seq;
    CREATE TABLE day_changes (day BIGINT PRIMARY KEY, version BIGINT NOT NULL);
    INSERT INTO rollup_state (name, value) VALUES ('hour_cutoff', -9223372036854775808);
    )sql",
};

constexpr int64_t kMinute = 60 * 1000;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
// A counter's step from its previous sample counts only if that sample is at
// most this much older (the same rule as the SQLite backend).
constexpr int64_t kLookbackMs = 15 * kMinute;
// Rows per INSERT statement when writing samples.
constexpr size_t kInsertChunk = 20000;
// Day versions. A reader tracks a day once it ended this long ago by its
// clock; a writer moves a day's version once the day ended this long ago by
// its clock. The difference is what collectors' clocks may disagree by.
constexpr int64_t kReaderSettleMs = 30 * kMinute;
constexpr int64_t kWriterSettleMs = 15 * kMinute;
// How old DayVersion's copy of the versions may get, and how many days back
// it holds (the default hour rollup retention).
constexpr auto kVersionsMaxAge = std::chrono::seconds(1);
constexpr int64_t kVersionsSpanMs = 400 * kDay;

// Per-minute aggregates of raw samples in [$1, $2), each sample's increase
// stepping from its previous sample when that is at most $3 ms older.
// Columns: series_id, bucket, count, sum, min, max, first, first_ms, last,
// last_ms, increase. `series_filter` narrows the samples read.
std::string MinuteAggregateSql(const char* series_filter) {
  return StrCat(R"sql(
  SELECT series_id, bucket, count(*), sum(value), min(value), max(value),
         max(first_v), min(ts_ms), max(last_v), max(ts_ms), sum(inc)
  FROM (
    SELECT series_id, ts_ms, value, (ts_ms / 60000) * 60000 AS bucket,
           CASE WHEN prev IS NULL OR ts_ms - prev_ts > $3 THEN 0
                WHEN value >= prev THEN value - prev ELSE value END AS inc,
           FIRST_VALUE(value) OVER (PARTITION BY series_id, ts_ms / 60000 ORDER BY ts_ms) AS first_v,
           LAST_VALUE(value) OVER (PARTITION BY series_id, ts_ms / 60000 ORDER BY ts_ms
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS last_v
    FROM (SELECT series_id, ts_ms, value, LAG(value) OVER w AS prev, LAG(ts_ms) OVER w AS prev_ts
          FROM samples WHERE ts_ms >= $1::bigint - $3::bigint AND ts_ms < $2 )sql",
                series_filter, R"sql(
          WINDOW w AS (PARTITION BY series_id ORDER BY ts_ms)) AS windowed
    WHERE ts_ms >= $1
  ) AS per_sample
  GROUP BY series_id, bucket
)sql");
}

constexpr const char* kRollupColumns =
    "series_id, bucket, count, sum, min, max, first, first_ms, last, last_ms, increase";
constexpr const char* kRollupUpdate =
    " ON CONFLICT (series_id, bucket) DO UPDATE SET count = EXCLUDED.count, sum = EXCLUDED.sum, "
    "min = EXCLUDED.min, max = EXCLUDED.max, first = EXCLUDED.first, "
    "first_ms = EXCLUDED.first_ms, last = EXCLUDED.last, last_ms = EXCLUDED.last_ms, "
    "increase = EXCLUDED.increase";

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

std::string TrimNewline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Maps a failed result to a Status: ABORTED for serialization failures and
// deadlocks (the transaction may be retried), UNAVAILABLE when the server or
// the connection is gone, INTERNAL otherwise.
absl::Status ErrorOf(PGconn* conn, const PGresult* r) {
  std::string message = TrimNewline(r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn));
  if (message.empty()) message = TrimNewline(PQerrorMessage(conn));
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state != nullptr ? state : "";
  std::string text = StrCat("postgres: ", message);
  if (PQstatus(conn) == CONNECTION_BAD || sqlstate.rfind("08", 0) == 0 ||
      sqlstate.rfind("57P", 0) == 0) {
    return absl::UnavailableError(text);
  }
  if (sqlstate == "40001" || sqlstate == "40P01") return absl::AbortedError(text);
  return absl::InternalError(text);
}

void ForwardNotice(void*, const char* message) {
  spdlog::debug("postgres: {}", TrimNewline(message));
}

// One stored sample of a write, before series ids are known.
struct PendingSample {
  size_t series_key;
  int64_t ts_ms;
  double value;
};

struct SeriesKey {
  std::string agent_id;
  std::string name;
  std::string labels;  // canonical
  v1::MetricType type;
};

}  // namespace

int PostgresStore::SchemaVersion() { return static_cast<int>(std::size(kMigrations)); }

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& dsn,
                                                                   Durability durability,
                                                                   const Clock& clock) {
  std::unique_ptr<PostgresStore> store(new PostgresStore(dsn, durability, clock));
  std::lock_guard lock(store->mu_);
  RETURN_IF_ERROR(store->Connect());
  absl::Status migrated = store->Migrate(SchemaVersion());
  if (!migrated.ok()) {
    store->Rollback();
    return absl::Status(migrated.code(), StrCat("storage.dsn: ", ToStd(migrated.message())));
  }
  return store;
}

PostgresStore::~PostgresStore() {
  if (conn_ != nullptr) PQfinish(conn_);
}

absl::Status PostgresStore::Connect() {
  if (conn_ != nullptr) PQfinish(conn_);
  // The DSN comes last so that what it sets wins over these defaults.
  const char* keys[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
  const char* values[] = {"10", "plumbline-collector", dsn_.c_str(), nullptr};
  conn_ = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn_ == nullptr) return absl::ResourceExhaustedError("postgres: out of memory");
  if (PQstatus(conn_) != CONNECTION_OK) {
    // The message names host and port but never the password.
    return absl::UnavailableError(
        StrCat("postgres: cannot connect: ", TrimNewline(PQerrorMessage(conn_))));
  }
  PQsetNoticeProcessor(conn_, &ForwardNotice, nullptr);
  return ExecScript(durability_ == Durability::kFull
                        ? "SET synchronous_commit = on; SET client_encoding = 'UTF8'"
                        : "SET synchronous_commit = off; SET client_encoding = 'UTF8'");
}

absl::Status PostgresStore::EnsureConnected() {
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    spdlog::info("postgres: reconnecting");
    return Connect();
  }
  if (PQtransactionStatus(conn_) != PQTRANS_IDLE) Rollback();
  return absl::OkStatus();
}

absl::StatusOr<pg::Result> PostgresStore::Exec(const char* sql, const pg::Params& params) {
  const size_t n = static_cast<size_t>(params.size());
  std::vector<const char*> values(n);
  std::vector<int> lengths(n);
  std::vector<int> formats(n, 1);
  for (size_t i = 0; i < n; ++i) {
    values[i] = params.null(i) ? nullptr : params.value(i).data();
    lengths[i] = static_cast<int>(params.value(i).size());
  }
  PGresult* r = PQexecParams(conn_, sql, params.size(), params.types(), values.data(),
                             lengths.data(), formats.data(), /*resultFormat=*/0);
  ExecStatusType status = PQresultStatus(r);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return pg::Result(r);
  absl::Status error = ErrorOf(conn_, r);
  PQclear(r);
  return error;
}

absl::StatusOr<pg::Result> PostgresStore::Exec(const char* sql) { return Exec(sql, pg::Params()); }

absl::Status PostgresStore::ExecScript(const char* sql) {
  PGresult* r = PQexec(conn_, sql);
  ExecStatusType status = PQresultStatus(r);
  absl::Status s = (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) ? absl::OkStatus()
                                                                             : ErrorOf(conn_, r);
  PQclear(r);
  return s;
}

void PostgresStore::Rollback() {
  if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK &&
      PQtransactionStatus(conn_) != PQTRANS_IDLE) {
    PQclear(PQexec(conn_, "ROLLBACK"));
  }
}

absl::Status PostgresStore::Commit() {
  ASSIGN_OR_RETURN(pg::Result r, Exec("COMMIT"));
  // COMMIT of a failed transaction "succeeds" with the tag ROLLBACK.
  if (r.CommandTag() != "COMMIT") return absl::AbortedError("postgres: transaction rolled back");
  return absl::OkStatus();
}

absl::Status PostgresStore::MigrateToForTesting(const std::string& dsn, int version) {
  PostgresStore store(dsn, Durability::kFull, SystemClock::Instance());
  std::lock_guard lock(store.mu_);
  RETURN_IF_ERROR(store.Connect());
  absl::Status s = store.Migrate(version);
  if (!s.ok()) store.Rollback();
  return s;
}

absl::Status PostgresStore::Migrate(int to_version) {
  // Collectors starting together queue on the lock; the first migrates, the
  // others then find the schema current.
  RETURN_IF_ERROR(ExecScript(StrCat("BEGIN; SELECT pg_advisory_xact_lock(", kLockClass, ", ",
                                    kMigrationLock, ");",
                                    R"sql(
      CREATE TABLE IF NOT EXISTS schema_version (
        singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
        version INTEGER NOT NULL);
      INSERT INTO schema_version (version) VALUES (0) ON CONFLICT DO NOTHING;)sql")
                                 .c_str()));
  ASSIGN_OR_RETURN(pg::Result version, Exec("SELECT version FROM schema_version"));
  const int64_t current = version.Int(0, 0);
  if (current > SchemaVersion()) {
    return absl::FailedPreconditionError(StrCat("database schema version ", current,
                                                " is newer than this collector's (",
                                                SchemaVersion(), "); upgrade the collector"));
  }
  for (int64_t v = current; v < to_version; ++v) {
    absl::Status s = ExecScript(kMigrations[v]);
    if (s.ok())
      s = Exec("UPDATE schema_version SET version = $1", pg::Params().Int(v + 1)).status();
    if (!s.ok()) return absl::InternalError(StrCat("migration ", v + 1, ": ", ToStd(s.message())));
  }
  return Commit();
}

absl::Status PostgresStore::WriteBatches(std::vector<BatchWrite>& writes) {
  std::lock_guard lock(mu_);
  absl::Status s;
  // Lock order is the same in every transaction, so collectors writing at
  // once should not deadlock; should the server still abort one (deadlock or
  // serialization failure), the whole group is simply tried again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    for (BatchWrite& w : writes) {
      w.stored = false;
      w.samples_written = 0;
    }
    s = EnsureConnected();
    if (s.ok()) s = WriteBatchesOnce(writes);
    if (s.ok()) return s;
    Rollback();
    for (BatchWrite& w : writes) {
      w.stored = false;
      w.samples_written = 0;
    }
    if (s.code() != absl::StatusCode::kAborted) break;
  }
  return s;
}

absl::Status PostgresStore::WriteBatchesOnce(std::vector<BatchWrite>& writes) {
  // Work out everything that needs no database first: the distinct batch
  // identities (a repeat inside the group is a duplicate) and their samples.
  using Identity = std::tuple<std::string, int64_t, int64_t>;
  std::map<Identity, size_t> candidates;  // sorted: the order rows are locked in
  for (size_t i = 0; i < writes.size(); ++i) {
    const v1::Batch& b = *writes[i].batch;
    candidates.try_emplace(
        Identity{b.agent_id(), static_cast<int64_t>(b.epoch()), static_cast<int64_t>(b.sequence())},
        i);
  }
  std::vector<SeriesKey> keys;
  std::unordered_map<std::string, size_t> key_index;
  std::vector<std::vector<PendingSample>> samples(writes.size());
  std::vector<FlatSample> flat;
  for (const auto& [identity, i] : candidates) {
    const v1::Batch& batch = *writes[i].batch;
    for (int index : writes[i].series) {
      const v1::Series& series = batch.series(index);
      LabelSet labels = ToLabelSet(series.labels());
      for (const v1::Point& point : series.points()) {
        flat.clear();
        FlattenPoint(series.name(), series.type(), labels, point, &flat);
        for (FlatSample& f : flat) {
          if (std::isnan(f.value)) continue;  // "no value": not stored (as in SQLite)
          std::string canonical = CanonicalLabels(f.labels);
          std::string key = StrCat(batch.agent_id(), std::string_view("\0", 1), f.name,
                                   std::string_view("\0", 1), canonical);
          auto [it, fresh] = key_index.try_emplace(std::move(key), keys.size());
          if (fresh) keys.push_back({batch.agent_id(), f.name, std::move(canonical), f.type});
          samples[i].push_back({it->second, point.timestamp_ms(), f.value});
        }
      }
    }
  }

  // Ingest holds the rollup fence shared, so maintenance cannot roll up a
  // minute between our reading the watermark and our commit.
  RETURN_IF_ERROR(ExecScript(
      StrCat("BEGIN; SELECT pg_advisory_xact_lock_shared(", kLockClass, ", ", kRollupFence, ")")
          .c_str()));
  ASSIGN_OR_RETURN(pg::Result wm,
                   Exec("SELECT value FROM rollup_state WHERE name = 'minute_watermark'"));
  const int64_t minute_watermark = wm.rows() == 1 ? wm.Int(0, 0) : 0;

  // Claim the identities. A concurrent transaction claiming the same one
  // makes this wait for its outcome: if it commits, ours is a duplicate.
  std::vector<std::string> claim_agents;
  std::vector<int64_t> claim_epochs, claim_sequences, claim_received, claim_samples;
  for (const auto& [identity, i] : candidates) {
    claim_agents.push_back(std::get<0>(identity));
    claim_epochs.push_back(std::get<1>(identity));
    claim_sequences.push_back(std::get<2>(identity));
    claim_received.push_back(writes[i].received_ms);
    claim_samples.push_back(static_cast<int64_t>(samples[i].size()));
  }
  ASSIGN_OR_RETURN(
      pg::Result claimed,
      Exec("INSERT INTO batches (agent_id, epoch, sequence, received_ms, samples) "
           "SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], "
           "$5::bigint[]) ON CONFLICT DO NOTHING RETURNING agent_id, epoch, sequence",
           pg::Params()
               .TextArray(claim_agents)
               .IntArray(claim_epochs)
               .IntArray(claim_sequences)
               .IntArray(claim_received)
               .IntArray(claim_samples)));
  std::vector<size_t> stored;  // write indices, in group order
  for (int r = 0; r < claimed.rows(); ++r) {
    auto it = candidates.find(Identity{claimed.Text(r, 0), claimed.Int(r, 1), claimed.Int(r, 2)});
    if (it != candidates.end()) stored.push_back(it->second);
  }
  std::sort(stored.begin(), stored.end());

  // Series ids: create what is missing, then look the new ones up (a series
  // another collector is creating right now is waited for, then found).
  std::vector<bool> key_used(keys.size(), false);
  for (size_t i : stored) {
    for (const PendingSample& p : samples[i]) key_used[p.series_key] = true;
  }
  std::vector<int64_t> ids(keys.size(), 0);
  std::vector<size_t> missing;
  for (const auto& [key, k] : key_index) {
    if (!key_used[k]) continue;
    auto cached = series_ids_.find(key);
    if (cached != series_ids_.end()) {
      ids[k] = cached->second;
    } else {
      missing.push_back(k);
    }
  }
  std::sort(missing.begin(), missing.end(), [&](size_t a, size_t b) {
    return std::tie(keys[a].agent_id, keys[a].name, keys[a].labels) <
           std::tie(keys[b].agent_id, keys[b].name, keys[b].labels);
  });
  std::vector<std::pair<std::string, int64_t>> fresh_ids;
  if (!missing.empty()) {
    std::vector<std::string> agents, names, labels;
    std::vector<int32_t> types;
    for (size_t k : missing) {
      agents.push_back(keys[k].agent_id);
      names.push_back(keys[k].name);
      labels.push_back(keys[k].labels);
      types.push_back(static_cast<int32_t>(keys[k].type));
    }
    RETURN_IF_ERROR(
        Exec("INSERT INTO series (agent_id, name, labels, type) "
             "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) "
             "ON CONFLICT (agent_id, name, (md5(labels))) DO NOTHING",
             pg::Params().TextArray(agents).TextArray(names).TextArray(labels).Int32Array(types))
            .status());
    ASSIGN_OR_RETURN(pg::Result found,
                     Exec("SELECT s.id, u.ord FROM unnest($1::text[], $2::text[], $3::text[]) "
                          "WITH ORDINALITY AS u(agent_id, name, labels, ord) "
                          "JOIN series s ON s.agent_id = u.agent_id AND s.name = u.name "
                          "AND md5(s.labels) = md5(u.labels) AND s.labels = u.labels",
                          pg::Params().TextArray(agents).TextArray(names).TextArray(labels)));
    for (int r = 0; r < found.rows(); ++r) {
      const int64_t ord = found.Int(r, 1);
      if (ord < 1 || ord > static_cast<int64_t>(missing.size())) continue;
      ids[missing[static_cast<size_t>(ord - 1)]] = found.Int(r, 0);
    }
    for (size_t k : missing) {
      if (ids[k] == 0) {
        return absl::InternalError(StrCat("postgres: series ", keys[k].name, "{", keys[k].labels,
                                          "} of agent ", keys[k].agent_id,
                                          " could not be created"));
      }
    }
    for (const auto& [key, k] : key_index) {
      if (key_used[k] && series_ids_.find(key) == series_ids_.end())
        fresh_ids.emplace_back(key, ids[k]);
    }
  }

  // Samples: a repeated (series, time) keeps the value written last, as with
  // SQLite's INSERT OR REPLACE; rows go in sorted, the order they are locked in.
  struct Row {
    int64_t series_id;
    int64_t ts_ms;
    double value;
  };
  std::vector<Row> rows;
  std::set<int64_t> dirty;
  // Days whose answers the samples change: a sample's own, and the next
  // one's when the next sample's counter step may start from it.
  std::set<int64_t> days;
  int64_t last_day = INT64_MIN, last_next_day = INT64_MIN;
  for (size_t i : stored) {
    for (const PendingSample& p : samples[i]) {
      rows.push_back({ids[p.series_key], p.ts_ms, p.value});
      const int64_t day = FloorTo(p.ts_ms, kDay);
      const int64_t next_day = FloorTo(p.ts_ms + kLookbackMs, kDay);
      if (day != last_day || next_day != last_next_day) {
        days.insert(day);
        days.insert(next_day);
        last_day = day;
        last_next_day = next_day;
      }
      // Late data: its minute, and every minute whose first increase may
      // step from it, must be recomputed.
      if (p.ts_ms < minute_watermark) {
        const int64_t m = FloorTo(p.ts_ms, kMinute);
        if (dirty.count(m) == 0) {
          for (int64_t d = m; d <= m + kLookbackMs; d += kMinute) dirty.insert(d);
        }
      }
    }
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::tie(a.series_id, a.ts_ms) < std::tie(b.series_id, b.ts_ms);
  });
  std::vector<Row> unique_rows;
  unique_rows.reserve(rows.size());
  for (const Row& row : rows) {
    if (!unique_rows.empty() && unique_rows.back().series_id == row.series_id &&
        unique_rows.back().ts_ms == row.ts_ms) {
      unique_rows.back().value = row.value;
    } else {
      unique_rows.push_back(row);
    }
  }
  for (size_t start = 0; start < unique_rows.size(); start += kInsertChunk) {
    const size_t end = std::min(unique_rows.size(), start + kInsertChunk);
    std::vector<int64_t> series_ids, times;
    std::vector<double> values;
    for (size_t r = start; r < end; ++r) {
      series_ids.push_back(unique_rows[r].series_id);
      times.push_back(unique_rows[r].ts_ms);
      values.push_back(unique_rows[r].value);
    }
    RETURN_IF_ERROR(Exec("INSERT INTO samples (series_id, ts_ms, value) "
                         "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::float8[]) "
                         "ON CONFLICT (series_id, ts_ms) DO UPDATE SET value = EXCLUDED.value",
                         pg::Params().IntArray(series_ids).IntArray(times).DoubleArray(values))
                        .status());
  }
  if (!dirty.empty()) {
    RETURN_IF_ERROR(Exec("INSERT INTO dirty_minutes (bucket) SELECT * FROM unnest($1::bigint[]) "
                         "ON CONFLICT DO NOTHING",
                         pg::Params().IntArray(std::vector<int64_t>(dirty.begin(), dirty.end())))
                        .status());
  }

  // Agents: one row per agent, folded over the group in order.
  struct AgentDelta {
    int64_t first_seen_ms;
    int64_t last_seen_ms;
    int64_t epoch;
    int64_t sequence;
    int64_t batches = 0;
    int64_t samples = 0;
  };
  std::map<std::string, AgentDelta> agents;
  for (size_t i : stored) {
    const v1::Batch& b = *writes[i].batch;
    auto [it, fresh] = agents.try_emplace(
        b.agent_id(), AgentDelta{writes[i].received_ms, writes[i].received_ms, 0, 0});
    AgentDelta& d = it->second;
    d.last_seen_ms = std::max(d.last_seen_ms, writes[i].received_ms);
    d.epoch = static_cast<int64_t>(b.epoch());
    d.sequence = static_cast<int64_t>(b.sequence());
    d.batches += 1;
    d.samples += static_cast<int64_t>(samples[i].size());
  }
  if (!agents.empty()) {
    std::vector<std::string> ids_text;
    std::vector<int64_t> first, last, epochs, sequences, batches, counts;
    for (const auto& [agent, d] : agents) {
      ids_text.push_back(agent);
      first.push_back(d.first_seen_ms);
      last.push_back(d.last_seen_ms);
      epochs.push_back(d.epoch);
      sequences.push_back(d.sequence);
      batches.push_back(d.batches);
      counts.push_back(d.samples);
    }
    RETURN_IF_ERROR(
        Exec("INSERT INTO agents (agent_id, first_seen_ms, last_seen_ms, epoch, last_sequence, "
             "batches, samples) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], "
             "$4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[]) "
             "ON CONFLICT (agent_id) DO UPDATE SET "
             "last_seen_ms = GREATEST(agents.last_seen_ms, EXCLUDED.last_seen_ms), "
             "epoch = EXCLUDED.epoch, last_sequence = EXCLUDED.last_sequence, "
             "batches = agents.batches + EXCLUDED.batches, "
             "samples = agents.samples + EXCLUDED.samples",
             pg::Params()
                 .TextArray(ids_text)
                 .IntArray(first)
                 .IntArray(last)
                 .IntArray(epochs)
                 .IntArray(sequences)
                 .IntArray(batches)
                 .IntArray(counts))
            .status());
  }
  // Days a reader may already keep (late data) get new versions, last: the
  // rows stay locked only until the commit just after.
  const std::vector<int64_t> bumped = DaysToBump(days);
  if (!bumped.empty()) RETURN_IF_ERROR(BumpDays(bumped));
  RETURN_IF_ERROR(Commit());
  if (!bumped.empty()) versions_moved_.fetch_add(1);

  for (size_t i : stored) {
    writes[i].stored = true;
    writes[i].samples_written = samples[i].size();
  }
  for (auto& [key, id] : fresh_ids) series_ids_.emplace(std::move(key), id);
  return absl::OkStatus();
}

absl::Status PostgresStore::UpsertAgents(const std::vector<AgentSighting>& agents) {
  // One transaction each: a batch write locks agents rows too, so a
  // transaction over many would add an order to keep.
  for (const auto& [info, now_ms] : agents) {
    std::lock_guard lock(mu_);
    RETURN_IF_ERROR(EnsureConnected());
    RETURN_IF_ERROR(Exec("INSERT INTO agents (agent_id, hostname, version, os, labels, cpu_count, "
                         "memory_bytes, first_seen_ms, last_seen_ms) "
                         "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) "
                         "ON CONFLICT (agent_id) DO UPDATE SET hostname = EXCLUDED.hostname, "
                         "version = EXCLUDED.version, os = EXCLUDED.os, labels = EXCLUDED.labels, "
                         "cpu_count = EXCLUDED.cpu_count, memory_bytes = EXCLUDED.memory_bytes, "
                         "last_seen_ms = GREATEST(agents.last_seen_ms, EXCLUDED.last_seen_ms)",
                         pg::Params()
                             .Text(info.agent_id())
                             .Text(info.hostname())
                             .Text(info.version())
                             .Text(info.os())
                             .Text(CanonicalLabels(ToLabelSet(info.labels())))
                             .Int(static_cast<int64_t>(info.cpu_count()))
                             .Int(static_cast<int64_t>(info.memory_bytes()))
                             .Int(now_ms))
                        .status());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AgentRecord>> PostgresStore::ListAgents() {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(EnsureConnected());
  ASSIGN_OR_RETURN(
      pg::Result q,
      Exec("SELECT agent_id, hostname, version, os, labels, cpu_count, memory_bytes, "
           "first_seen_ms, last_seen_ms, epoch, last_sequence, batches, samples FROM agents "
           "ORDER BY agent_id COLLATE \"C\""));
  std::vector<AgentRecord> out;
  for (int r = 0; r < q.rows(); ++r) {
    AgentRecord a;
    a.agent_id = q.Text(r, 0);
    a.hostname = q.Text(r, 1);
    a.version = q.Text(r, 2);
    a.os = q.Text(r, 3);
    a.labels = ParseLabelsOrEmpty(q.Text(r, 4));
    a.cpu_count = static_cast<uint32_t>(q.Int(r, 5));
    a.memory_bytes = static_cast<uint64_t>(q.Int(r, 6));
    a.first_seen_ms = q.Int(r, 7);
    a.last_seen_ms = q.Int(r, 8);
    a.epoch = static_cast<uint64_t>(q.Int(r, 9));
    a.last_sequence = static_cast<uint64_t>(q.Int(r, 10));
    a.batches = static_cast<uint64_t>(q.Int(r, 11));
    a.samples = static_cast<uint64_t>(q.Int(r, 12));
    out.push_back(std::move(a));
  }
  return out;
}

absl::StatusOr<std::vector<SampleValue>> PostgresStore::LatestSamples(
    const std::string& agent_id, const std::vector<std::string>& names) {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(EnsureConnected());
  // The newest raw sample, or once retention has removed raw data, the last
  // value of the newest minute rollup.
  ASSIGN_OR_RETURN(pg::Result q, Exec(R"sql(
        SELECT s.name, s.labels, x.ts_ms, x.value
        FROM series s CROSS JOIN LATERAL (
          SELECT ts_ms, value FROM (
            (SELECT ts_ms, value FROM samples WHERE series_id = s.id ORDER BY ts_ms DESC LIMIT 1)
            UNION ALL
            (SELECT last_ms, last FROM rollup_1m WHERE series_id = s.id
             ORDER BY bucket DESC LIMIT 1)) AS candidates
          ORDER BY ts_ms DESC LIMIT 1) AS x
        WHERE s.agent_id = $1 AND s.name = ANY($2::text[])
        ORDER BY array_position($2::text[], s.name), s.id)sql",
                                      pg::Params().Text(agent_id).TextArray(names)));
  std::vector<SampleValue> out;
  for (int r = 0; r < q.rows(); ++r) {
    out.push_back({q.Text(r, 0), ParseLabelsOrEmpty(q.Text(r, 1)), q.Int(r, 2), q.Double(r, 3)});
  }
  return out;
}

absl::StatusOr<std::vector<SeriesPoints>> PostgresStore::QuerySeries(const SeriesQuery& query) {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(EnsureConnected());
  ASSIGN_OR_RETURN(pg::Result series,
                   Exec("SELECT id, labels FROM series WHERE name = $1 ORDER BY id",
                        pg::Params().Text(query.name)));
  std::vector<SeriesPoints> out;
  for (int r = 0; r < series.rows(); ++r) {
    LabelSet labels = ParseLabelsOrEmpty(series.Text(r, 1));
    bool ok = std::all_of(query.match.begin(), query.match.end(), [&](const auto& m) {
      return std::find(labels.begin(), labels.end(), m) != labels.end();
    });
    if (!ok) continue;
    pg::Params params;
    params.Int(series.Int(r, 0)).Int(query.from_ms).Int(query.to_ms);
    if (query.limit == 0) {
      params.NullInt();
    } else {
      params.Int(static_cast<int64_t>(query.limit));
    }
    ASSIGN_OR_RETURN(pg::Result points,
                     Exec("SELECT ts_ms, value FROM samples WHERE series_id = $1 "
                          "AND ts_ms BETWEEN $2 AND $3 ORDER BY ts_ms LIMIT $4",
                          params));
    SeriesPoints sp{query.name, std::move(labels), {}, {}};
    for (int p = 0; p < points.rows(); ++p) {
      sp.timestamps_ms.push_back(points.Int(p, 0));
      sp.values.push_back(points.Double(p, 1));
    }
    out.push_back(std::move(sp));
  }
  return out;
}

absl::Status PostgresStore::CheckIntegrity() {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(EnsureConnected());
  ASSIGN_OR_RETURN(pg::Result version, Exec("SELECT version FROM schema_version"));
  if (version.rows() != 1 || version.Int(0, 0) != SchemaVersion()) {
    return absl::DataLossError(StrCat("integrity check: schema version is ",
                                      version.rows() == 1 ? version.Text(0, 0) : "missing",
                                      ", expected ", SchemaVersion()));
  }
  ASSIGN_OR_RETURN(pg::Result state,
                   Exec("SELECT (SELECT value FROM rollup_state WHERE name = 'minute_watermark'), "
                        "(SELECT value FROM rollup_state WHERE name = 'hour_watermark')"));
  if (state.IsNull(0, 0) || state.IsNull(0, 1)) {
    return absl::DataLossError("integrity check: rollup watermarks are missing");
  }
  const int64_t minute = state.Int(0, 0);
  const int64_t hour = state.Int(0, 1);
  if (minute % kMinute != 0 || hour % kHour != 0 || hour > minute) {
    return absl::DataLossError(StrCat("integrity check: inconsistent rollup watermarks (minute ",
                                      minute, ", hour ", hour, ")"));
  }
  // A cheap look at the newest samples: each belongs to a known series.
  ASSIGN_OR_RETURN(pg::Result orphans, Exec(R"sql(
      SELECT count(*) FROM (SELECT series_id FROM samples ORDER BY ts_ms DESC LIMIT 1000) AS recent
      WHERE NOT EXISTS (SELECT 1 FROM series WHERE series.id = recent.series_id))sql"));
  if (orphans.Int(0, 0) != 0) {
    return absl::DataLossError(
        StrCat("integrity check: ", orphans.Int(0, 0), " recent samples belong to no series"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SeriesInfo>> PostgresStore::FindSeries(const SeriesSelector& selector) {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(EnsureConnected());
  return FindSeriesLocked(selector);
}

absl::StatusOr<std::vector<SeriesInfo>> PostgresStore::FindSeriesLocked(
    const SeriesSelector& selector) {
  ASSIGN_OR_RETURN(pg::Result q,
                   Exec("SELECT id, agent_id, labels, type FROM series WHERE name = $1 ORDER BY id",
                        pg::Params().Text(selector.name)));
  std::vector<SeriesInfo> out;
  for (int r = 0; r < q.rows(); ++r) {
    SeriesInfo info;
    info.id = q.Int(r, 0);
    info.agent_id = q.Text(r, 1);
    info.name = selector.name;
    info.labels = ParseLabelsOrEmpty(q.Text(r, 2));
    info.type = static_cast<v1::MetricType>(q.Int(r, 3));
    bool match = std::all_of(selector.matchers.begin(), selector.matchers.end(),
                             [&](const LabelMatcher& m) { return m.Matches(info.labels); });
    if (match) out.push_back(std::move(info));
  }
  return out;
}

namespace {

Aggregate ReadAggregate(const pg::Result& q, int row, int first_col) {
  Aggregate a;
  a.start_ms = q.Int(row, first_col);
  a.count = static_cast<uint64_t>(q.Int(row, first_col + 1));
  a.sum = q.Double(row, first_col + 2);
  a.min = q.Double(row, first_col + 3);
  a.max = q.Double(row, first_col + 4);
  a.first = q.Double(row, first_col + 5);
  a.first_ms = q.Int(row, first_col + 6);
  a.last = q.Double(row, first_col + 7);
  a.last_ms = q.Int(row, first_col + 8);
  a.increase = q.Double(row, first_col + 9);
  return a;
}

}  // namespace

absl::StatusOr<int64_t> PostgresStore::GetState(const char* name) {
  ASSIGN_OR_RETURN(pg::Result r,
                   Exec("SELECT value FROM rollup_state WHERE name = $1", pg::Params().Text(name)));
  if (r.rows() != 1)
    return absl::DataLossError(StrCat("postgres: rollup state ", name, " missing"));
  return r.Int(0, 0);
}

absl::Status PostgresStore::SetState(const char* name, int64_t value) {
  return Exec("UPDATE rollup_state SET value = $2 WHERE name = $1",
              pg::Params().Text(name).Int(value))
      .status();
}

absl::StatusOr<std::vector<SeriesAggregates>> PostgresStore::Aggregates(
    const SeriesSelector& selector, int64_t from_ms, int64_t to_ms, int64_t step_ms,
    AggregateSource* source) {
  if (step_ms <= 0 || step_ms % kMinute != 0) {
    return absl::InvalidArgumentError("step must be a positive multiple of one minute");
  }
  from_ms = FloorTo(from_ms, kMinute);
  to_ms = FloorTo(to_ms, kMinute);
  if (to_ms < from_ms) return absl::InvalidArgumentError("window ends before it starts");
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(EnsureConnected());
  // One snapshot: watermarks, rollups and raw samples agree with each other.
  RETURN_IF_ERROR(ExecScript("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
  auto body = [&]() -> absl::StatusOr<std::vector<SeriesAggregates>> {
    ASSIGN_OR_RETURN(std::vector<SeriesInfo> series, FindSeriesLocked(selector));
    std::unordered_map<int64_t, size_t> index;
    std::vector<SeriesAggregates> out(series.size());
    std::vector<int64_t> ids;
    for (size_t i = 0; i < series.size(); ++i) {
      index[series[i].id] = i;
      ids.push_back(series[i].id);
      out[i].series = std::move(series[i]);
    }
    if (out.empty() || to_ms == from_ms) return out;
    ASSIGN_OR_RETURN(const int64_t minute_watermark, GetState("minute_watermark"));
    ASSIGN_OR_RETURN(const int64_t hour_watermark, GetState("hour_watermark"));
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
    const int64_t minute_end = std::min(to_ms, minute_watermark);
    auto scan_rollup = [&](const char* table, int64_t a, int64_t b,
                           uint64_t* counter) -> absl::Status {
      if (b <= a) return absl::OkStatus();
      std::string sql = StrCat("SELECT ", kRollupColumns, " FROM ", table,
                               " WHERE series_id = ANY($1::bigint[]) AND bucket >= $2 "
                               "AND bucket < $3");
      ASSIGN_OR_RETURN(pg::Result q, Exec(sql.c_str(), pg::Params().IntArray(ids).Int(a).Int(b)));
      for (int r = 0; r < q.rows(); ++r) {
        fold(q.Int(r, 0), ReadAggregate(q, r, 1));
        ++*counter;
      }
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(scan_rollup("rollup_1h", hour_from, hour_to, &used.hour_buckets));
    RETURN_IF_ERROR(
        scan_rollup("rollup_1m", from_ms, std::min(hour_from, minute_end), &used.minute_buckets));
    RETURN_IF_ERROR(
        scan_rollup("rollup_1m", std::max(hour_to, from_ms), minute_end, &used.minute_buckets));
    // The part not rolled up yet, from raw samples.
    const int64_t raw_from = std::max(from_ms, minute_watermark);
    if (raw_from < to_ms) {
      std::string sql = MinuteAggregateSql("AND series_id = ANY($4::bigint[])");
      ASSIGN_OR_RETURN(
          pg::Result q,
          Exec(sql.c_str(), pg::Params().Int(raw_from).Int(to_ms).Int(kLookbackMs).IntArray(ids)));
      for (int r = 0; r < q.rows(); ++r) {
        Aggregate a = ReadAggregate(q, r, 1);
        used.raw_samples += a.count;
        fold(q.Int(r, 0), a);
      }
    }
    for (size_t i = 0; i < out.size(); ++i) out[i].buckets = folded.Take(i);
    if (source != nullptr) *source = used;
    return out;
  };
  absl::StatusOr<std::vector<SeriesAggregates>> result = body();
  Rollback();  // read only: nothing to commit
  return result;
}

absl::Status PostgresStore::RollUpMinutes(int64_t from_ms, int64_t to_ms, bool keep_existing) {
  std::string sql =
      StrCat("INSERT INTO rollup_1m (", kRollupColumns, ") ", MinuteAggregateSql(""),
             keep_existing ? " ON CONFLICT (series_id, bucket) DO NOTHING" : kRollupUpdate);
  return Exec(sql.c_str(), pg::Params().Int(from_ms).Int(to_ms).Int(kLookbackMs)).status();
}

absl::Status PostgresStore::RollUpHours(int64_t from_ms, int64_t to_ms) {
  std::string sql = StrCat("INSERT INTO rollup_1h (", kRollupColumns, R"sql()
    SELECT series_id, hour, sum(count)::bigint, sum(sum), min(min), max(max),
           (array_agg(first ORDER BY bucket))[1], min(first_ms),
           (array_agg(last ORDER BY bucket DESC))[1], max(last_ms), sum(increase)
    FROM (SELECT r.*, (bucket / 3600000) * 3600000 AS hour FROM rollup_1m r
          WHERE bucket >= $1 AND bucket < $2) AS minutes
    GROUP BY series_id, hour)sql",
                           kRollupUpdate);
  return Exec(sql.c_str(), pg::Params().Int(from_ms).Int(to_ms)).status();
}

absl::StatusOr<bool> PostgresStore::BeginMaintenance(bool fence) {
  RETURN_IF_ERROR(ExecScript("BEGIN"));
  absl::StatusOr<pg::Result> got = Exec(
      StrCat("SELECT pg_try_advisory_xact_lock(", kLockClass, ", ", kMaintenanceLock, ")").c_str());
  if (!got.ok() || !got->Bool(0, 0)) {
    Rollback();
    if (!got.ok()) return got.status();
    return false;
  }
  if (fence) {
    absl::Status s =
        Exec(StrCat("SELECT pg_advisory_xact_lock(", kLockClass, ", ", kRollupFence, ")").c_str())
            .status();
    if (!s.ok()) {
      Rollback();
      return s;
    }
  }
  return true;
}

absl::StatusOr<MaintenanceReport> PostgresStore::RunMaintenance(int64_t now_ms,
                                                                const RetentionPolicy& retention) {
  MaintenanceReport report;
  const int64_t settled = FloorTo(now_ms - kRollupGraceMs, kMinute);
  // Rolls forward in slices of an hour at most, one short transaction each,
  // for about a second per call; between slices ingest proceeds.
  const auto budget_end = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < budget_end) {
    std::lock_guard lock(mu_);
    RETURN_IF_ERROR(EnsureConnected());
    ASSIGN_OR_RETURN(bool ours, BeginMaintenance(/*fence=*/true));
    if (!ours) return report;  // another collector is maintaining this database
    MaintenanceReport slice;
    auto body = [&]() -> absl::StatusOr<bool> {
      // Read under the lock: another collector may have moved them.
      ASSIGN_OR_RETURN(int64_t minute_watermark, GetState("minute_watermark"));
      ASSIGN_OR_RETURN(int64_t hour_watermark, GetState("hour_watermark"));
      if (minute_watermark == 0) {
        ASSIGN_OR_RETURN(pg::Result oldest, Exec("SELECT min(ts_ms) FROM samples"));
        minute_watermark = oldest.IsNull(0, 0) ? settled : FloorTo(oldest.Int(0, 0), kMinute);
        hour_watermark = FloorTo(minute_watermark, kHour);
        RETURN_IF_ERROR(SetState("minute_watermark", minute_watermark));
        RETURN_IF_ERROR(SetState("hour_watermark", hour_watermark));
      }
      if (minute_watermark >= settled) return false;
      const int64_t to = std::min(settled, FloorTo(minute_watermark, kHour) + kHour);
      RETURN_IF_ERROR(RollUpMinutes(minute_watermark, to));
      const int64_t hour_to = FloorTo(to, kHour);
      if (hour_to > hour_watermark) {
        RETURN_IF_ERROR(RollUpHours(hour_watermark, hour_to));
        RETURN_IF_ERROR(SetState("hour_watermark", hour_to));
        slice.hours_rolled_up = static_cast<uint64_t>((hour_to - hour_watermark) / kHour);
      }
      RETURN_IF_ERROR(SetState("minute_watermark", to));
      slice.minutes_rolled_up = static_cast<uint64_t>((to - minute_watermark) / kMinute);
      return true;
    };
    absl::StatusOr<bool> more = body();
    absl::Status s = more.ok() ? Commit() : more.status();
    if (!s.ok()) {
      Rollback();
      return s;
    }
    report.minutes_rolled_up += slice.minutes_rolled_up;
    report.hours_rolled_up += slice.hours_rolled_up;
    if (!*more) break;
  }

  // Minutes that late data touched, and the hours they belong to.
  {
    std::lock_guard lock(mu_);
    RETURN_IF_ERROR(EnsureConnected());
    ASSIGN_OR_RETURN(bool ours, BeginMaintenance(/*fence=*/true));
    if (!ours) return report;
    bool bumped = false;
    auto body = [&]() -> absl::StatusOr<uint64_t> {
      ASSIGN_OR_RETURN(const int64_t minute_watermark, GetState("minute_watermark"));
      ASSIGN_OR_RETURN(const int64_t hour_watermark, GetState("hour_watermark"));
      ASSIGN_OR_RETURN(const int64_t raw_cutoff, GetState("raw_cutoff"));
      ASSIGN_OR_RETURN(pg::Result dirty, Exec("SELECT bucket FROM dirty_minutes WHERE bucket < $1 "
                                              "ORDER BY bucket DESC LIMIT 2000",
                                              pg::Params().Int(minute_watermark)));
      if (dirty.rows() == 0) return uint64_t{0};
      std::vector<int64_t> minutes;
      // Newest first (then in order): a backfilled history shows its recent
      // days before the old ones.
      for (int r = dirty.rows() - 1; r >= 0; --r) minutes.push_back(dirty.Int(r, 0));
      std::set<int64_t> hours;
      uint64_t recomputed = 0;
      // Consecutive minutes are recomputed as one range (the increase rule
      // makes that the same as minute by minute). A minute whose raw data,
      // or its lookback, retention may have deleted only gains rollups for
      // series that had none (a backfilled history), never loses any.
      size_t i = 0;
      while (i < minutes.size()) {
        const bool recomputable = minutes[i] - kLookbackMs >= raw_cutoff;
        size_t j = i + 1;
        while (j < minutes.size() && minutes[j] == minutes[j - 1] + kMinute &&
               (minutes[j] - kLookbackMs >= raw_cutoff) == recomputable) {
          ++j;
        }
        RETURN_IF_ERROR(RollUpMinutes(minutes[i], minutes[j - 1] + kMinute, !recomputable));
        for (size_t k = i; k < j; ++k) {
          if (FloorTo(minutes[k], kHour) < hour_watermark) hours.insert(FloorTo(minutes[k], kHour));
        }
        recomputed += j - i;
        i = j;
      }
      RETURN_IF_ERROR(Exec("DELETE FROM dirty_minutes WHERE bucket = ANY($1::bigint[])",
                           pg::Params().IntArray(minutes))
                          .status());
      // Hours marked by an earlier, interrupted pass are redone as well.
      ASSIGN_OR_RETURN(pg::Result pending, Exec("SELECT bucket FROM dirty_hours"));
      for (int r = 0; r < pending.rows(); ++r) hours.insert(pending.Int(r, 0));
      for (int64_t h : hours) RETURN_IF_ERROR(RollUpHours(h, h + kHour));
      RETURN_IF_ERROR(Exec("DELETE FROM dirty_hours").status());
      // Queries read the rollups recomputed here only from the commit on: a
      // day computed since the late write, from the rollups before, must get
      // a new version, and in this transaction (not after it, where a crash
      // in between would keep the stale result).
      std::set<int64_t> days;
      for (int64_t m : minutes) days.insert(FloorTo(m, kDay));
      for (int64_t h : hours) days.insert(FloorTo(h, kDay));
      const std::vector<int64_t> bump = DaysToBump(days);
      if (!bump.empty()) RETURN_IF_ERROR(BumpDays(bump));
      bumped = !bump.empty();
      return recomputed;
    };
    absl::StatusOr<uint64_t> recomputed = body();
    absl::Status s = recomputed.ok() ? Commit() : recomputed.status();
    if (!s.ok()) {
      Rollback();
      return s;
    }
    if (bumped) versions_moved_.fetch_add(1);
    report.late_minutes_recomputed += *recomputed;
  }

  // Retention, at most once a minute per collector: raw only once rolled up,
  // minute rollups only once covered by hour rollups. Not fenced: deleting
  // old rows never races with what ingest writes.
  if (now_ms - last_retention_ms_ >= kMinute) {
    std::lock_guard lock(mu_);
    RETURN_IF_ERROR(EnsureConnected());
    ASSIGN_OR_RETURN(bool ours, BeginMaintenance(/*fence=*/false));
    if (!ours) return report;
    // Before deleting: days whose hour rollups go are no longer tracked
    // (whole days are answered from hour rollups).
    const int64_t hour_cutoff = now_ms - retention.hour_ms;
    if (hour_cutoff > retention_cut_.load()) retention_cut_.store(hour_cutoff);
    MaintenanceReport deleted;
    auto body = [&]() -> absl::Status {
      ASSIGN_OR_RETURN(const int64_t minute_watermark, GetState("minute_watermark"));
      ASSIGN_OR_RETURN(const int64_t hour_watermark, GetState("hour_watermark"));
      ASSIGN_OR_RETURN(const int64_t previous_raw_cutoff, GetState("raw_cutoff"));
      // Raw samples within the lookback before the watermark stay: the next
      // rollup needs each series' previous sample for its counter increase.
      const int64_t raw_cutoff = std::max(
          std::min(now_ms - retention.raw_ms, minute_watermark - kLookbackMs), previous_raw_cutoff);
      const int64_t minute_cutoff = std::min(now_ms - retention.minute_ms, hour_watermark);
      ASSIGN_OR_RETURN(const int64_t previous_hour_cutoff, GetState("hour_cutoff"));
      const int64_t dedupe_cutoff = now_ms - std::max<int64_t>(retention.raw_ms, 8LL * 24 * kHour);
      // Late raw samples stay until their minutes are rolled up.
      ASSIGN_OR_RETURN(pg::Result oldest_dirty, Exec("SELECT min(bucket) FROM dirty_minutes"));
      int64_t delete_before = raw_cutoff;
      if (oldest_dirty.rows() == 1 && !oldest_dirty.IsNull(0, 0)) {
        delete_before = std::min(delete_before, oldest_dirty.Int(0, 0) - 2 * kLookbackMs);
      }
      // In whole windows, as the embedded store does.
      delete_before = FloorTo(delete_before, kRawWindowMs);
      ASSIGN_OR_RETURN(pg::Result raw, Exec("DELETE FROM samples WHERE ts_ms < $1",
                                            pg::Params().Int(delete_before)));
      deleted.raw_deleted = raw.Affected();
      ASSIGN_OR_RETURN(pg::Result minutes, Exec("DELETE FROM rollup_1m WHERE bucket < $1",
                                                pg::Params().Int(minute_cutoff)));
      ASSIGN_OR_RETURN(pg::Result hours, Exec("DELETE FROM rollup_1h WHERE bucket < $1",
                                              pg::Params().Int(hour_cutoff)));
      deleted.rollups_deleted = minutes.Affected() + hours.Affected();
      // Every collector's DayVersion tracks no day before the cutoff.
      if (hour_cutoff > previous_hour_cutoff) RETURN_IF_ERROR(SetState("hour_cutoff", hour_cutoff));
      RETURN_IF_ERROR(
          Exec("DELETE FROM day_changes WHERE day < $1", pg::Params().Int(hour_cutoff)).status());
      RETURN_IF_ERROR(
          Exec("DELETE FROM batches WHERE received_ms < $1", pg::Params().Int(dedupe_cutoff))
              .status());
      // What a late minute's recompute may rely on: every raw sample from
      // here on is still there (late minutes hold deletion back; raw_cutoff
      // is only where retention would like to delete).
      const int64_t deleted_before = std::max(previous_raw_cutoff, delete_before);
      if (deleted_before != previous_raw_cutoff) {
        RETURN_IF_ERROR(SetState("raw_cutoff", deleted_before));
      }
      return absl::OkStatus();
    };
    absl::Status s = body();
    if (s.ok()) s = Commit();
    if (!s.ok()) {
      Rollback();
      return s;
    }
    last_retention_ms_ = now_ms;
    report.raw_deleted += deleted.raw_deleted;
    report.rollups_deleted += deleted.rollups_deleted;
  }
  return report;
}

std::vector<int64_t> PostgresStore::DaysToBump(const std::set<int64_t>& days) const {
  const int64_t now_ms = clock_.NowMs();
  std::vector<int64_t> out;
  for (int64_t day : days) {
    if (day + kDay + kWriterSettleMs <= now_ms) out.push_back(day);
  }
  return out;
}

absl::Status PostgresStore::BumpDays(const std::vector<int64_t>& days) {
  return Exec(
             "INSERT INTO day_changes (day, version) "
             "SELECT d, nextval('day_change_seq') FROM unnest($1::bigint[]) AS d "
             "ON CONFLICT (day) DO UPDATE SET version = EXCLUDED.version",
             pg::Params().IntArray(days))
      .status();
}

std::optional<uint64_t> PostgresStore::DayVersion(int64_t day_ms) {
  const int64_t day = FloorTo(day_ms, kDay);
  if (day + kDay + kReaderSettleMs > clock_.NowMs()) return std::nullopt;
  if (day < retention_cut_.load()) return std::nullopt;
  std::lock_guard lock(versions_mu_);
  const bool old = versions_read_ == std::chrono::steady_clock::time_point{} ||
                   std::chrono::steady_clock::now() - versions_read_ >= kVersionsMaxAge;
  if (old || (versions_ok_ && versions_seen_ != versions_moved_.load())) RefreshVersions();
  if (!versions_ok_ || day < versions_from_) return std::nullopt;
  auto it = versions_.find(day);
  return it == versions_.end() ? 0 : it->second;
}

void PostgresStore::RefreshVersions() {
  // Read before the query: a move after it refreshes again.
  const uint64_t moved = versions_moved_.load();
  versions_read_ = std::chrono::steady_clock::now();
  const int64_t from = clock_.NowMs() - kVersionsSpanMs;
  absl::StatusOr<pg::Result> q = absl::UnknownError("not read");
  {
    std::lock_guard lock(mu_);
    absl::Status s = EnsureConnected();
    if (s.ok()) {
      // One statement, one snapshot: the cutoff and the rows agree.
      q = Exec(
          "SELECT c.value, d.day, d.version FROM rollup_state c "
          "LEFT JOIN day_changes d ON d.day >= GREATEST($1::bigint, c.value) "
          "WHERE c.name = 'hour_cutoff'",
          pg::Params().Int(from));
    } else {
      q = s;
    }
  }
  if (q.ok() && q->rows() == 0)
    q = absl::DataLossError("postgres: rollup state hour_cutoff missing");
  if (!q.ok()) {
    // Untracked until the next try, a second later: every day is computed.
    versions_ok_ = false;
    spdlog::debug("postgres: day versions not read: {}", q.status().message());
    return;
  }
  versions_.clear();
  versions_from_ = std::max(from, q->Int(0, 0));
  for (int r = 0; r < q->rows(); ++r) {
    if (!q->IsNull(r, 1)) versions_[q->Int(r, 1)] = static_cast<uint64_t>(q->Int(r, 2));
  }
  versions_seen_ = moved;
  versions_ok_ = true;
}

absl::Status PostgresStore::PutIncident(const DeclaredIncident& incident) {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(EnsureConnected());
  return Exec(R"sql(
        INSERT INTO incidents (id, title, from_ms, to_ms, services, declared_by, declared_ms)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, from_ms = EXCLUDED.from_ms,
          to_ms = EXCLUDED.to_ms, services = EXCLUDED.services,
          declared_by = EXCLUDED.declared_by, declared_ms = EXCLUDED.declared_ms)sql",
              pg::Params()
                  .Text(incident.id)
                  .Text(incident.title)
                  .Int(incident.from_ms)
                  .Int(incident.to_ms)
                  .Text(JoinIds(incident.services))
                  .Text(incident.declared_by)
                  .Int(incident.declared_ms))
      .status();
}

absl::StatusOr<std::vector<DeclaredIncident>> PostgresStore::DeclaredIncidents(int64_t from_ms,
                                                                               int64_t to_ms) {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(EnsureConnected());
  ASSIGN_OR_RETURN(pg::Result q,
                   Exec("SELECT id, title, from_ms, to_ms, services, declared_by, declared_ms "
                        "FROM incidents WHERE from_ms < $1 AND (to_ms = 0 OR to_ms > $2) "
                        "ORDER BY from_ms, id COLLATE \"C\"",
                        pg::Params().Int(to_ms).Int(from_ms)));
  std::vector<DeclaredIncident> out;
  for (int r = 0; r < q.rows(); ++r) {
    DeclaredIncident d;
    d.id = q.Text(r, 0);
    d.title = q.Text(r, 1);
    d.from_ms = q.Int(r, 2);
    d.to_ms = q.Int(r, 3);
    d.services = SplitIds(q.Text(r, 4));
    d.declared_by = q.Text(r, 5);
    d.declared_ms = q.Int(r, 6);
    out.push_back(std::move(d));
  }
  return out;
}

absl::Status PostgresStore::AddIncidentNote(const IncidentNote& note) {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(EnsureConnected());
  return Exec(
             "INSERT INTO incident_notes (incident_id, at_ms, author, text) "
             "VALUES ($1, $2, $3, $4)",
             pg::Params().Text(note.incident_id).Int(note.at_ms).Text(note.author).Text(note.text))
      .status();
}

absl::StatusOr<std::vector<IncidentNote>> PostgresStore::IncidentNotes(
    const std::string& incident_id) {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(EnsureConnected());
  ASSIGN_OR_RETURN(pg::Result q,
                   Exec("SELECT at_ms, author, text FROM incident_notes WHERE incident_id = $1 "
                        "ORDER BY at_ms, note_id",
                        pg::Params().Text(incident_id)));
  std::vector<IncidentNote> out;
  for (int r = 0; r < q.rows(); ++r) {
    out.push_back({incident_id, q.Int(r, 0), q.Text(r, 1), q.Text(r, 2)});
  }
  return out;
}

}  // namespace plumbline::collector
