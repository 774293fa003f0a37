// The few filesystem operations the spool needs, behind an interface so unit
// tests can inject faults (ENOSPC, EIO, short writes, crashes that lose what
// was not synced). PosixSpoolFs is the real thing.
//
// Errors are absl::Status values naming the path and the OS error; nothing
// throws. Paths are plain strings; directories are not created implicitly.
// Implementations are thread-safe; one file object is used by one thread at
// a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace plumbline::agent {

// A file opened for appending (created if missing).
class AppendFile {
 public:
  virtual ~AppendFile() = default;
  // Writes all of `data` at the end of the file. On error a prefix of it may
  // have been written (a short write); Truncate can take it back.
  virtual absl::Status Append(std::string_view data) = 0;
  // fsync: on OK everything appended so far survives a power loss.
  virtual absl::Status Sync() = 0;
  virtual absl::Status Truncate(uint64_t size) = 0;
};

// A file opened for reading at offsets.
class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  // Reads exactly n bytes at `offset` into *out; OutOfRange if the file is shorter.
  virtual absl::Status Read(uint64_t offset, size_t n, std::string* out) = 0;
};

// Held while a directory is in use; released by destruction (or process exit).
class DirLock {
 public:
  virtual ~DirLock() = default;
};

class SpoolFs {
 public:
  virtual ~SpoolFs() = default;
  // mkdir -p.
  virtual absl::Status CreateDir(const std::string& dir) = 0;
  // Names (not paths) of the entries of `dir`, unordered.
  virtual absl::StatusOr<std::vector<std::string>> List(const std::string& dir) = 0;
  virtual absl::StatusOr<std::unique_ptr<AppendFile>> OpenAppend(const std::string& path) = 0;
  virtual absl::StatusOr<std::unique_ptr<ReadableFile>> OpenRead(const std::string& path) = 0;
  // The whole file; NotFound if it does not exist.
  virtual absl::StatusOr<std::string> ReadAll(const std::string& path) = 0;
  virtual absl::Status Rename(const std::string& from, const std::string& to) = 0;
  virtual absl::Status Unlink(const std::string& path) = 0;
  // fsync of the directory itself, so created, renamed and removed names persist.
  virtual absl::Status SyncDir(const std::string& dir) = 0;
  // Takes an exclusive lock on `path` (created if missing) without waiting;
  // FailedPrecondition if someone else holds it.
  virtual absl::StatusOr<std::unique_ptr<DirLock>> Lock(const std::string& path) = 0;
};

// The real filesystem (open/write/fsync/pread/rename/unlink/flock).
class PosixSpoolFs final : public SpoolFs {
 public:
  static PosixSpoolFs* Default();

  absl::Status CreateDir(const std::string& dir) override;
  absl::StatusOr<std::vector<std::string>> List(const std::string& dir) override;
  absl::StatusOr<std::unique_ptr<AppendFile>> OpenAppend(const std::string& path) override;
  absl::StatusOr<std::unique_ptr<ReadableFile>> OpenRead(const std::string& path) override;
  absl::StatusOr<std::string> ReadAll(const std::string& path) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status Unlink(const std::string& path) override;
  absl::Status SyncDir(const std::string& dir) override;
  absl::StatusOr<std::unique_ptr<DirLock>> Lock(const std::string& path) override;
};

// Maps errno to a status: "what path: strerror".
absl::Status ErrnoStatus(int err, std::string_view what, std::string_view path);

}  // namespace plumbline::agent
