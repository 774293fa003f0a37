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
//   (a series, once created, never changes id).
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

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "collector/store/store.h"

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
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(const std::string& dsn,
                                                             Durability durability);
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
  PostgresStore(std::string dsn, Durability durability)
      : dsn_(std::move(dsn)), durability_(durability) {}

  // Connects (or reconnects) and sets up the session.
  absl::Status Connect();
  absl::Status EnsureConnected();
  absl::Status Migrate();
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

  const std::string dsn_;
  const Durability durability_;
  std::mutex mu_;
  PGconn* conn_ = nullptr;  // guarded by mu_
  // (agent_id \0 name \0 labels) -> series id; filled lazily, only with ids
  // of committed series.
  std::unordered_map<std::string, int64_t> series_ids_;
  int64_t last_retention_ms_ = 0;
};

}  // namespace plumbline::collector
