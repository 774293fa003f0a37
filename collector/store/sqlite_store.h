// The embedded store: one SQLite file in WAL mode.
//
// Durability: with Durability::kFull (the default) a WriteBatches call returns
// only after its transaction is fsynced (synchronous=FULL), so an
// acknowledged batch survives power loss; kRelaxed (synchronous=NORMAL) may
// lose the last transactions on power loss but never corrupts the file.
// Thread-safe: writes use one connection guarded by a mutex; aggregate
// queries read on a second connection, so they do not wait behind a roll-up
// step or a group commit (only for a consistent snapshot); maintenance reads
// and computes on a third, taking the mutex only to write its results.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "collector/store/sample_block.h"
#include "collector/store/store.h"

namespace plumbline::collector {

struct RollupTier;  // sqlite_store.cpp

class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) the database and applies pending migrations.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                           Durability durability);
  // Testing only: migrates a new or older file to `version` at most, to
  // test the next migration from it.
  static absl::Status MigrateToForTesting(const std::string& path, int version);
  ~SqliteStore() override;

  absl::Status WriteBatches(std::vector<BatchWrite>& writes) override;
  absl::Status UpsertAgents(const std::vector<AgentSighting>& agents) override;
  absl::StatusOr<std::vector<AgentRecord>> ListAgents() override;
  absl::StatusOr<std::vector<SampleValue>> LatestSamples(
      const std::string& agent_id, const std::vector<std::string>& names) override;
  absl::StatusOr<std::vector<SeriesPoints>> QuerySeries(const SeriesQuery& query) override;
  absl::Status CheckIntegrity() override;
  absl::StatusOr<std::vector<SeriesInfo>> FindSeries(const SeriesSelector& selector) override;
  absl::StatusOr<std::vector<SeriesAggregates>> Aggregates(
      const SeriesSelector& selector, int64_t from_ms, int64_t to_ms, int64_t step_ms,
      AggregateSource* source = nullptr) override;
  absl::StatusOr<MaintenanceReport> RunMaintenance(int64_t now_ms,
                                                   const RetentionPolicy& retention) override;
  std::optional<uint64_t> DayVersion(int64_t day_ms) override;
  absl::Status PutIncident(const DeclaredIncident& incident) override;
  absl::StatusOr<std::vector<DeclaredIncident>> DeclaredIncidents(int64_t from_ms,
                                                                  int64_t to_ms) override;
  absl::Status AddIncidentNote(const IncidentNote& note) override;
  absl::StatusOr<std::vector<IncidentNote>> IncidentNotes(const std::string& incident_id) override;

  // Minutes older than this are settled: a sample for an earlier minute is
  // late data and marks its minute for recomputation.
  static constexpr int64_t kRollupGraceMs = collector::kRollupGraceMs;

  // Raw sample blocks and rollup blobs found damaged (a bad disk, a
  // hand-edited file) since the store opened: what precedes the damage is
  // read, the rest skipped.
  uint64_t CorruptBlocks();

  // Minutes are rolled up in whole steps of this length (a divisor of an
  // hour, a multiple of a minute; default one minute): with 10 minutes, a
  // minute waits for its 10-minute window to settle, and each series' hour
  // blob is rewritten once per step instead of once per minute (one
  // previous-sample lookback instead of ten). Queries read the part not
  // rolled up yet from raw samples, so answers are the same either way.
  void SetMinuteRollupStep(int64_t step_ms);
  // false: Aggregates reads only raw samples (and DayVersion tracks
  // nothing), for comparing answers and costs with the rollups'. Default true.
  void SetQueryRollups(bool on) { query_rollups_.store(on); }

  // How long one RunMaintenance call works through a backlog (at least one
  // step of each kind); tests shorten it to leave work for the next call.
  void SetMaintenanceBudgetForTesting(std::chrono::milliseconds budget) { budget_ = budget; }

  // Testing only: runs between computing a step of minute rollups (outside
  // the store lock) and writing it, e.g. to write a batch into the minutes
  // being rolled up.
  void SetRollupHookForTesting(std::function<void()> hook) { rollup_hook_ = std::move(hook); }

  // The schema version this build writes; migrations bring older files to it.
  static int SchemaVersion();

 private:
  // A connection with its kept statements and decode buffer.
  struct Connection {
    sqlite3* db = nullptr;
    std::unordered_map<const char*, sqlite3_stmt*> prepared;
    std::vector<RawSample> run;
    ~Connection();
  };

  explicit SqliteStore(sqlite3* db) : db_(db) { writer_.db = db; }
  absl::Status Migrate(int to_version = SchemaVersion());
  absl::Status Exec(const char* sql);
  absl::StatusOr<int64_t> SeriesId(const std::string& agent_id, const std::string& name,
                                   const std::string& canonical_labels, v1::MetricType type);
  // The id of a series of counter or gauge points, from a cache keyed by
  // the series as sent (no label sorting or formatting when it hits).
  absl::StatusOr<int64_t> PlainSeriesId(const std::string& agent_id, const v1::Series& series);
  // A hot statement, prepared once and kept (keyed by its SQL's address),
  // on the writer's connection or on `c`.
  absl::StatusOr<sqlite3_stmt*> Prepared(const char* sql) { return Prepared(writer_, sql); }
  static absl::StatusOr<sqlite3_stmt*> Prepared(Connection& c, const char* sql);
  // Opens a connection that only reads (queries', maintenance's).
  static absl::Status OpenReader(const std::string& path, Connection& c);
  // Claims a batch's identity in batch_ranges (inside the open
  // transaction): true if it was not there, false for a duplicate. The
  // ranges of an agent and epoch never overlap or touch: a claim extends
  // the range ending just before the sequence or starting just after it
  // (merging the two when it fills the gap between them), or adds one.
  absl::StatusOr<bool> ClaimBatch(const std::string& agent_id, int64_t epoch, int64_t sequence,
                                  int64_t received_ms);
  absl::Status WriteOne(BatchWrite& write);
  absl::Status LoadState();
  absl::Status SetState(const char* name, int64_t value);
  // Rolls raw samples in [from, to) into minute rollups (REPLACE), minutes
  // aligned. keep_existing: only add the minutes a series has no rollup for.
  // want: only these series' rollups (empty: every series). Takes mu_ only
  // to write (reads and computes on maintainer_ without it), one
  // transaction per step; `last` runs inside the last step's transaction,
  // `committed` after its commit, both under mu_. Maintenance thread only.
  absl::Status RollUpMinutes(int64_t from_ms, int64_t to_ms, bool keep_existing,
                             const std::function<bool(int64_t)>& want,
                             const std::function<absl::Status()>& last,
                             const std::function<void()>& committed);
  absl::Status RollUpHours(int64_t from_ms, int64_t to_ms);

  // Rollups live in compressed blobs (rollup_block.h), one per series and
  // span: a series' minutes of one hour (rollup_1m_blocks), its hours of one
  // UTC day (rollup_1h_blocks).
  using SeriesBucket = std::pair<int64_t, Aggregate>;  // (series id, bucket)
  // Appends each series' aggregate of `hour`, its minute rollups merged.
  absl::Status HourAggregates(Connection& c, int64_t hour, std::vector<SeriesBucket>* out);
  // Merges `fresh` (any order) into the tier's blobs: a bucket already
  // stored is replaced, or kept if keep_existing. Empties `fresh`.
  absl::Status WriteRollups(const RollupTier& tier, std::vector<SeriesBucket>& fresh,
                            bool keep_existing);
  // WriteRollups in two halves: the blobs merged, reading on `c`, and then
  // written (on the writer's connection, under mu_).
  struct EncodedRollup {
    int64_t series_id, span, buckets;
    std::string data;
  };
  absl::Status MergeRollups(Connection& c, const RollupTier& tier, std::vector<SeriesBucket>& fresh,
                            bool keep_existing, std::vector<EncodedRollup>* out);
  absl::Status PutRollups(const RollupTier& tier, const std::vector<EncodedRollup>& blobs);
  // Decodes a blob read from the tier; a damaged one gives what precedes
  // the damage and is counted.
  void DecodeRollups(const RollupTier& tier, int64_t series_id, int64_t span, std::string_view blob,
                     std::vector<Aggregate>* out);
  // Schema 6: moves the rows of the old rollup tables into blobs.
  absl::Status MoveRollupsIntoBlocks();

  // Raw samples live in blocks (sample_block.h), each within one 10-minute
  // window: ingest writes one block per window per group commit (shard -1,
  // any series); maintenance merges a closed window's blocks into one
  // block per shard of 4096 series ids. At the same (series, timestamp) the
  // block written later wins, as a replaced row did.
  using SeriesFilter = std::function<bool(int64_t series_id)>;  // empty: every series
  using RawBySeries = std::unordered_map<int64_t, std::vector<RawSample>>;
  // Writes pending_samples_ as blocks (inside the open transaction).
  absl::Status FlushSamples();
  // Runs of the blocks `q` selects (columns: data, id; rows in (window,
  // id) order) that `want` accepts, decoded; a corrupt block's remainder is
  // skipped and counted.
  absl::Status VisitRuns(Connection& c, sqlite3_stmt* q, const SeriesFilter& want,
                         const std::function<void(int64_t, std::span<const RawSample>)>& visit);
  // Every sample in [from, to) per series, ascending, one per timestamp.
  absl::Status ReadRaw(Connection& c, int64_t from_ms, int64_t to_ms, const SeriesFilter& want,
                       RawBySeries* out);
  // The same from the blocks `q` selects (as for VisitRuns).
  absl::Status CollectRuns(Connection& c, sqlite3_stmt* q, const SeriesFilter& want,
                           int64_t from_ms, int64_t to_ms, RawBySeries* out);
  // The newest sample in [from, to) per series.
  absl::Status ReadLast(Connection& c, int64_t from_ms, int64_t to_ms, const SeriesFilter& want,
                        std::unordered_map<int64_t, RawSample>* out);
  // Per-minute aggregates of the raw samples in [from, to) (the rollup
  // rule, see kLookbackMs), per series in id order, minutes ascending.
  absl::Status MinuteAggregates(Connection& c, int64_t from_ms, int64_t to_ms,
                                const SeriesFilter& want,
                                const std::function<absl::Status(int64_t, const Aggregate&)>& emit);
  // Merges the ingest blocks of one closed window into per-shard blocks,
  // a few shards per transaction; returns 1 if there was something to merge.
  absl::StatusOr<uint64_t> CompactWindow(int64_t window_ms);
  // Schema 5: moves the rows of the old samples table into blocks.
  absl::Status MoveSamplesIntoBlocks();
  absl::StatusOr<std::vector<SeriesInfo>> FindSeriesLocked(const SeriesSelector& selector);

  // Waits (up to 200 ms) while a batch write or a query waits for the store, so a
  // roll-up backlog is worked off between commits instead of holding acks
  // back; and says whether batches were written in the last second (then
  // maintenance takes smaller steps).
  bool YieldToWriters();

  std::mutex mu_;
  // Batch writes and queries waiting for mu_, and the steady-clock
  // millisecond of the last batch write: maintenance gives way to both.
  std::atomic<int> writers_waiting_{0};
  std::atomic<int64_t> last_write_ms_{0};
  sqlite3* db_;
  Connection writer_;  // db_'s; guarded by mu_
  // The query connection, and the lock of its one reader at a time. Taken
  // before mu_ when both are held.
  std::mutex read_mu_;
  Connection reader_;
  // Maintenance reads what it merges or rolls up on this one, outside mu_;
  // one RunMaintenance at a time (taken before mu_).
  std::mutex maintenance_mu_;
  Connection maintainer_;
  // (agent_id \0 name \0 labels) -> series id; filled lazily.
  std::unordered_map<std::string, int64_t> series_ids_;
  // (agent_id, name, type, labels in the order sent) -> series id, for
  // PlainSeriesId; key_ is its reused key buffer.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, int64_t, KeyHash, std::equal_to<>> plain_ids_;
  std::string key_;
  // Per agent, the keys (as for plain_ids_) and ids of the counter and
  // gauge series of its last batch, in the order sent. An agent sends the
  // same series in the same order batch after batch, so a series' key is
  // compared with the one at its position (memory read in order) instead
  // of looked up in plain_ids_ (a few cache misses each, at 500,000
  // series). layout_ is the batch being written, swapped in at its end.
  struct BatchLayout {
    std::string keys;            // back to back
    std::vector<uint32_t> ends;  // end of each position's key in keys
    std::vector<int64_t> ids;
  };
  std::unordered_map<std::string, BatchLayout> layouts_;
  BatchLayout layout_;
  const BatchLayout* previous_layout_ = nullptr;
  // Every series of a metric name with its parsed labels, for selectors:
  // filled lazily, a name dropped when a series of it is created.
  std::unordered_map<std::string, std::vector<SeriesInfo>> series_by_name_;
  // Newest sample per series id (timestamp, value).
  std::unordered_map<int64_t, std::pair<int64_t, double>> latest_;
  int64_t minute_watermark_ = 0;  // minutes before this are rolled up
  // The end of the minutes being rolled up (ingest counts a sample before
  // it as late, so one that arrives meanwhile is recomputed).
  int64_t rolling_to_ = 0;
  int64_t hour_watermark_ = 0;  // hours before this are rolled up
  // Raw samples before this may have been deleted by retention.
  int64_t raw_cutoff_ = INT64_MIN;
  // Newest-sample updates of the open write transaction, applied to
  // latest_ only once it commits.
  struct PendingLatest {
    int64_t series_id;
    int64_t ts_ms;
    double value;
  };
  std::vector<PendingLatest> pending_latest_;
  // Samples of the open write transaction, written as blocks at its end.
  struct PendingSample {
    int64_t window;
    int64_t series_id;
    int64_t ts_ms;
    double value;
  };
  std::vector<PendingSample> pending_samples_;
  std::vector<RawSample> run_;  // reused merge buffer
  // Damage found by any connection, under its own lock.
  std::mutex corrupt_mu_;
  std::set<int64_t> corrupt_blocks_;  // ids
  // Damaged rollup blobs: (tier span, series id, span start).
  std::set<std::tuple<int64_t, int64_t, int64_t>> corrupt_rollups_;
  size_t corrupt_blocks_reported_ = 0;
  int64_t last_retention_ms_ = 0;
  // Late data: per dirty minute, the series whose rollups it changed (the
  // dirty_minutes table holds the minutes; one marked before the store
  // opened is in dirty_all_minutes_ and recomputed for every series).
  std::map<int64_t, std::unordered_set<int64_t>> dirty_series_;
  std::set<int64_t> dirty_all_minutes_;
  size_t dirty_series_count_ = 0;                           // entries in dirty_series_' sets
  std::vector<std::pair<int64_t, int64_t>> pending_dirty_;  // (minute, series) of the open write
  std::vector<int64_t> pending_windows_;  // raw windows the open write put samples in
  // DayVersion: per UTC day, the store-wide count of changes at its last
  // change since the store opened (0: none). Moved after the commit of
  // samples written for the day and of minutes recomputed for late data
  // (which queries see only then): a query that read the old version
  // computed from the data before the change, or after it; either way it
  // computes again. Days before the retention cut (hour rollups of theirs
  // deleted, or about to be) are not tracked.
  void DaysChanged(int64_t from_ms, int64_t to_ms);
  std::mutex versions_mu_;
  std::unordered_map<int64_t, uint64_t> day_changes_;
  uint64_t changes_ = 0;
  std::atomic<int64_t> retention_cut_{INT64_MIN};
  // Times each dirty minute was marked: a recomputation that read a minute
  // clears it only if no mark came while it ran.
  std::unordered_map<int64_t, uint64_t> dirty_marks_;
  // Hours whose minute rollups changed (the dirty_hours table): queries read
  // their minutes until the hour is rolled up again, at most every 30 s
  // while late data keeps coming, so a backfill does not redo each hour
  // after every step.
  std::set<int64_t> dirty_hours_;
  std::chrono::steady_clock::time_point last_hours_rollup_ = std::chrono::steady_clock::now();
  std::chrono::milliseconds budget_{1000};
  std::function<void()> rollup_hook_;
  int64_t minute_rollup_step_ = 60000;
  std::atomic<bool> query_rollups_{true};
  // Series ids above this were created since the store opened.
  int64_t max_series_at_open_ = 0;
};

}  // namespace plumbline::collector
