// Batches waiting for the collector's acknowledgement.
//
// A batch is pushed once, handed to the shipper (in flight), and removed only
// when acknowledged; a batch whose send failed goes back to the queue. When
// the byte bound is reached the oldest batch is dropped (and counted), never
// the newest, and Push never blocks the sources. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>

#include "plumbline/v1/ingest.pb.h"

namespace plumbline::agent {

struct QueueStats {
  uint64_t batches = 0;  // waiting or in flight
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
  // The oldest batch not in flight, waiting up to `timeout` for one; marks it
  // in flight. nullopt on timeout or after Wake().
  virtual std::optional<v1::Batch> NextToSend(std::chrono::milliseconds timeout) = 0;
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
  std::optional<v1::Batch> NextToSend(std::chrono::milliseconds timeout) override;
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
  };
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> entries_;  // oldest first
  uint64_t max_bytes_;
  QueueStats stats_;
  bool woken_ = false;
};

}  // namespace plumbline::agent
