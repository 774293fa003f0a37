// The agent's disk spool: a BatchQueue whose batches survive a crash, a
// kill -9 or a collector outage of days.
//
// Every pushed batch is appended to a segment file in the spool directory
// before the shipper can see it (format: agent/spool_format.h); it is
// removed only when the collector acknowledges it, and a segment file is
// deleted when every record in it is done. On open the spool replays what is
// left: every intact unacknowledged record is handed out again with its
// original (epoch, sequence), so the collector stores it once.
//
// Memory stays flat: the spool keeps an index entry per record (segment,
// offset, size, epoch, sequence, created_ms, state), never the payloads,
// and reads a payload from disk when the shipper takes it.
//
// Order: the backlog and fresh lanes of BatchQueue. Whatever was replayed
// from disk at open, or queued when the shipper's stream came up, is
// backlog and goes oldest first; batches pushed since go newest first.
//
// Bounds: unacknowledged bytes are capped at max_bytes and age at max_age;
// when a bound is reached the oldest records are dropped first (never the
// newest) and counted (dropped_full, dropped_age). The bound is on
// unacknowledged bytes: a segment file goes only when all its records are
// done, so the files on disk exceed it by the done part of partly finished
// segments (usually just the oldest one). Drops for max_bytes wake the
// maintenance thread at once, so the segments they finish are deleted
// within a maintenance round, not a tick later.
//
// Damage (truncated or bit-flipped segments, a lost manifest) is found by
// CRC and length checks on open; damaged records are skipped and counted
// (corrupt_records, corrupt_bytes) and every intact record is still
// delivered. Opening never fails because of damaged data.
//
// Disk errors (ENOSPC, EIO, short writes, failed fsync) never reach the
// sources: the batch is kept in a bounded in-memory fallback (counted), the
// disk is tried again after disk_retry_interval, and batches held in memory
// are written to the spool once it works again. Push never blocks on the
// collector; its only I/O is the append (and its fsync under `always`).
//
// Thread-safety: every method may be called from any thread. A background
// thread (unless options.background is false) runs Maintain() periodically.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "agent/batch_queue.h"
#include "agent/spool_format.h"
#include "agent/spool_fs.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/yaml_config.h"

namespace plumbline::agent {

enum class FsyncPolicy {
  kAlways,    // fsync after every append: a pushed batch survives a power loss
  kInterval,  // fsync at most every fsync_interval: a power loss costs at most that much
  kNever,     // leave it to the kernel: survives a crash of the agent, not of the host
};

std::string_view FsyncPolicyName(FsyncPolicy policy);

struct SpoolOptions {
  bool enabled = true;
  // Empty: <state_dir>/spool (the agent fills it in).
  std::string dir;
  // Unacknowledged bytes (record framing included) kept at most.
  uint64_t max_bytes = 256ull << 20;
  std::chrono::milliseconds max_age{7LL * 24 * 3600 * 1000};
  FsyncPolicy fsync = FsyncPolicy::kInterval;
  std::chrono::milliseconds fsync_interval{1000};
  // A segment file is closed and a new one started beyond this size.
  uint64_t segment_size = 4ull << 20;

  // Not read from the config file.
  // Bound on batches held in memory while the disk fails (the agent uses queue.max_bytes).
  uint64_t memory_fallback_bytes = 64ull << 20;
  // How often the manifest (acknowledged ranges) is rewritten when it changed.
  std::chrono::milliseconds checkpoint_interval{1000};
  // After a write error the disk is left alone this long.
  std::chrono::milliseconds disk_retry_interval{1000};
  // Run Maintain() on a background thread; tests turn it off and call it.
  bool background = true;

  bool operator==(const SpoolOptions&) const = default;
};

// Reads the `spool` section of the agent config:
//   enabled, dir, max_bytes, max_age, fsync (always|interval|never),
//   fsync_interval, segment_size.
void ParseSpoolOptions(ConfigMap section, SpoolOptions* out);

struct SpoolStats {
  // Right now.
  uint64_t batches = 0;  // not yet acknowledged: waiting or in flight
  uint64_t bytes = 0;    // framed size of those
  uint64_t in_flight = 0;
  uint64_t memory_batches = 0;  // of those, held in memory because the disk failed
  uint64_t memory_bytes = 0;
  uint64_t segments = 0;
  uint64_t disk_bytes = 0;        // size of the live segment files
  int64_t oldest_created_ms = 0;  // 0 when empty
  // Since the spool was opened.
  uint64_t spooled = 0;   // batches pushed
  uint64_t replayed = 0;  // unacknowledged batches found on disk when opened
  uint64_t acked = 0;
  uint64_t dropped_full = 0;
  uint64_t dropped_age = 0;
  uint64_t corrupt_records = 0;  // records lost to damage, exactly where the manifest knew them
  uint64_t corrupt_bytes = 0;    // bytes of unacknowledged data that did not decode or were missing
  uint64_t write_errors = 0;
  uint64_t sync_errors = 0;
  uint64_t read_errors = 0;
  uint64_t manifest_errors = 0;
  uint64_t memory_fallback = 0;  // batches that had to go to memory
  uint64_t rescued = 0;          // of those, written to disk later
};

class DiskSpool final : public BatchQueue {
 public:
  // Opens (creating if needed) and locks options.dir, then replays it. Fails
  // only if the directory cannot be created, listed or locked; damaged
  // contents are counted, never fatal. `fs` and `clock` must outlive the spool.
  static absl::StatusOr<std::unique_ptr<DiskSpool>> Open(
      SpoolOptions options, SpoolFs* fs = PosixSpoolFs::Default(),
      const Clock* clock = &SystemClock::Instance());
  // Syncs what was appended, writes the manifest, releases the lock.
  ~DiskSpool() override;
  DiskSpool(const DiskSpool&) = delete;
  DiskSpool& operator=(const DiskSpool&) = delete;

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

  SpoolStats GetSpoolStats() const;
  // One round of housekeeping: the interval fsync, age expiry, writing back
  // batches held in memory, the manifest, deleting finished segments.
  void Maintain() { MaintainImpl(false); }
  const std::string& dir() const { return options_.dir; }

 private:
  enum class State : uint8_t { kWaiting, kInFlight, kDone };
  struct Record {
    uint64_t segment = 0;  // 0: no disk copy (held in memory)
    uint64_t offset = 0;
    uint64_t size = 0;  // framed
    spool::RecordMeta meta;
    State state = State::kWaiting;
  };
  // A record NextToSend would hand out, and the index it is taken from.
  struct Pick {
    enum class From : uint8_t { kRetry, kFresh, kCursor };
    uint64_t id = 0;
    SendLane lane = SendLane::kBacklog;
    From from = From::kCursor;
  };
  struct Segment {
    uint64_t size = 0;  // bytes written (or found) that the spool vouches for
    uint64_t records = 0;
    uint64_t done_records = 0;
    std::map<uint64_t, uint64_t> done;  // begin -> end, disjoint, merged
    bool active = false;
    bool held = false;  // unreadable at open: kept, never deleted
  };

  DiskSpool(SpoolOptions options, SpoolFs* fs, const Clock* clock, std::unique_ptr<DirLock> lock);
  absl::Status Recover();
  void RecoverSegment(uint64_t id, const spool::ManifestSegment* known);
  // `force`: sync and write the manifest now (open, close).
  void MaintainImpl(bool force);
  absl::Status WriteManifest(const spool::Manifest& manifest);
  void Run();

  // All below: mu_ held.
  Record& At(uint64_t id) { return records_[id - first_id_]; }
  uint64_t EndId() const { return first_id_ + records_.size(); }
  // The first waiting record at or after cursor_ (advancing it past the others).
  std::optional<uint64_t> FirstWaitingFromCursorLocked();
  // The oldest waiting record of either lane.
  std::optional<uint64_t> OldestWaitingLocked();
  std::optional<Pick> PickLocked(SendLanes lanes);
  // Drops ids of records no longer waiting from both ends of fresh_.
  void PruneFreshLocked();
  void MarkDoneLocked(uint64_t id);
  void EnforceByteBoundLocked(uint64_t incoming);
  void ExpireLocked(int64_t now_ms);
  // Appends a framed record to the active segment; false if the disk failed
  // (counted) or is resting after a failure.
  bool AppendLocked(std::string_view framed, Record* record);
  bool OpenSegmentLocked();
  void SealActiveLocked();
  void DiskFailedLocked(const absl::Status& status);
  void RescueLocked();
  spool::Manifest BuildManifestLocked() const;
  std::string SegmentPath(uint64_t id) const;

  const SpoolOptions options_;
  SpoolFs* const fs_;
  const Clock* const clock_;
  std::unique_ptr<DirLock> lock_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Record> records_;  // oldest first; the front is never done
  uint64_t first_id_ = 0;       // id of records_.front()
  // Waiting records at or past it were never handed out, or are in retry_.
  uint64_t cursor_ = 0;
  std::set<uint64_t> retry_;  // released records: handed out before, waiting again
  // Records with ids below it are backlog, the others fresh (see BatchQueue);
  // none is fresh before the first MarkBacklog().
  uint64_t backlog_end_ = UINT64_MAX;
  uint64_t backlog_batches_ = 0;  // unacknowledged backlog records
  // Fresh records never handed out, oldest first; ids of ones dropped
  // meanwhile are pruned lazily from either end.
  std::deque<uint64_t> fresh_;
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> in_flight_;  // (epoch, sequence) -> id
  std::unordered_map<uint64_t, std::string> memory_;             // id -> payload
  std::deque<uint64_t> memory_order_;                            // ids, oldest first
  std::map<uint64_t, Segment> segments_;
  std::shared_ptr<AppendFile> active_;
  uint64_t active_id_ = 0;
  uint64_t last_segment_id_ = 0;
  uint64_t live_batches_ = 0;
  uint64_t live_bytes_ = 0;
  uint64_t memory_bytes_ = 0;
  uint64_t unsynced_bytes_ = 0;
  std::vector<std::shared_ptr<AppendFile>> to_sync_;  // sealed, not yet synced
  std::vector<uint64_t> to_unlink_;                   // finished, gone from the manifest next
  bool manifest_dirty_ = true;
  bool disk_failed_ = false;
  int64_t disk_retry_at_ms_ = 0;
  int64_t last_sync_ms_ = 0;
  int64_t last_manifest_ms_ = 0;
  bool woken_ = false;
  SpoolStats stats_;

  std::mutex maintain_mu_;  // one maintenance round at a time; taken before mu_
  std::mutex read_mu_;      // the read cache
  uint64_t read_segment_ = 0;
  std::unique_ptr<ReadableFile> read_file_;

  std::thread thread_;
  std::condition_variable thread_cv_;
  bool stopping_ = false;      // guarded by mu_
  bool maintain_now_ = false;  // guarded by mu_: run a round without waiting for the tick
};

}  // namespace plumbline::agent
