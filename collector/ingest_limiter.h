// Per-agent ingest limits: a batch rate (token bucket) and a cardinality
// guard on series an agent introduces per minute. One misbehaving agent is
// slowed down or refused without touching the others.
//
// Thread-safe. Memory: one entry per agent id seen, plus a 64-bit key per
// distinct series of each agent (forgotten, and so counted as new again,
// when an agent exceeds kMaxTrackedSeriesPerAgent).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "plumbline/v1/ingest.pb.h"

namespace plumbline::collector {

struct IngestLimiterOptions {
  int64_t max_batches_per_second = 100;        // 0: no limit
  int64_t max_new_series_per_minute = 100000;  // 0: no limit
};

class IngestLimiter {
 public:
  static constexpr size_t kMaxTrackedSeriesPerAgent = 1 << 20;

  IngestLimiter(IngestLimiterOptions options, const Clock* clock)
      : options_(options), clock_(clock) {}

  // 0 when the agent may send this batch now, else milliseconds to wait.
  uint32_t AdmitBatch(const std::string& agent_id);

  struct SeriesAdmission {
    // Positions (into `series`) refused because the agent introduced too
    // many new series; each is explained to the agent and counted.
    std::vector<size_t> refused;
    // Non-zero: nothing was admitted; the whole batch fits once the budget
    // refills, after this many milliseconds (answer ACK_RETRY).
    uint32_t retry_after_ms = 0;
  };
  // Admits the series of a batch (indices into batch.series). Series already
  // known from this agent always pass. New ones use the agent's per-minute
  // budget: if they do not fit now but would fit a full budget, the batch is
  // to be retried later (nothing is lost); if they exceed even a full budget,
  // what fits is admitted and the rest refused.
  SeriesAdmission AdmitSeries(const std::string& agent_id, const v1::Batch& batch,
                              const std::vector<int>& series);

  // Order-independent key of a series' name and labels.
  static uint64_t SeriesKey(const v1::Series& series);

 private:
  struct Bucket {
    double tokens = -1;  // < 0: not started (full)
    int64_t updated_ms = 0;
  };
  struct AgentState {
    Bucket batches;
    Bucket series;
    std::unordered_set<uint64_t> known;
  };
  // Refills `b` to now; capacity tokens, refilled at capacity per period.
  void Refill(Bucket* b, double capacity, int64_t period_ms, int64_t now_ms) const;

  const IngestLimiterOptions options_;
  const Clock* clock_;
  std::mutex mu_;
  std::unordered_map<std::string, AgentState> agents_;
};

}  // namespace plumbline::collector
