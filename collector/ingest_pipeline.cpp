#include "collector/ingest_pipeline.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"

namespace plumbline::collector {

IngestPipeline::IngestPipeline(Store* store, Counters* counters, const Clock* clock,
                               PipelineOptions options)
    : store_(store), counters_(counters), clock_(clock), options_(options) {
  writer_ = std::thread([this] { Run(); });
}

IngestPipeline::~IngestPipeline() { Stop(); }

bool IngestPipeline::Submit(IngestItem item) {
  std::lock_guard lock(mu_);
  if (stopping_ || queue_.size() >= options_.max_queued_batches) return false;
  queue_.push_back(std::move(item));
  cv_.notify_one();
  return true;
}

size_t IngestPipeline::QueuedBatches() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void IngestPipeline::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !writer_.joinable()) return;
    stopping_ = true;
    cv_.notify_all();
  }
  if (writer_.joinable()) writer_.join();
}

void IngestPipeline::Run() {
  std::vector<IngestItem> group;
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      while (!queue_.empty() && group.size() < options_.max_group_batches) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      counters_->Set("plumbline_ingest_queue_batches", {}, static_cast<double>(queue_.size()));
    }
    Commit(group);
    group.clear();
  }
}

void IngestPipeline::Commit(std::vector<IngestItem>& group) {
  std::vector<BatchWrite> writes;
  writes.reserve(group.size());
  int64_t now = clock_->NowMs();
  for (IngestItem& item : group) {
    BatchWrite w;
    w.batch = &item.request->batch();
    w.series = std::move(item.series);
    w.received_ms = now;
    writes.push_back(std::move(w));
  }
  absl::Status status = store_->WriteBatches(writes);
  counters_->Add("plumbline_ingest_commits_total");
  if (!status.ok()) {
    spdlog::error("store write failed for {} batches: {}", group.size(), status.message());
    counters_->Add("plumbline_ingest_store_errors_total");
  }
  for (size_t i = 0; i < group.size(); ++i) {
    const v1::Batch& batch = group[i].request->batch();
    v1::BatchAck ack;
    ack.set_epoch(batch.epoch());
    ack.set_sequence(batch.sequence());
    if (!status.ok()) {
      ack.set_result(v1::ACK_RETRY);
      ack.set_retry_after_ms(options_.retry_after_ms);
      ack.set_message(StrCat("storage error: ", status.message()));
      counters_->Add("plumbline_ingest_batches_total", {{"result", "retry"}});
    } else if (writes[i].stored) {
      ack.set_result(v1::ACK_STORED);
      ack.set_rejected_series(group[i].rejected_series);
      ack.set_message(group[i].message);
      counters_->Add("plumbline_ingest_batches_total", {{"result", "stored"}});
      counters_->Add("plumbline_ingest_samples_total", {},
                     static_cast<double>(writes[i].samples_written));
      for (const auto& [reason, n] : group[i].rejected_reasons) {
        counters_->Add("plumbline_ingest_rejected_series_total", {{"reason", reason}}, n);
      }
    } else {
      ack.set_result(v1::ACK_DUPLICATE);
      counters_->Add("plumbline_ingest_batches_total", {{"result", "duplicate"}});
    }
    if (group[i].done) group[i].done(ack);
  }
}

}  // namespace plumbline::collector
