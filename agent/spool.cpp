#include "agent/spool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>

namespace plumbline::agent {

namespace {

constexpr const char* kManifestName = "MANIFEST";
constexpr const char* kManifestTmpName = "MANIFEST.tmp";
constexpr const char* kLockName = "LOCK";
// Batches held in memory that one maintenance round writes back to disk.
constexpr uint64_t kRescueBytesPerRound = 4ull << 20;

using Ranges = std::map<uint64_t, uint64_t>;

// Adds [begin, end), merging with ranges it overlaps or touches.
void AddRange(Ranges* ranges, uint64_t begin, uint64_t end) {
  if (begin >= end) return;
  auto it = ranges->upper_bound(begin);
  if (it != ranges->begin()) {
    auto prev = std::prev(it);
    if (prev->second >= begin) {
      begin = prev->first;
      end = std::max(end, prev->second);
      ranges->erase(prev);
    }
  }
  while (it != ranges->end() && it->first <= end) {
    end = std::max(end, it->second);
    it = ranges->erase(it);
  }
  (*ranges)[begin] = end;
}

bool Covered(const Ranges& ranges, uint64_t pos) {
  auto it = ranges.upper_bound(pos);
  if (it == ranges.begin()) return false;
  return pos < std::prev(it)->second;
}

// Bytes of [begin, end) inside the ranges.
uint64_t CoveredBytes(const Ranges& ranges, uint64_t begin, uint64_t end) {
  uint64_t total = 0;
  for (const auto& [b, e] : ranges) {
    uint64_t lo = std::max(b, begin), hi = std::min(e, end);
    if (lo < hi) total += hi - lo;
  }
  return total;
}

std::string JoinPath(const std::string& dir, std::string_view name) {
  if (!dir.empty() && dir.back() == '/') return StrCat(dir, name);
  return StrCat(dir, "/", name);
}

}  // namespace

std::string_view FsyncPolicyName(FsyncPolicy policy) {
  switch (policy) {
    case FsyncPolicy::kAlways:
      return "always";
    case FsyncPolicy::kInterval:
      return "interval";
    case FsyncPolicy::kNever:
      return "never";
  }
  return "interval";
}

void ParseSpoolOptions(ConfigMap section, SpoolOptions* out) {
  section.Bool("enabled", &out->enabled);
  section.String("dir", &out->dir);
  section.ByteSize("max_bytes", &out->max_bytes);
  section.Duration("max_age", &out->max_age, std::chrono::minutes(1));
  if (section.Has("fsync")) {
    std::string policy;
    section.String("fsync", &policy);
    if (policy == "always") {
      out->fsync = FsyncPolicy::kAlways;
    } else if (policy == "interval") {
      out->fsync = FsyncPolicy::kInterval;
    } else if (policy == "never") {
      out->fsync = FsyncPolicy::kNever;
    } else {
      section.Error("fsync", StrCat("expected always, interval or never, got \"", policy, "\""));
    }
  }
  section.Duration("fsync_interval", &out->fsync_interval);
  section.ByteSize("segment_size", &out->segment_size);
  if (out->max_bytes < (1u << 20)) section.Error("max_bytes", "must be at least 1MiB");
  if (out->segment_size < (64u << 10) || out->segment_size > (1ull << 30)) {
    section.Error("segment_size", "must be between 64KiB and 1GiB");
  } else if (out->segment_size > out->max_bytes) {
    section.Error("segment_size", "must not exceed max_bytes");
  }
}

absl::StatusOr<std::unique_ptr<DiskSpool>> DiskSpool::Open(SpoolOptions options, SpoolFs* fs,
                                                           const Clock* clock) {
  if (options.dir.empty()) return absl::InvalidArgumentError("spool directory not set");
  RETURN_IF_ERROR(fs->CreateDir(options.dir));
  ASSIGN_OR_RETURN(std::unique_ptr<DirLock> lock, fs->Lock(JoinPath(options.dir, kLockName)));
  std::unique_ptr<DiskSpool> spool(new DiskSpool(std::move(options), fs, clock, std::move(lock)));
  RETURN_IF_ERROR(spool->Recover());
  {
    std::lock_guard lock_mu(spool->mu_);
    // A smaller max_bytes than last time, or an old spool: the bounds hold from the start.
    spool->EnforceByteBoundLocked(0);
  }
  spool->MaintainImpl(true);
  if (spool->options_.background) spool->thread_ = std::thread([s = spool.get()] { s->Run(); });
  return spool;
}

DiskSpool::DiskSpool(SpoolOptions options, SpoolFs* fs, const Clock* clock,
                     std::unique_ptr<DirLock> lock)
    : options_(std::move(options)), fs_(fs), clock_(clock), lock_(std::move(lock)) {
  last_sync_ms_ = last_manifest_ms_ = clock_->NowMs();
}

DiskSpool::~DiskSpool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    woken_ = true;
  }
  thread_cv_.notify_all();
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  MaintainImpl(true);
}

std::string DiskSpool::SegmentPath(uint64_t id) const {
  return JoinPath(options_.dir, spool::SegmentName(id));
}

absl::Status DiskSpool::Recover() {
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->List(options_.dir));
  std::optional<spool::Manifest> manifest;
  std::string manifest_path = JoinPath(options_.dir, kManifestName);
  absl::StatusOr<std::string> data = fs_->ReadAll(manifest_path);
  if (data.ok()) {
    absl::StatusOr<spool::Manifest> decoded = spool::DecodeManifest(*data);
    if (decoded.ok()) {
      manifest = std::move(*decoded);
    } else {
      ++stats_.manifest_errors;
      spdlog::error(
          "spool {}: {}; every batch found will be sent again (the collector drops duplicates) "
          "and damage cannot be counted exactly",
          manifest_path, decoded.status().message());
    }
  } else if (!absl::IsNotFound(data.status())) {
    ++stats_.manifest_errors;
    spdlog::error("spool {}: {}; every batch found will be sent again", manifest_path,
                  data.status().message());
  }

  std::set<uint64_t> files;
  for (const std::string& name : names) {
    uint64_t id = 0;
    if (spool::ParseSegmentName(name, &id) && id > 0) {
      files.insert(id);
    } else if (name == kManifestTmpName) {
      (void)fs_->Unlink(JoinPath(options_.dir, name));  // an interrupted manifest write
    }
  }
  std::map<uint64_t, const spool::ManifestSegment*> known;
  if (manifest) {
    last_segment_id_ = manifest->last_segment_id;
    for (const spool::ManifestSegment& s : manifest->segments) known[s.id] = &s;
  }
  if (!files.empty()) last_segment_id_ = std::max(last_segment_id_, *files.rbegin());

  for (const auto& [id, s] : known) {
    if (files.count(id) > 0) continue;
    Ranges done;
    for (const spool::ByteRange& r : s->done) done[r.begin] = r.end;
    uint64_t lost = s->records - s->done_records;
    stats_.corrupt_records += lost;
    stats_.corrupt_bytes += s->size - CoveredBytes(done, 0, s->size);
    if (lost > 0) {
      spdlog::error("spool segment {} is missing: {} unacknowledged batches lost", SegmentPath(id),
                    lost);
    }
    manifest_dirty_ = true;
  }
  for (uint64_t id : files) {
    auto k = known.find(id);
    if (manifest && id <= manifest->last_segment_id && k == known.end()) {
      // Finished last time; the manifest forgot it before the file was removed.
      (void)fs_->Unlink(SegmentPath(id));
      continue;
    }
    RecoverSegment(id, k == known.end() ? nullptr : k->second);
  }
  cursor_ = first_id_;
  stats_.replayed = live_batches_;
  backlog_batches_ = live_batches_;
  if (live_batches_ > 0 || stats_.corrupt_records > 0) {
    spdlog::info("spool {}: {} unacknowledged batches ({} bytes) to send again; {} lost to damage",
                 options_.dir, live_batches_, live_bytes_, stats_.corrupt_records);
  }
  return absl::OkStatus();
}

void DiskSpool::RecoverSegment(uint64_t id, const spool::ManifestSegment* known) {
  Segment seg;
  std::string path = SegmentPath(id);
  absl::StatusOr<std::string> data = fs_->ReadAll(path);
  if (!data.ok()) {
    ++stats_.read_errors;
    spdlog::error("spool segment {} unreadable, left in place for the next start: {}", path,
                  data.status().message());
    seg.held = true;
    if (known != nullptr) {
      seg.size = known->size;
      seg.records = known->records;
      seg.done_records = known->done_records;
      for (const spool::ByteRange& r : known->done) seg.done[r.begin] = r.end;
    }
    segments_[id] = std::move(seg);
    manifest_dirty_ = true;
    return;
  }
  const uint64_t file_size = data->size();
  const uint64_t vouched = known != nullptr ? known->size : 0;
  Ranges known_done;
  if (known != nullptr) {
    for (const spool::ByteRange& r : known->done) known_done[r.begin] = r.end;
  }
  spool::SegmentScan scan = spool::ScanSegment(*data);

  uint64_t pending_found = 0;  // intact, unacknowledged, within what the manifest vouched for
  for (const spool::ScannedRecord& rec : scan.records) {
    ++seg.records;
    if (Covered(known_done, rec.offset)) {
      ++seg.done_records;  // acknowledged (or dropped) before
      continue;
    }
    Record r;
    r.segment = id;
    r.offset = rec.offset;
    r.size = rec.size;
    r.meta = rec.meta;
    records_.push_back(r);
    ++live_batches_;
    live_bytes_ += rec.size;
    if (rec.offset < vouched) ++pending_found;
  }

  // Exact where the manifest knew the segment: what it expected minus what is intact.
  uint64_t lost = 0, lost_bytes = 0;
  if (known != nullptr) {
    uint64_t expected = known->records - known->done_records;
    if (expected > pending_found) lost += expected - pending_found;
    if (file_size < vouched) {
      lost_bytes += (vouched - file_size) - CoveredBytes(known_done, file_size, vouched);
    }
  }
  for (const spool::DamagedRange& d : scan.damaged) {
    uint64_t undone = (d.end - d.begin) - CoveredBytes(known_done, d.begin, d.end);
    if (undone == 0) continue;  // damage to records delivered before: nothing lost
    lost_bytes += undone;
    // Past what the manifest knew, each damaged range held at least one record.
    if (d.end > vouched) ++lost;
  }
  // What is now known to be done (or damaged), clipped to the file as it is.
  for (const auto& [b, e] : known_done) AddRange(&seg.done, b, std::min(e, file_size));
  for (const spool::DamagedRange& d : scan.damaged) AddRange(&seg.done, d.begin, d.end);
  // Lost records stay in the count as done ones, so the next start expects
  // exactly the intact records and counts nothing twice.
  seg.records += lost;
  seg.done_records += lost;
  seg.size = file_size;
  if (lost > 0 || lost_bytes > 0) {
    spdlog::warn(
        "spool segment {}: {} unacknowledged batches lost to damage ({} bytes skipped); the intact "
        "ones are sent",
        path, lost, lost_bytes);
  }
  stats_.corrupt_records += lost;
  stats_.corrupt_bytes += lost_bytes;
  segments_[id] = std::move(seg);
  manifest_dirty_ = true;
}

// ---------------------------------------------------------------- index

std::optional<uint64_t> DiskSpool::FirstWaitingFromCursorLocked() {
  cursor_ = std::max(cursor_, first_id_);
  while (cursor_ < EndId() && At(cursor_).state != State::kWaiting) ++cursor_;
  if (cursor_ < EndId()) return cursor_;
  return std::nullopt;
}

std::optional<uint64_t> DiskSpool::OldestWaitingLocked() {
  std::optional<uint64_t> oldest = FirstWaitingFromCursorLocked();
  if (!retry_.empty() && (!oldest || *retry_.begin() < *oldest)) oldest = *retry_.begin();
  return oldest;
}

void DiskSpool::PruneFreshLocked() {
  auto stale = [&](uint64_t id) { return id < first_id_ || At(id).state != State::kWaiting; };
  while (!fresh_.empty() && stale(fresh_.back())) fresh_.pop_back();
  while (!fresh_.empty() && stale(fresh_.front())) fresh_.pop_front();
}

std::optional<DiskSpool::Pick> DiskSpool::PickLocked(SendLanes lanes) {
  if (lanes.fresh) {
    // The newest fresh record: never handed out, or released after a send.
    PruneFreshLocked();
    std::optional<Pick> newest;
    if (!fresh_.empty()) newest = Pick{fresh_.back(), SendLane::kFresh, Pick::From::kFresh};
    if (!retry_.empty() && *retry_.rbegin() >= backlog_end_ &&
        (!newest || *retry_.rbegin() > newest->id)) {
      newest = Pick{*retry_.rbegin(), SendLane::kFresh, Pick::From::kRetry};
    }
    if (newest) return newest;
  }
  if (lanes.backlog) {
    // The oldest backlog record. A released record is in retry_ even when
    // the cursor has not passed it yet, so on a tie retry_ gives it.
    std::optional<Pick> oldest;
    if (std::optional<uint64_t> id = FirstWaitingFromCursorLocked(); id && *id < backlog_end_) {
      oldest = Pick{*id, SendLane::kBacklog, Pick::From::kCursor};
    }
    if (!retry_.empty() && *retry_.begin() < backlog_end_ &&
        (!oldest || *retry_.begin() <= oldest->id)) {
      oldest = Pick{*retry_.begin(), SendLane::kBacklog, Pick::From::kRetry};
    }
    if (oldest) return oldest;
  }
  return std::nullopt;
}

void DiskSpool::MarkDoneLocked(uint64_t id) {
  if (id < first_id_ || id >= EndId()) return;
  Record& r = At(id);
  if (r.state == State::kDone) return;
  if (r.state == State::kInFlight) {
    auto it = in_flight_.find({r.meta.epoch, r.meta.sequence});
    if (it != in_flight_.end() && it->second == id) in_flight_.erase(it);
  } else {
    retry_.erase(id);
  }
  r.state = State::kDone;
  --live_batches_;
  if (id < backlog_end_) --backlog_batches_;
  live_bytes_ -= r.size;
  if (auto m = memory_.find(id); m != memory_.end()) {
    memory_bytes_ -= r.size;
    memory_.erase(m);
  }
  if (r.segment != 0) {
    auto s = segments_.find(r.segment);
    if (s != segments_.end()) {
      ++s->second.done_records;
      AddRange(&s->second.done, r.offset, r.offset + r.size);
      manifest_dirty_ = true;
    }
  }
  while (!records_.empty() && records_.front().state == State::kDone) {
    records_.pop_front();
    ++first_id_;
  }
}

void DiskSpool::EnforceByteBoundLocked(uint64_t incoming) {
  uint64_t dropped = 0;
  while (live_batches_ > 0 && live_bytes_ + incoming > options_.max_bytes) {
    // The oldest waiting batch; if every batch is in flight, the oldest of those.
    std::optional<uint64_t> id = OldestWaitingLocked();
    MarkDoneLocked(id ? *id : first_id_);
    ++dropped;
  }
  if (dropped > 0) {
    stats_.dropped_full += dropped;
    spdlog::warn("spool {} full (max_bytes {}): dropped the {} oldest batches ({} so far)",
                 options_.dir, options_.max_bytes, dropped, stats_.dropped_full);
    // Segments the drops finished are deleted now, so a full spool's files
    // stay near max_bytes however fast batches come.
    maintain_now_ = true;
    thread_cv_.notify_one();
  }
}

void DiskSpool::ExpireLocked(int64_t now_ms) {
  if (options_.max_age.count() <= 0) return;
  const int64_t cutoff = now_ms - options_.max_age.count();
  uint64_t dropped = 0;
  uint64_t id = first_id_;
  while (id < EndId()) {
    const Record& r = At(id);
    if (r.state != State::kWaiting) {
      ++id;
      continue;
    }
    if (r.meta.created_ms >= cutoff) break;
    MarkDoneLocked(id);
    ++dropped;
    id = std::max(id + 1, first_id_);
  }
  if (dropped > 0) {
    stats_.dropped_age += dropped;
    spdlog::warn("spool {}: dropped {} batches older than max_age {}", options_.dir, dropped,
                 FormatDuration(options_.max_age));
  }
}

// ---------------------------------------------------------------- disk

bool DiskSpool::OpenSegmentLocked() {
  uint64_t id = last_segment_id_ + 1;
  absl::StatusOr<std::unique_ptr<AppendFile>> file = fs_->OpenAppend(SegmentPath(id));
  if (!file.ok()) {
    ++stats_.write_errors;
    DiskFailedLocked(file.status());
    return false;
  }
  last_segment_id_ = id;
  if (options_.fsync == FsyncPolicy::kAlways) {
    if (absl::Status s = fs_->SyncDir(options_.dir); !s.ok()) {
      ++stats_.sync_errors;
      spdlog::warn("spool: {}", s.message());
    }
  }
  Segment seg;
  seg.active = true;
  segments_[id] = std::move(seg);
  active_ = std::move(*file);
  active_id_ = id;
  manifest_dirty_ = true;
  return true;
}

void DiskSpool::SealActiveLocked() {
  if (!active_) return;
  auto it = segments_.find(active_id_);
  if (it != segments_.end()) it->second.active = false;
  if (options_.fsync == FsyncPolicy::kInterval && unsynced_bytes_ > 0) to_sync_.push_back(active_);
  active_.reset();
  active_id_ = 0;
  manifest_dirty_ = true;
}

void DiskSpool::DiskFailedLocked(const absl::Status& status) {
  disk_retry_at_ms_ = clock_->NowMs() + options_.disk_retry_interval.count();
  if (!disk_failed_) {
    disk_failed_ = true;
    spdlog::error(
        "spool {}: {}; keeping new batches in memory (up to {} bytes, lost if the agent stops) "
        "and trying the disk again every {}",
        options_.dir, status.message(), options_.memory_fallback_bytes,
        FormatDuration(options_.disk_retry_interval));
  }
}

bool DiskSpool::AppendLocked(std::string_view framed, Record* record) {
  if (disk_failed_ && clock_->NowMs() < disk_retry_at_ms_) return false;
  if (active_) {
    const Segment& s = segments_[active_id_];
    if (s.size > 0 && s.size + framed.size() > options_.segment_size) SealActiveLocked();
  }
  if (!active_ && !OpenSegmentLocked()) return false;
  Segment& seg = segments_[active_id_];
  const uint64_t offset = seg.size;
  absl::Status status = active_->Append(framed);
  if (!status.ok()) {
    ++stats_.write_errors;
    if (!active_->Truncate(offset).ok()) {
      // Part of the record may be in the file: account for it as a record
      // that is already done, so the next start does not call it damage,
      // and continue in a new segment.
      seg.size = offset + framed.size();
      ++seg.records;
      ++seg.done_records;
      AddRange(&seg.done, offset, seg.size);
      SealActiveLocked();
    }
    DiskFailedLocked(status);
    return false;
  }
  seg.size += framed.size();
  ++seg.records;
  record->segment = active_id_;
  record->offset = offset;
  manifest_dirty_ = true;
  if (options_.fsync == FsyncPolicy::kAlways) {
    status = active_->Sync();
    if (!status.ok()) {
      // Written but maybe not durable: the caller keeps a copy in memory too.
      ++stats_.sync_errors;
      SealActiveLocked();
      DiskFailedLocked(status);
      return false;
    }
  } else {
    unsynced_bytes_ += framed.size();
  }
  if (disk_failed_) {
    disk_failed_ = false;
    spdlog::info("spool {}: the disk takes writes again", options_.dir);
  }
  return true;
}

void DiskSpool::RescueLocked() {
  uint64_t budget = kRescueBytesPerRound;
  while (!memory_order_.empty() && budget > 0) {
    uint64_t id = memory_order_.front();
    auto m = memory_.find(id);
    if (m == memory_.end() || id < first_id_) {
      memory_order_.pop_front();
      continue;
    }
    if (disk_failed_ && clock_->NowMs() < disk_retry_at_ms_) return;
    std::string framed;
    spool::EncodeRecord(At(id).meta, m->second, &framed);
    Record copy = At(id);
    copy.segment = 0;
    bool durable = AppendLocked(framed, &copy);
    if (copy.segment != 0 && !durable) {
      // Written but the fsync failed: that copy counts as done; keep memory.
      Segment& s = segments_[copy.segment];
      ++s.done_records;
      AddRange(&s.done, copy.offset, copy.offset + copy.size);
    }
    if (!durable) return;
    Record& r = At(id);
    if (r.segment != 0) {
      // The earlier copy whose fsync failed is superseded.
      auto s = segments_.find(r.segment);
      if (s != segments_.end()) {
        ++s->second.done_records;
        AddRange(&s->second.done, r.offset, r.offset + r.size);
      }
    }
    r.segment = copy.segment;
    r.offset = copy.offset;
    memory_bytes_ -= r.size;
    memory_.erase(m);
    memory_order_.pop_front();
    ++stats_.rescued;
    budget -= std::min(budget, r.size);
  }
}

spool::Manifest DiskSpool::BuildManifestLocked() const {
  spool::Manifest m;
  m.last_segment_id = last_segment_id_;
  for (const auto& [id, s] : segments_) {
    spool::ManifestSegment out;
    out.id = id;
    out.size = s.size;
    out.records = s.records;
    out.done_records = s.done_records;
    for (const auto& [b, e] : s.done) out.done.push_back({b, e});
    m.segments.push_back(std::move(out));
  }
  return m;
}

absl::Status DiskSpool::WriteManifest(const spool::Manifest& manifest) {
  std::string tmp = JoinPath(options_.dir, kManifestTmpName);
  ASSIGN_OR_RETURN(std::unique_ptr<AppendFile> file, fs_->OpenAppend(tmp));
  RETURN_IF_ERROR(file->Truncate(0));
  RETURN_IF_ERROR(file->Append(spool::EncodeManifest(manifest)));
  if (options_.fsync != FsyncPolicy::kNever) RETURN_IF_ERROR(file->Sync());
  file.reset();
  RETURN_IF_ERROR(fs_->Rename(tmp, JoinPath(options_.dir, kManifestName)));
  if (options_.fsync != FsyncPolicy::kNever) RETURN_IF_ERROR(fs_->SyncDir(options_.dir));
  return absl::OkStatus();
}

void DiskSpool::MaintainImpl(bool force) {
  std::lock_guard maintain(maintain_mu_);
  std::unique_lock lock(mu_);
  const int64_t now = clock_->NowMs();

  // 1. The interval fsync, outside the lock so Push never waits for it.
  bool sync_due =
      options_.fsync == FsyncPolicy::kInterval && (unsynced_bytes_ > 0 || !to_sync_.empty()) &&
      (force || now - last_sync_ms_ >= options_.fsync_interval.count() || now < last_sync_ms_);
  if (sync_due) {
    std::vector<std::shared_ptr<AppendFile>> files = std::move(to_sync_);
    to_sync_.clear();
    if (active_) files.push_back(active_);
    const uint64_t active_at_sync = active_id_;
    unsynced_bytes_ = 0;
    last_sync_ms_ = now;
    lock.unlock();
    uint64_t failures = 0;
    absl::Status first_error;
    for (const auto& f : files) {
      absl::Status s = f->Sync();
      if (!s.ok()) {
        ++failures;
        if (first_error.ok()) first_error = s;
      }
    }
    files.clear();
    lock.lock();
    if (failures > 0) {
      stats_.sync_errors += failures;
      if (active_id_ == active_at_sync) SealActiveLocked();
      DiskFailedLocked(first_error);
    }
  }

  // 2. Age, 3. batches held in memory back to disk, 4. finished segments.
  ExpireLocked(now);
  if (force) disk_retry_at_ms_ = 0;  // at open and close the disk gets one more chance
  RescueLocked();
  for (auto it = segments_.begin(); it != segments_.end();) {
    const Segment& s = it->second;
    if (!s.active && !s.held && s.done_records >= s.records) {
      to_unlink_.push_back(it->first);
      it = segments_.erase(it);
      manifest_dirty_ = true;
    } else {
      ++it;
    }
  }

  // 5. The manifest, then the files it no longer lists.
  bool manifest_due =
      manifest_dirty_ &&
      (force || !to_unlink_.empty() ||
       now - last_manifest_ms_ >= options_.checkpoint_interval.count() || now < last_manifest_ms_);
  if (!manifest_due) return;
  spool::Manifest manifest = BuildManifestLocked();
  std::vector<uint64_t> unlink = to_unlink_;
  manifest_dirty_ = false;
  last_manifest_ms_ = now;
  lock.unlock();
  absl::Status written = WriteManifest(manifest);
  if (written.ok()) {
    for (uint64_t id : unlink) {
      absl::Status s = fs_->Unlink(SegmentPath(id));
      if (!s.ok() && !absl::IsNotFound(s)) spdlog::warn("spool: {}", s.message());
    }
  }
  lock.lock();
  if (written.ok()) {
    to_unlink_.clear();
  } else {
    if (stats_.manifest_errors++ == 0 || force) {
      spdlog::error("spool {}: writing the manifest failed: {}", options_.dir, written.message());
    }
    manifest_dirty_ = true;
  }
}

void DiskSpool::Run() {
  std::chrono::milliseconds tick = options_.checkpoint_interval;
  if (options_.fsync == FsyncPolicy::kInterval) tick = std::min(tick, options_.fsync_interval / 2);
  tick = std::clamp(tick, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    MaintainImpl(false);
    lock.lock();
    thread_cv_.wait_for(lock, tick, [this] { return stopping_ || maintain_now_; });
    maintain_now_ = false;
  }
}

// ---------------------------------------------------------------- BatchQueue

void DiskSpool::Push(v1::Batch batch) {
  spool::RecordMeta meta{batch.epoch(), batch.sequence(), batch.created_ms()};
  std::string payload;
  if (!batch.SerializeToString(&payload) || payload.size() > spool::kMaxRecordPayload) {
    std::lock_guard lock(mu_);
    ++stats_.dropped_full;
    spdlog::error("spool: batch {}/{} too large to keep ({} bytes); dropped", meta.epoch,
                  meta.sequence, payload.size());
    return;
  }
  std::string framed;
  spool::EncodeRecord(meta, payload, &framed);

  std::lock_guard lock(mu_);
  EnforceByteBoundLocked(framed.size());
  Record r;
  r.size = framed.size();
  r.meta = meta;
  if (!AppendLocked(framed, &r)) {
    // The disk failed: keep the batch in memory, oldest dropped first.
    while (memory_bytes_ > 0 && memory_bytes_ + r.size > options_.memory_fallback_bytes) {
      while (!memory_order_.empty() && memory_.count(memory_order_.front()) == 0) {
        memory_order_.pop_front();
      }
      if (memory_order_.empty()) break;
      MarkDoneLocked(memory_order_.front());
      ++stats_.dropped_full;
    }
    uint64_t id = EndId();
    memory_[id] = std::move(payload);
    memory_order_.push_back(id);
    memory_bytes_ += r.size;
    ++stats_.memory_fallback;
  }
  const uint64_t id = EndId();
  records_.push_back(r);
  ++live_batches_;
  live_bytes_ += r.size;
  if (id < backlog_end_) {
    ++backlog_batches_;
  } else {
    PruneFreshLocked();
    fresh_.push_back(id);
  }
  ++stats_.spooled;
  cv_.notify_one();
}

void DiskSpool::MarkBacklog() {
  std::lock_guard lock(mu_);
  backlog_end_ = EndId();
  backlog_batches_ = live_batches_;
  fresh_.clear();
}

std::optional<OutgoingBatch> DiskSpool::NextToSend(std::chrono::milliseconds timeout,
                                                   SendLanes lanes) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    uint64_t id = 0;
    SendLane lane = SendLane::kBacklog;
    Record pick;
    std::string payload;
    bool in_memory = false;
    {
      std::unique_lock lock(mu_);
      std::optional<Pick> next;
      bool ready = cv_.wait_until(lock, deadline, [&] {
        if (woken_) return true;
        next = PickLocked(lanes);
        return next.has_value();
      });
      if (woken_) {
        woken_ = false;
        return std::nullopt;
      }
      if (!ready || !next) return std::nullopt;
      id = next->id;
      lane = next->lane;
      switch (next->from) {
        case Pick::From::kRetry:
          retry_.erase(id);
          break;
        case Pick::From::kFresh:
          fresh_.pop_back();
          break;
        case Pick::From::kCursor:
          cursor_ = id + 1;
          break;
      }
      Record& r = At(id);
      auto [it, inserted] = in_flight_.try_emplace({r.meta.epoch, r.meta.sequence}, id);
      if (!inserted) {
        // The same batch twice in the spool: the copy in flight is enough.
        MarkDoneLocked(id);
        continue;
      }
      r.state = State::kInFlight;
      pick = r;
      if (auto m = memory_.find(id); m != memory_.end()) {
        payload = m->second;
        in_memory = true;
      }
    }
    absl::Status status;
    if (!in_memory) {
      std::lock_guard read_lock(read_mu_);
      if (read_segment_ != pick.segment || !read_file_) {
        read_file_.reset();
        read_segment_ = 0;
        absl::StatusOr<std::unique_ptr<ReadableFile>> f = fs_->OpenRead(SegmentPath(pick.segment));
        if (f.ok()) {
          read_file_ = std::move(*f);
          read_segment_ = pick.segment;
        } else {
          status = f.status();
        }
      }
      std::string framed;
      if (status.ok()) status = read_file_->Read(pick.offset, pick.size, &framed);
      if (status.ok()) {
        spool::RecordMeta meta;
        std::string_view body;
        size_t n = spool::DecodeRecord(framed, &meta, &body);
        if (n != pick.size || meta.epoch != pick.meta.epoch ||
            meta.sequence != pick.meta.sequence) {
          status = absl::DataLossError(StrCat("record at ", SegmentPath(pick.segment), ":",
                                              pick.offset, " fails its checksum"));
        } else {
          payload.assign(body.data(), body.size());
        }
      }
    }
    v1::Batch batch;
    if (status.ok() && (!batch.ParseFromString(payload) || batch.epoch() != pick.meta.epoch ||
                        batch.sequence() != pick.meta.sequence)) {
      status = absl::DataLossError(
          StrCat("batch ", pick.meta.epoch, "/", pick.meta.sequence, " does not parse"));
    }
    if (status.ok()) return OutgoingBatch{std::move(batch), lane};

    std::lock_guard lock(mu_);
    auto it = in_flight_.find({pick.meta.epoch, pick.meta.sequence});
    if (it == in_flight_.end() || it->second != id) continue;  // dropped meanwhile: not damage
    if (absl::IsDataLoss(status)) {
      ++stats_.corrupt_records;
      stats_.corrupt_bytes += pick.size;
    } else {
      ++stats_.read_errors;
    }
    spdlog::error("spool: batch {}/{} lost: {}", pick.meta.epoch, pick.meta.sequence,
                  status.message());
    MarkDoneLocked(id);
  }
}

void DiskSpool::Ack(uint64_t epoch, uint64_t sequence) {
  std::lock_guard lock(mu_);
  auto it = in_flight_.find({epoch, sequence});
  if (it == in_flight_.end()) return;
  ++stats_.acked;
  MarkDoneLocked(it->second);
}

void DiskSpool::Release(uint64_t epoch, uint64_t sequence) {
  std::lock_guard lock(mu_);
  auto it = in_flight_.find({epoch, sequence});
  if (it == in_flight_.end()) return;
  uint64_t id = it->second;
  in_flight_.erase(it);
  At(id).state = State::kWaiting;
  retry_.insert(id);
  cv_.notify_all();
}

void DiskSpool::ReleaseAll() {
  std::lock_guard lock(mu_);
  for (const auto& [key, id] : in_flight_) {
    At(id).state = State::kWaiting;
    retry_.insert(id);
  }
  in_flight_.clear();
  cv_.notify_all();
}

QueueStats DiskSpool::Stats() const {
  std::lock_guard lock(mu_);
  QueueStats q;
  q.batches = live_batches_;
  q.backlog = backlog_batches_;
  q.bytes = live_bytes_;
  q.in_flight = in_flight_.size();
  q.pushed = stats_.spooled;
  q.acked = stats_.acked;
  q.dropped_full = stats_.dropped_full;
  q.oldest_created_ms = records_.empty() ? 0 : records_.front().meta.created_ms;
  return q;
}

SpoolStats DiskSpool::GetSpoolStats() const {
  std::lock_guard lock(mu_);
  SpoolStats s = stats_;
  s.batches = live_batches_;
  s.bytes = live_bytes_;
  s.in_flight = in_flight_.size();
  s.memory_batches = memory_.size();
  s.memory_bytes = memory_bytes_;
  s.segments = segments_.size();
  s.disk_bytes = 0;
  for (const auto& [id, seg] : segments_) s.disk_bytes += seg.size;
  s.oldest_created_ms = records_.empty() ? 0 : records_.front().meta.created_ms;
  return s;
}

void DiskSpool::Wake() {
  std::lock_guard lock(mu_);
  woken_ = true;
  cv_.notify_all();
}

}  // namespace plumbline::agent
