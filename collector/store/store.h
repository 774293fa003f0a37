// The collector's storage interface. Backends (SQLite now, PostgreSQL for
// scale-out) implement it; the engine and surfaces use only this header.
//
// Thread-safety: every method may be called from any thread; a backend
// serialises what it must internally.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

struct SeriesQuery {
  std::string name;
  LabelSet match;  // exact matches, any order
  int64_t from_ms = 0;
  int64_t to_ms = 0;  // inclusive
  uint32_t limit = 0;  // points per series, 0 = no limit
};

class Store {
 public:
  virtual ~Store() = default;

  // Stores the batches in one durable transaction (group commit) and returns
  // only after it is committed with the configured durability. Each batch
  // identity is stored at most once, also across restarts; a repeat is
  // marked stored = false. On error nothing of the call is stored.
  virtual absl::Status WriteBatches(std::vector<BatchWrite>& writes) = 0;

  // Records (or updates) an agent's description; `now_ms` is its last-seen time.
  virtual absl::Status UpsertAgent(const v1::AgentInfo& info, int64_t now_ms) = 0;

  virtual absl::StatusOr<std::vector<AgentRecord>> ListAgents() = 0;

  // The newest sample of each of the agent's series whose name is in `names`.
  virtual absl::StatusOr<std::vector<SampleValue>> LatestSamples(
      const std::string& agent_id, const std::vector<std::string>& names) = 0;

  virtual absl::StatusOr<std::vector<SeriesPoints>> QuerySeries(const SeriesQuery& query) = 0;

  // Runs the backend's integrity check (PRAGMA integrity_check for SQLite).
  virtual absl::Status CheckIntegrity() = 0;
};

}  // namespace plumbline::collector
