// Between the ingest streams and the store: a bounded queue drained by one
// writer thread that commits many batches per transaction (group commit), so
// every acknowledgement follows a durable commit and throughput holds.
//
// When the queue is full, Submit refuses at once and the caller answers
// ACK_RETRY with a retry hint: backpressure instead of unbounded buffering.
// Thread-safe. Completion callbacks run on the writer thread and must not block.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "collector/store/store.h"
#include "common/clock.h"
#include "common/counters.h"
#include "plumbline/v1/ingest.pb.h"

namespace plumbline::collector {

struct PipelineOptions {
  size_t max_queued_batches = 4096;
  size_t max_group_batches = 512;
  uint32_t retry_after_ms = 1000;
};

struct IngestItem {
  // Owns the batch that `write.batch` points into.
  std::shared_ptr<const v1::IngestRequest> request;
  std::vector<int> series;  // validated series indices
  uint32_t rejected_series = 0;
  std::string message;  // validation errors to pass back with the ack
  // Refused series by reason; counted only if the batch is stored (not for
  // a duplicate), so a retry never double-counts.
  std::vector<std::pair<std::string, uint32_t>> rejected_reasons;
  std::function<void(const v1::BatchAck&)> done;
};

class IngestPipeline {
 public:
  IngestPipeline(Store* store, Counters* counters, const Clock* clock, PipelineOptions options);
  ~IngestPipeline();

  // Queues the item; false (and no callback) if the queue is full or stopped.
  bool Submit(IngestItem item);
  // Commits everything queued, answers it, and stops the writer. Later
  // Submits return false.
  void Stop();
  size_t QueuedBatches() const;
  const PipelineOptions& options() const { return options_; }

 private:
  void Run();
  void Commit(std::vector<IngestItem>& group);

  Store* store_;
  Counters* counters_;
  const Clock* clock_;
  PipelineOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<IngestItem> queue_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace plumbline::collector
