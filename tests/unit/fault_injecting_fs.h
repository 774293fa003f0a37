// A SpoolFs for tests that wraps a real one (PosixSpoolFs on a temp dir) and
// injects faults: ENOSPC/EIO on append, fsync, truncate, open, rename and
// read; short writes; and a crash that throws away everything appended since
// each file's last successful fsync (what a power loss does).
#pragma once

#include <cerrno>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "agent/spool_fs.h"

namespace plumbline::agent::testing {

class FaultInjectingFs final : public SpoolFs {
 public:
  explicit FaultInjectingFs(SpoolFs* base) : base_(base) {}

  // The next `count` appends fail with `err` after writing `short_bytes` of the data.
  void FailAppends(int count, int err = ENOSPC, size_t short_bytes = 0) {
    std::lock_guard lock(mu_);
    append_failures_ = count;
    append_errno_ = err;
    short_bytes_ = short_bytes;
  }
  void FailSyncs(int count, int err = EIO) {
    std::lock_guard lock(mu_);
    sync_failures_ = count;
    sync_errno_ = err;
  }
  void FailTruncates(int count) {
    std::lock_guard lock(mu_);
    truncate_failures_ = count;
  }
  void FailOpens(int count) {
    std::lock_guard lock(mu_);
    open_failures_ = count;
  }
  void FailRenames(int count) {
    std::lock_guard lock(mu_);
    rename_failures_ = count;
  }
  // The next `count` reads of a path ending in `suffix` fail with EIO.
  void FailReads(int count, std::string suffix = "") {
    std::lock_guard lock(mu_);
    read_failures_ = count;
    read_suffix_ = std::move(suffix);
  }
  // Power loss: every file written through this object loses what was
  // appended after its last successful Sync, and every later operation
  // fails with EIO (the process is gone) until Restart().
  void Crash() {
    std::lock_guard lock(mu_);
    crashed_ = true;
    for (const auto& [path, synced] : synced_) {
      std::error_code ec;
      if (std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) > synced) {
        std::filesystem::resize_file(path, synced, ec);
      }
    }
  }
  void Restart() {
    std::lock_guard lock(mu_);
    crashed_ = false;
  }
  int appends() const {
    std::lock_guard lock(mu_);
    return appends_;
  }
  int syncs() const {
    std::lock_guard lock(mu_);
    return syncs_;
  }

  absl::Status CreateDir(const std::string& dir) override {
    if (Dead()) return Error(EIO, "mkdir", dir);
    return base_->CreateDir(dir);
  }
  absl::StatusOr<std::vector<std::string>> List(const std::string& dir) override {
    if (Dead()) return Error(EIO, "opendir", dir);
    return base_->List(dir);
  }
  absl::StatusOr<std::unique_ptr<AppendFile>> OpenAppend(const std::string& path) override {
    if (Dead() || Take(&open_failures_)) return Error(EIO, "open", path);
    ASSIGN_OR_RETURN(std::unique_ptr<AppendFile> file, base_->OpenAppend(path));
    std::lock_guard lock(mu_);
    if (synced_.count(path) == 0) {
      std::error_code ec;
      synced_[path] = std::filesystem::file_size(path, ec);  // what was there is durable
    }
    return std::unique_ptr<AppendFile>(std::make_unique<File>(this, std::move(file), path));
  }
  absl::StatusOr<std::unique_ptr<ReadableFile>> OpenRead(const std::string& path) override {
    if (Dead()) return Error(EIO, "open", path);
    ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> file, base_->OpenRead(path));
    return std::unique_ptr<ReadableFile>(std::make_unique<Reader>(this, std::move(file), path));
  }
  absl::StatusOr<std::string> ReadAll(const std::string& path) override {
    if (Dead() || TakeRead(path)) return Error(EIO, "read", path);
    return base_->ReadAll(path);
  }
  absl::Status Rename(const std::string& from, const std::string& to) override {
    if (Dead() || Take(&rename_failures_)) return Error(EIO, "rename", from);
    RETURN_IF_ERROR(base_->Rename(from, to));
    std::lock_guard lock(mu_);
    auto it = synced_.find(from);
    if (it != synced_.end()) {
      synced_[to] = it->second;
      synced_.erase(it);
    } else {
      synced_.erase(to);
    }
    return absl::OkStatus();
  }
  absl::Status Unlink(const std::string& path) override {
    if (Dead()) return Error(EIO, "unlink", path);
    RETURN_IF_ERROR(base_->Unlink(path));
    std::lock_guard lock(mu_);
    synced_.erase(path);
    return absl::OkStatus();
  }
  absl::Status SyncDir(const std::string& dir) override {
    if (Dead()) return Error(EIO, "fsync", dir);
    return base_->SyncDir(dir);
  }
  absl::StatusOr<std::unique_ptr<DirLock>> Lock(const std::string& path) override {
    return base_->Lock(path);  // a crashed process's lock goes with it; tests destroy the spool
  }

 private:
  class File final : public AppendFile {
   public:
    File(FaultInjectingFs* fs, std::unique_ptr<AppendFile> base, std::string path)
        : fs_(fs), base_(std::move(base)), path_(std::move(path)) {}
    absl::Status Append(std::string_view data) override {
      int err = 0;
      size_t short_bytes = 0;
      {
        std::lock_guard lock(fs_->mu_);
        ++fs_->appends_;
        if (fs_->crashed_) return Error(EIO, "write", path_);
        if (fs_->append_failures_ > 0) {
          --fs_->append_failures_;
          err = fs_->append_errno_;
          short_bytes = std::min(fs_->short_bytes_, data.size());
        }
      }
      if (err == 0) return base_->Append(data);
      if (short_bytes > 0) RETURN_IF_ERROR(base_->Append(data.substr(0, short_bytes)));
      return Error(err, "write", path_);
    }
    absl::Status Sync() override {
      {
        std::lock_guard lock(fs_->mu_);
        ++fs_->syncs_;
        if (fs_->crashed_) return Error(EIO, "fsync", path_);
        if (fs_->sync_failures_ > 0) {
          --fs_->sync_failures_;
          return Error(fs_->sync_errno_, "fsync", path_);
        }
      }
      RETURN_IF_ERROR(base_->Sync());
      std::lock_guard lock(fs_->mu_);
      std::error_code ec;
      fs_->synced_[path_] = std::filesystem::file_size(path_, ec);
      return absl::OkStatus();
    }
    absl::Status Truncate(uint64_t size) override {
      if (fs_->Dead() || fs_->Take(&fs_->truncate_failures_)) {
        return Error(EIO, "truncate", path_);
      }
      RETURN_IF_ERROR(base_->Truncate(size));
      std::lock_guard lock(fs_->mu_);
      auto it = fs_->synced_.find(path_);
      if (it != fs_->synced_.end() && it->second > size) it->second = size;
      return absl::OkStatus();
    }

   private:
    FaultInjectingFs* fs_;
    std::unique_ptr<AppendFile> base_;
    std::string path_;
  };

  class Reader final : public ReadableFile {
   public:
    Reader(FaultInjectingFs* fs, std::unique_ptr<ReadableFile> base, std::string path)
        : fs_(fs), base_(std::move(base)), path_(std::move(path)) {}
    absl::Status Read(uint64_t offset, size_t n, std::string* out) override {
      if (fs_->Dead() || fs_->TakeRead(path_)) return Error(EIO, "read", path_);
      return base_->Read(offset, n, out);
    }

   private:
    FaultInjectingFs* fs_;
    std::unique_ptr<ReadableFile> base_;
    std::string path_;
  };

  static absl::Status Error(int err, std::string_view what, std::string_view path) {
    return ErrnoStatus(err, StrCat("(injected) ", what), path);
  }
  bool Dead() const {
    std::lock_guard lock(mu_);
    return crashed_;
  }
  bool Take(int* counter) {
    std::lock_guard lock(mu_);
    if (*counter <= 0) return false;
    --*counter;
    return true;
  }

  bool TakeRead(std::string_view path) {
    std::lock_guard lock(mu_);
    if (read_failures_ <= 0 || !path.ends_with(read_suffix_)) return false;
    --read_failures_;
    return true;
  }

  SpoolFs* base_;
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> synced_;  // path -> bytes that survive a crash
  bool crashed_ = false;
  int append_failures_ = 0, append_errno_ = ENOSPC;
  size_t short_bytes_ = 0;
  int sync_failures_ = 0, sync_errno_ = EIO;
  int truncate_failures_ = 0, open_failures_ = 0, rename_failures_ = 0, read_failures_ = 0;
  std::string read_suffix_;
  int appends_ = 0, syncs_ = 0;
};

}  // namespace plumbline::agent::testing
