// The collector's storage interface. Backends (SQLite now, PostgreSQL for
// scale-out) implement it; the engine and surfaces use only this header.
//
// Thread-safety: every method may be called from any thread; a backend
// serialises what it must internally.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "collector/store/day_cache.h"
#include "common/labels.h"
#include "common/status.h"
#include "plumbline/v1/ingest.pb.h"

namespace plumbline::collector {

// One validated batch to store. `series` lists the indices of the batch's
// series that passed validation; the others are not stored.
struct BatchWrite {
  const v1::Batch* batch = nullptr;
  std::vector<int> series;
  int64_t received_ms = 0;
  // Set by WriteBatches: false if this (agent, epoch, sequence) was already
  // stored (nothing was written for it).
  bool stored = false;
  uint64_t samples_written = 0;
};

struct AgentRecord {
  std::string agent_id;
  std::string hostname;
  std::string version;
  std::string os;
  LabelSet labels;
  uint32_t cpu_count = 0;
  uint64_t memory_bytes = 0;
  int64_t first_seen_ms = 0;
  int64_t last_seen_ms = 0;
  uint64_t epoch = 0;
  uint64_t last_sequence = 0;
  uint64_t batches = 0;
  uint64_t samples = 0;
};

struct SampleValue {
  std::string name;
  LabelSet labels;
  int64_t timestamp_ms = 0;
  double value = 0;
};

struct SeriesPoints {
  std::string name;
  LabelSet labels;
  std::vector<int64_t> timestamps_ms;
  std::vector<double> values;
};

// Matches a label: exact, not equal, or a shell glob ("web-*", "db-[12]").
struct LabelMatcher {
  enum class Op { kEqual, kNotEqual, kGlob };
  std::string name;
  Op op = Op::kEqual;
  std::string value;
  bool Matches(const LabelSet& sorted_labels) const;
};

// Which series: a metric name plus label matchers (all must match).
struct SeriesSelector {
  std::string name;
  std::vector<LabelMatcher> matchers;
};

struct SeriesInfo {
  int64_t id = 0;
  std::string agent_id;
  std::string name;
  LabelSet labels;
  v1::MetricType type = v1::METRIC_TYPE_GAUGE;
};

// Aggregates of one series over one time bucket.
struct Aggregate {
  int64_t start_ms = 0;  // bucket start
  uint64_t count = 0;    // samples
  double sum = 0;
  double min = 0;
  double max = 0;
  double first = 0;
  int64_t first_ms = 0;
  double last = 0;
  int64_t last_ms = 0;
  // Counter increase, reset-aware (a drop counts the new value as the
  // increase since the reset). Includes the step from the series' previous
  // sample, even one in an earlier bucket, to its first sample here.
  double increase = 0;

  double Mean() const { return count == 0 ? 0 : sum / static_cast<double>(count); }
  // Folds in the aggregate of a later, adjacent bucket.
  void Merge(const Aggregate& later);
};

struct SeriesAggregates {
  SeriesInfo series;
  std::vector<Aggregate> buckets;  // ascending, only buckets with samples
};

// An agent's description as its hello gave it, and when.
struct AgentSighting {
  v1::AgentInfo info;
  int64_t now_ms = 0;
};

// Where an aggregate answer came from, for tests and /metrics.
struct AggregateSource {
  uint64_t hour_buckets = 0;
  uint64_t minute_buckets = 0;
  uint64_t raw_samples = 0;
};

struct RetentionPolicy {
  int64_t raw_ms = 7LL * 86400 * 1000;
  int64_t minute_ms = 35LL * 86400 * 1000;
  int64_t hour_ms = 400LL * 86400 * 1000;
};

struct MaintenanceReport {
  uint64_t minutes_rolled_up = 0;
  uint64_t hours_rolled_up = 0;
  uint64_t late_minutes_recomputed = 0;
  uint64_t raw_deleted = 0;
  uint64_t rollups_deleted = 0;
  // Windows of raw samples merged into compact per-series blocks.
  uint64_t windows_compacted = 0;
  // Raw sample blocks and rollup blobs found damaged since the last report
  // (read up to the damage, the rest skipped).
  uint64_t corrupt_blocks = 0;
  // Pages of the write-ahead log not yet copied into the database file
  // (SQLite; readers still need them).
  uint64_t wal_frames_left = 0;
  // Work is left (a backlog of minutes to roll up): call again soon.
  bool more = false;
};

// What a successful WriteBatches promises. kFull: the batches survive a
// power loss. kRelaxed: the last acknowledged transactions may be lost on a
// crash or power loss, but the store is never corrupted.
enum class Durability { kFull, kRelaxed };

// How long after a minute ends its samples are expected to have arrived.
// Minutes older than now - grace are rolled up; a sample for a minute already
// rolled up is late data and has its minute recomputed.
inline constexpr int64_t kRollupGraceMs = 2 * 60 * 1000;

// Raw samples are deleted by retention in whole windows of this length
// (aligned to the epoch): a window goes once all of it is past the cutoff.
inline constexpr int64_t kRawWindowMs = 10 * 60 * 1000;

struct SeriesQuery {
  std::string name;
  LabelSet match;  // exact matches, any order
  int64_t from_ms = 0;
  int64_t to_ms = 0;   // inclusive
  uint32_t limit = 0;  // points per series, 0 = no limit
};

// An incident an SRE declared for a time window (to_ms 0: still open).
struct DeclaredIncident {
  std::string id;
  std::string title;
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  std::vector<std::string> services;
  std::string declared_by;
  int64_t declared_ms = 0;
};

// A note on any incident, detected or declared.
struct IncidentNote {
  std::string incident_id;
  int64_t at_ms = 0;
  std::string author;
  std::string text;
};

// Service ids of a declared incident as stored: comma-separated.
std::string JoinIds(const std::vector<std::string>& ids);
std::vector<std::string> SplitIds(const std::string& joined);

// Folds aggregates (rollup rows, minutes computed from raw samples; in any
// order) into per-series buckets of `step` from `from`. Keeps only buckets
// that received data, so a month at one-minute steps costs what was read,
// not series x 43,200 empty buckets.
class BucketFolder {
 public:
  BucketFolder(size_t series, int64_t from_ms, int64_t to_ms, int64_t step_ms);
  // Ignores an aggregate that starts outside [from, to).
  void Fold(size_t series, const Aggregate& a);
  // The series' buckets with samples, ascending, each with its start_ms.
  std::vector<Aggregate> Take(size_t series);

 private:
  int64_t from_ms_, to_ms_, step_ms_;
  std::vector<std::vector<std::pair<int64_t, Aggregate>>> cells_;  // (bucket, aggregate)
};

// t rounded down (up) to a multiple of unit, negative t included.
inline int64_t FloorTo(int64_t t, int64_t unit) {
  int64_t q = t / unit;
  if (t % unit != 0 && t < 0) --q;
  return q * unit;
}
inline int64_t CeilTo(int64_t t, int64_t unit) { return -FloorTo(-t, unit); }

class Store;

// Store::Aggregates on the calendar: with a step that is a whole number of
// hours, buckets are aligned to multiples of the step since the epoch (UTC
// hours, UTC days) instead of to `from`, and the first and last buckets are
// clipped to [from, to); a clipped bucket's start_ms is `from`. Whole hours
// then come from hourly rollups whatever minute `from` falls on (buckets
// counted from an unaligned `from` straddle hours, which only minute rollups
// can answer). Other steps: Store::Aggregates as it is.
absl::StatusOr<std::vector<SeriesAggregates>> CalendarAggregates(Store& store,
                                                                 const SeriesSelector& selector,
                                                                 int64_t from_ms, int64_t to_ms,
                                                                 int64_t step_ms,
                                                                 AggregateSource* source = nullptr);

class Store {
 public:
  virtual ~Store() = default;

  // Stores the batches in one durable transaction (group commit) and returns
  // only after it is committed with the configured durability. Each batch
  // identity is stored at most once, also across restarts; a repeat is
  // marked stored = false. On error nothing of the call is stored.
  virtual absl::Status WriteBatches(std::vector<BatchWrite>& writes) = 0;

  // Records (or updates) agents' descriptions, each with its last-seen time.
  // The SQLite store writes them in one transaction (one fsync for a
  // reconnect storm's hellos, not one each); PostgreSQL one at a time.
  virtual absl::Status UpsertAgents(const std::vector<AgentSighting>& agents) = 0;
  absl::Status UpsertAgent(const v1::AgentInfo& info, int64_t now_ms) {
    return UpsertAgents({{info, now_ms}});
  }

  virtual absl::StatusOr<std::vector<AgentRecord>> ListAgents() = 0;

  // The newest sample of each of the agent's series whose name is in `names`.
  virtual absl::StatusOr<std::vector<SampleValue>> LatestSamples(
      const std::string& agent_id, const std::vector<std::string>& names) = 0;

  virtual absl::StatusOr<std::vector<SeriesPoints>> QuerySeries(const SeriesQuery& query) = 0;

  // Runs the backend's integrity check (PRAGMA integrity_check for SQLite).
  virtual absl::Status CheckIntegrity() = 0;

  // Every series the selector matches.
  virtual absl::StatusOr<std::vector<SeriesInfo>> FindSeries(const SeriesSelector& selector) = 0;

  // Per-series aggregates in buckets of `step_ms` (a positive multiple of
  // 60000) over [from_ms, to_ms), both aligned down to whole minutes. Whole
  // hours come from hourly rollups, whole minutes from minute rollups, and
  // only the part not yet rolled up from raw samples, so a 90-day question
  // never scans raw points. `source` (optional) says what was read.
  virtual absl::StatusOr<std::vector<SeriesAggregates>> Aggregates(
      const SeriesSelector& selector, int64_t from_ms, int64_t to_ms, int64_t step_ms,
      AggregateSource* source = nullptr) = 0;

  // A number that moves whenever the UTC day starting at `day_ms` changes
  // as Aggregates answers questions about the whole day: samples written
  // for the day, late ones recomputed into its rollups, retention deleting
  // its hour rollups.
  // Read it before computing from the day: the result stays right while
  // the number stays the same. nullopt: not tracked, compute every time.
  // PostgreSQL: other collectors write the same database, so a change
  // through another collector may take up to a second to move the number
  // here (this store's own changes move it at once); only days that ended
  // at least 30 minutes ago are tracked (see PostgresStore::DayVersion).
  virtual std::optional<uint64_t> DayVersion(int64_t day_ms) {
    (void)day_ms;
    return std::nullopt;
  }

  // Whole-day results the engine keeps for this store (see day_cache.h).
  DayCache& day_cache() { return day_cache_; }

  // Background work, in small steps so ingest is never stalled for long:
  // rolls closed minutes (older than now - grace) into minute and hour
  // rollups, recomputes buckets that late data touched, and enforces
  // retention. Call it periodically from one thread.
  virtual absl::StatusOr<MaintenanceReport> RunMaintenance(int64_t now_ms,
                                                           const RetentionPolicy& retention) = 0;

  // Declares an incident, or replaces the one with the same id (to close
  // it or fix its window).
  virtual absl::Status PutIncident(const DeclaredIncident& incident) = 0;
  // Declared incidents overlapping [from_ms, to_ms) (open ones overlap
  // everything after their start), by start.
  virtual absl::StatusOr<std::vector<DeclaredIncident>> DeclaredIncidents(int64_t from_ms,
                                                                          int64_t to_ms) = 0;
  virtual absl::Status AddIncidentNote(const IncidentNote& note) = 0;
  // Notes on an incident, oldest first.
  virtual absl::StatusOr<std::vector<IncidentNote>> IncidentNotes(
      const std::string& incident_id) = 0;

 private:
  DayCache day_cache_;
};

}  // namespace plumbline::collector
