// Batches waiting for the collector's acknowledgement.
//
// A batch is pushed once, handed to the shipper (in flight), and removed only
// when acknowledged; a batch whose send failed goes back to the queue. When
// the byte bound is reached the oldest batch is dropped (and counted), never
// the newest, and Push never blocks the sources. Thread-safe.
//
// Replay order. MarkBacklog() (the shipper calls it whenever a stream to the
// collector comes up) splits the queue in two lanes:
//   backlog  everything queued at that moment: handed out oldest first;
//   fresh    everything pushed since: handed out newest first.
// A batch keeps its lane when it is released and sent again; the next
// MarkBacklog() turns whatever is still queued into backlog. Until the first
// MarkBacklog() every batch is backlog, so the queue is plain oldest first.
// The lanes only order the sending: a batch still leaves the queue only when
// acknowledged, and the byte bound drops the oldest batch whatever its lane.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>

#include "plumbline/v1/ingest.pb.h"

namespace plumbline::agent {

// Which lane a batch is handed out from (see "Replay order" above).
enum class SendLane : uint8_t { kFresh, kBacklog };

// The lanes one NextToSend call may take a batch from; fresh first when both.
struct SendLanes {
  bool fresh = true;
  bool backlog = true;
};

struct OutgoingBatch {
  v1::Batch batch;
  SendLane lane = SendLane::kBacklog;
};

struct QueueStats {
  uint64_t batches = 0;  // waiting or in flight
  uint64_t backlog = 0;  // of those, queued at the last MarkBacklog()
  uint64_t bytes = 0;    // serialized size of those batches
  uint64_t in_flight = 0;
  uint64_t pushed = 0;  // total since start
  uint64_t acked = 0;
  uint64_t dropped_full = 0;      // batches dropped because the bound was reached
  int64_t oldest_created_ms = 0;  // 0 when empty
};

class BatchQueue {
 public:
  virtual ~BatchQueue() = default;
  virtual void Push(v1::Batch batch) = 0;
  // Everything queued now (waiting or in flight) becomes backlog; batches
  // pushed from now on are fresh.
  virtual void MarkBacklog() = 0;
  // A batch not in flight from one of `lanes`: the newest fresh one if
  // lanes.fresh allows and there is one, else the oldest backlog one if
  // lanes.backlog allows. Marks it in flight. Waits up to `timeout` for one;
  // nullopt on timeout or after Wake().
  virtual std::optional<OutgoingBatch> NextToSend(std::chrono::milliseconds timeout,
                                                  SendLanes lanes) = 0;
  // The same from either lane, without saying which.
  std::optional<v1::Batch> NextToSend(std::chrono::milliseconds timeout) {
    std::optional<OutgoingBatch> next = NextToSend(timeout, SendLanes{});
    if (!next) return std::nullopt;
    return std::move(next->batch);
  }
  // Removes an acknowledged (or permanently refused) batch. Unknown ids are ignored.
  virtual void Ack(uint64_t epoch, uint64_t sequence) = 0;
  // Puts every in-flight batch back in line (the stream broke).
  virtual void ReleaseAll() = 0;
  // Puts one in-flight batch back in line (collector said retry).
  virtual void Release(uint64_t epoch, uint64_t sequence) = 0;
  virtual QueueStats Stats() const = 0;
  // Wakes a waiting NextToSend (shutdown).
  virtual void Wake() = 0;
};

class MemoryBatchQueue final : public BatchQueue {
 public:
  explicit MemoryBatchQueue(uint64_t max_bytes) : max_bytes_(max_bytes) {}
  void Push(v1::Batch batch) override;
  void MarkBacklog() override;
  using BatchQueue::NextToSend;
  std::optional<OutgoingBatch> NextToSend(std::chrono::milliseconds timeout,
                                          SendLanes lanes) override;
  void Ack(uint64_t epoch, uint64_t sequence) override;
  void ReleaseAll() override;
  void Release(uint64_t epoch, uint64_t sequence) override;
  QueueStats Stats() const override;
  void Wake() override;

 private:
  struct Entry {
    v1::Batch batch;
    uint64_t bytes;
    bool in_flight;
    uint64_t id;  // push order
  };
  // The entry NextToSend would hand out, or end(). mu_ held.
  std::deque<Entry>::iterator PickLocked(SendLanes lanes, SendLane* lane);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> entries_;  // oldest first
  uint64_t next_id_ = 0;
  uint64_t backlog_end_ = UINT64_MAX;  // ids below it are backlog
  uint64_t max_bytes_;
  QueueStats stats_;
  bool woken_ = false;
};

}  // namespace plumbline::agent
