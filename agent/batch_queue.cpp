#include "agent/batch_queue.h"

#include <algorithm>

namespace plumbline::agent {

void MemoryBatchQueue::Push(v1::Batch batch) {
  std::lock_guard lock(mu_);
  uint64_t bytes = batch.ByteSizeLong();
  // Drop oldest first; a batch in flight may still be acknowledged, so it is
  // dropped last.
  while (!entries_.empty() && stats_.bytes + bytes > max_bytes_) {
    auto victim =
        std::find_if(entries_.begin(), entries_.end(), [](const Entry& e) { return !e.in_flight; });
    if (victim == entries_.end()) victim = entries_.begin();
    if (victim->in_flight) --stats_.in_flight;
    stats_.bytes -= victim->bytes;
    --stats_.batches;
    ++stats_.dropped_full;
    entries_.erase(victim);
  }
  entries_.push_back({std::move(batch), bytes, false, next_id_++});
  stats_.bytes += bytes;
  ++stats_.batches;
  ++stats_.pushed;
  cv_.notify_one();
}

void MemoryBatchQueue::MarkBacklog() {
  std::lock_guard lock(mu_);
  backlog_end_ = next_id_;
}

std::deque<MemoryBatchQueue::Entry>::iterator MemoryBatchQueue::PickLocked(SendLanes lanes,
                                                                           SendLane* lane) {
  if (lanes.fresh) {
    auto newest = std::find_if(entries_.rbegin(), entries_.rend(), [&](const Entry& e) {
      return !e.in_flight && e.id >= backlog_end_;
    });
    if (newest != entries_.rend()) {
      *lane = SendLane::kFresh;
      return std::prev(newest.base());
    }
  }
  if (lanes.backlog) {
    auto oldest = std::find_if(entries_.begin(), entries_.end(),
                               [&](const Entry& e) { return !e.in_flight && e.id < backlog_end_; });
    if (oldest != entries_.end()) {
      *lane = SendLane::kBacklog;
      return oldest;
    }
  }
  return entries_.end();
}

std::optional<OutgoingBatch> MemoryBatchQueue::NextToSend(std::chrono::milliseconds timeout,
                                                          SendLanes lanes) {
  std::unique_lock lock(mu_);
  SendLane lane = SendLane::kBacklog;
  cv_.wait_for(lock, timeout, [&] { return woken_ || PickLocked(lanes, &lane) != entries_.end(); });
  if (woken_) {
    woken_ = false;
    return std::nullopt;
  }
  auto it = PickLocked(lanes, &lane);
  if (it == entries_.end()) return std::nullopt;
  it->in_flight = true;
  ++stats_.in_flight;
  return OutgoingBatch{it->batch, lane};
}

void MemoryBatchQueue::Ack(uint64_t epoch, uint64_t sequence) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) {
    return e.batch.epoch() == epoch && e.batch.sequence() == sequence;
  });
  if (it == entries_.end()) return;
  if (it->in_flight) --stats_.in_flight;
  stats_.bytes -= it->bytes;
  --stats_.batches;
  ++stats_.acked;
  entries_.erase(it);
}

void MemoryBatchQueue::ReleaseAll() {
  std::lock_guard lock(mu_);
  for (Entry& e : entries_) e.in_flight = false;
  stats_.in_flight = 0;
  cv_.notify_all();
}

void MemoryBatchQueue::Release(uint64_t epoch, uint64_t sequence) {
  std::lock_guard lock(mu_);
  for (Entry& e : entries_) {
    if (e.batch.epoch() == epoch && e.batch.sequence() == sequence && e.in_flight) {
      e.in_flight = false;
      --stats_.in_flight;
      cv_.notify_all();
      return;
    }
  }
}

QueueStats MemoryBatchQueue::Stats() const {
  std::lock_guard lock(mu_);
  QueueStats s = stats_;
  s.oldest_created_ms = entries_.empty() ? 0 : entries_.front().batch.created_ms();
  s.backlog = static_cast<uint64_t>(std::count_if(
      entries_.begin(), entries_.end(), [&](const Entry& e) { return e.id < backlog_end_; }));
  return s;
}

void MemoryBatchQueue::Wake() {
  std::lock_guard lock(mu_);
  woken_ = true;
  cv_.notify_all();
}

}  // namespace plumbline::agent
