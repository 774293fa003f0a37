// The scale-out store: a PostgreSQL database shared by several stateless
// collectors. Same semantics as SqliteStore (see store.h and docs/storage.md);
// what differs is how they hold when several collectors write and maintain
// one database at once:
//
// - Schema: numbered migrations recorded in `schema_version`, applied at Open
//   under a transaction-scoped advisory lock, so collectors starting together
//   migrate once.
// - Exactly-once: a batch identity is claimed with INSERT ... ON CONFLICT DO
//   NOTHING on `batches` in the same transaction as its samples. When two
//   collectors write the same batch at once, the second waits for the first
//   to commit and then sees the conflict: exactly one reports stored = true.
// - Maintenance: one collector at a time (a try-advisory-lock; the others skip
//   the round), and rollups are fenced against ingest by a second advisory
//   lock (ingest shared, maintenance exclusive), so a sample is either seen by
//   the rollup or marked as late data, never neither.
// - Nothing is cached that another collector could change, except series ids
//   (a series, once created, never changes id) and a copy of the day
//   versions (see DayVersion), at most a second old.
//
// Durability: Durability::kFull runs the session with synchronous_commit=on,
// so WriteBatches returns only after the commit is durable on the server
// (and its synchronous standbys); kRelaxed sets synchronous_commit=off, which
// may lose the last transactions if the server crashes but never corrupts it.
//
// Thread-safety: one connection per store, guarded by a mutex, so calls are
// serialised within one collector (ingest's group commit already makes one
// transaction per group). A lost connection is re-established on the next
// call; the call that saw it fails with UNAVAILABLE.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "collector/store/store.h"
#include "common/clock.h"

typedef struct pg_conn PGconn;

namespace plumbline::collector {

namespace pg {
class Params;
class Result;
}  // namespace pg

class PostgresStore final : public Store {
 public:
  // Connects with a libpq connection string ("host=db1 dbname=plumbline
  // user=collector", or a postgresql:// URI) and applies pending migrations.
  // The tables live in the first schema of the session's search_path.
  // `clock` (which must outlive the store) decides which days are over for
  // DayVersion.
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(
      const std::string& dsn, Durability durability, const Clock& clock = SystemClock::Instance());
  // Testing only: migrates a new or older database to `version` at most,
  // to test the next migration from it.
  static absl::Status MigrateToForTesting(const std::string& dsn, int version);
  ~PostgresStore() override;

  absl::Status WriteBatches(std::vector<BatchWrite>& writes) override;
  absl::Status UpsertAgents(const std::vector<AgentSighting>& agents) override;
  absl::StatusOr<std::vector<AgentRecord>> ListAgents() override;
  absl::StatusOr<std::vector<SampleValue>> LatestSamples(
      const std::string& agent_id, const std::vector<std::string>& names) override;
  absl::StatusOr<std::vector<SeriesPoints>> QuerySeries(const SeriesQuery& query) override;
  // Verifies the schema version and the rollup state, and that recently
  // written samples belong to known series.
  absl::Status CheckIntegrity() override;
  absl::StatusOr<std::vector<SeriesInfo>> FindSeries(const SeriesSelector& selector) override;
  absl::StatusOr<std::vector<SeriesAggregates>> Aggregates(
      const SeriesSelector& selector, int64_t from_ms, int64_t to_ms, int64_t step_ms,
      AggregateSource* source = nullptr) override;
  // Versions live in the database (`day_changes`), shared by every
  // collector; this reads a copy of them, refreshed when a second old or
  // after this store's own writes moved one. Only days that ended at least
  // 30 minutes ago (by `clock`) are tracked, and writers move only days that
  // ended at least 15 minutes ago by theirs: on-time ingest writes no
  // version, and collectors' clocks must agree within 15 minutes (less the
  // length of a write transaction) or a late write may go unnoticed. nullopt
  // also for days before the hour rollups' retention cutoff, and while the
  // database cannot be read (retried after a second).
  std::optional<uint64_t> DayVersion(int64_t day_ms) override;
  // Returns an empty report at once when another collector is running
  // maintenance on the same database.
  absl::StatusOr<MaintenanceReport> RunMaintenance(int64_t now_ms,
                                                   const RetentionPolicy& retention) override;
  absl::Status PutIncident(const DeclaredIncident& incident) override;
  absl::StatusOr<std::vector<DeclaredIncident>> DeclaredIncidents(int64_t from_ms,
                                                                  int64_t to_ms) override;
  absl::Status AddIncidentNote(const IncidentNote& note) override;
  absl::StatusOr<std::vector<IncidentNote>> IncidentNotes(const std::string& incident_id) override;

  // The schema version this build writes.
  static int SchemaVersion();

 private:
  PostgresStore(std::string dsn, Durability durability, const Clock& clock)
      : dsn_(std::move(dsn)), durability_(durability), clock_(clock) {}

  // Connects (or reconnects) and sets up the session.
  absl::Status Connect();
  absl::Status EnsureConnected();
  // Applies the migrations up to `to_version` (at most SchemaVersion()).
  absl::Status Migrate(int to_version);
  // Runs one parameterised statement (binary parameters, text results).
  absl::StatusOr<pg::Result> Exec(const char* sql, const pg::Params& params);
  absl::StatusOr<pg::Result> Exec(const char* sql);
  // Runs a parameterless script (several statements).
  absl::Status ExecScript(const char* sql);
  void Rollback();
  absl::Status Commit();

  absl::Status WriteBatchesOnce(std::vector<BatchWrite>& writes);
  absl::StatusOr<std::vector<SeriesInfo>> FindSeriesLocked(const SeriesSelector& selector);
  // keep_existing: only add rollups for series that have none in the range.
  absl::Status RollUpMinutes(int64_t from_ms, int64_t to_ms, bool keep_existing = false);
  absl::Status RollUpHours(int64_t from_ms, int64_t to_ms);
  absl::Status SetState(const char* name, int64_t value);
  absl::StatusOr<int64_t> GetState(const char* name);
  // Begins a maintenance transaction: false (and no transaction) when
  // another collector holds the maintenance lock. `fence` also waits for
  // in-flight writes and holds new ones back until it commits.
  absl::StatusOr<bool> BeginMaintenance(bool fence);
  // The UTC days among `days` (any order, repeats allowed) that ended at
  // least kWriterSettleMs ago, sorted: those whose change a reader may
  // already be caching.
  std::vector<int64_t> DaysToBump(const std::set<int64_t>& days) const;
  // Gives `days` (sorted) new versions in the open transaction.
  absl::Status BumpDays(const std::vector<int64_t>& days);
  // Reloads versions_ from the database (takes mu_).
  void RefreshVersions();

  const std::string dsn_;
  const Durability durability_;
  const Clock& clock_;
  std::mutex mu_;
  PGconn* conn_ = nullptr;  // guarded by mu_
  // (agent_id \0 name \0 labels) -> series id; filled lazily, only with ids
  // of committed series.
  std::unordered_map<std::string, int64_t> series_ids_;
  int64_t last_retention_ms_ = 0;

  // DayVersion's copy of `day_changes`: rows of days from versions_from_ on
  // (days before it are not tracked). Lock order: versions_mu_, then mu_.
  std::mutex versions_mu_;
  std::unordered_map<int64_t, uint64_t> versions_;  // guarded by versions_mu_
  int64_t versions_from_ = 0;                       // guarded by versions_mu_
  bool versions_ok_ = false;                        // guarded by versions_mu_
  // When the copy's query was sent (or failed).
  std::chrono::steady_clock::time_point versions_read_;  // guarded by versions_mu_
  // Moved after this store commits new versions; the copy is current only
  // if it was read after the last move.
  std::atomic<uint64_t> versions_moved_{0};
  uint64_t versions_seen_ = 0;  // guarded by versions_mu_
  // Hour rollups before it are deleted, or about to be, by this store's
  // retention: set before deleting (the database's cutoff is in the copy).
  std::atomic<int64_t> retention_cut_{INT64_MIN};
};

}  // namespace plumbline::collector
