// A simulated power cut for a real process, loaded with LD_PRELOAD (tests
// only; see collector_crash_test.cpp).
//
//   PLUMBLINE_POWER_CUT_DIR=/tmp/x LD_PRELOAD=libpower_cut_shim.so plumbline-collector ...
//   kill -USR2 <pid>    # the power goes out at the next sync (or within 1 s)
//
// The model. A file's durable content is what it held at its last
// fsync/fdatasync (through any descriptor of the same inode). On SIGUSR2
// the process loses the power: every byte written to a watched file since
// that file's last sync is discarded, file sizes return to their synced
// size, and the process dies at once (SIGKILL) without running anything
// else. That is the worst a power cut can do to data that was not synced
// (the page cache is gone), and exactly what an application's fsyncs must
// protect against. Simplifications, in the direction of a stricter test: no
// unsynced write survives (a real disk might keep some, in any order).
// Not modelled: torn sector writes, and metadata (create, rename, unlink)
// which is taken as durable at once. Watched files are those opened with a
// path under $PLUMBLINE_POWER_CUT_DIR (the collector's database, its WAL
// and shared-memory index; the latter is rebuilt from the WAL on open).
//
// How: every write to a watched file first saves the bytes it overwrites
// (and the size the file had), in memory; fsync drops the saved bytes of
// that inode; the cut writes them back in reverse order and truncates. One
// mutex serializes the watched writes, syncs and the cut, so the cut sees
// no write half done, and a sync that has not returned counts as not done.
// A thread started at load time waits for the signal (the handler only
// writes to a pipe), since the cut needs locks and memory.
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace {

struct Undo {
  off_t offset;
  std::string old_bytes;  // what the write overwrote (within the old size)
};

struct FileState {
  int fd = -1;             // our own descriptor, to restore through
  off_t synced_size = -1;  // size at the last sync; -1: nothing unsynced
  std::vector<Undo> undo;  // since the last sync, oldest first
  size_t unsynced_bytes = 0;
};

using Inode = std::pair<dev_t, ino_t>;

struct Shim {
  std::mutex mu;
  std::string dir;
  std::map<int, Inode> watched_fds;
  std::map<Inode, FileState> files;
  bool cut_pending = false;
  int pipe_fds[2] = {-1, -1};

  ssize_t (*real_pwrite)(int, const void*, size_t, off_t) = nullptr;
  ssize_t (*real_write)(int, const void*, size_t) = nullptr;
  ssize_t (*real_pread)(int, void*, size_t, off_t) = nullptr;
  int (*real_fsync)(int) = nullptr;
  int (*real_fdatasync)(int) = nullptr;
  int (*real_ftruncate)(int, off_t) = nullptr;
  int (*real_close)(int) = nullptr;
  int (*real_open)(const char*, int, ...) = nullptr;
  int (*real_openat)(int, const char*, int, ...) = nullptr;
};

Shim& S() {
  static Shim* shim = [] {
    auto* s = new Shim;
    s->real_pwrite = reinterpret_cast<decltype(s->real_pwrite)>(dlsym(RTLD_NEXT, "pwrite64"));
    s->real_write = reinterpret_cast<decltype(s->real_write)>(dlsym(RTLD_NEXT, "write"));
    s->real_pread = reinterpret_cast<decltype(s->real_pread)>(dlsym(RTLD_NEXT, "pread64"));
    s->real_fsync = reinterpret_cast<decltype(s->real_fsync)>(dlsym(RTLD_NEXT, "fsync"));
    s->real_fdatasync =
        reinterpret_cast<decltype(s->real_fdatasync)>(dlsym(RTLD_NEXT, "fdatasync"));
    s->real_ftruncate =
        reinterpret_cast<decltype(s->real_ftruncate)>(dlsym(RTLD_NEXT, "ftruncate64"));
    s->real_close = reinterpret_cast<decltype(s->real_close)>(dlsym(RTLD_NEXT, "close"));
    s->real_open = reinterpret_cast<decltype(s->real_open)>(dlsym(RTLD_NEXT, "open64"));
    s->real_openat = reinterpret_cast<decltype(s->real_openat)>(dlsym(RTLD_NEXT, "openat64"));
    if (const char* d = std::getenv("PLUMBLINE_POWER_CUT_DIR")) s->dir = d;
    return s;
  }();
  return *shim;
}

void Note(const char* text) {
  Shim& s = S();
  s.real_write(2, text, std::strlen(text));
}

// Under s.mu.
FileState* WatchedLocked(Shim& s, int fd) {
  auto it = s.watched_fds.find(fd);
  if (it == s.watched_fds.end()) return nullptr;
  return &s.files[it->second];
}

void MaybeWatch(int fd, const char* path) {
  Shim& s = S();
  if (fd < 0 || s.dir.empty() || path == nullptr) return;
  if (std::strncmp(path, s.dir.c_str(), s.dir.size()) != 0) return;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  std::lock_guard lock(s.mu);
  Inode inode{st.st_dev, st.st_ino};
  s.watched_fds[fd] = inode;
  FileState& f = s.files[inode];
  if (f.fd < 0) f.fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

// Saves what [offset, offset + n) holds now, before a write there.
void SaveLocked(Shim& s, FileState& f, off_t offset, size_t n) {
  struct stat st;
  if (fstat(f.fd, &st) != 0) return;
  if (f.synced_size < 0) f.synced_size = st.st_size;
  Undo u;
  u.offset = offset;
  if (offset < st.st_size) {
    const size_t keep = std::min<size_t>(n, static_cast<size_t>(st.st_size - offset));
    u.old_bytes.resize(keep);
    ssize_t got = s.real_pread(f.fd, u.old_bytes.data(), keep, offset);
    u.old_bytes.resize(got > 0 ? static_cast<size_t>(got) : 0);
  }
  f.unsynced_bytes += n;
  f.undo.push_back(std::move(u));
}

void SyncedLocked(FileState& f) {
  f.undo.clear();
  f.undo.shrink_to_fit();
  f.synced_size = -1;
  f.unsynced_bytes = 0;
}

// With s.mu held, never released: nothing writes a watched file again.
[[noreturn]] void PowerCutLocked(const char* when) {
  Shim& s = S();
  size_t files = 0, writes = 0, bytes = 0;
  for (auto& [inode, f] : s.files) {
    if (f.synced_size < 0) continue;
    ++files;
    writes += f.undo.size();
    bytes += f.unsynced_bytes;
    for (auto u = f.undo.rbegin(); u != f.undo.rend(); ++u) {
      if (!u->old_bytes.empty()) {
        s.real_pwrite(f.fd, u->old_bytes.data(), u->old_bytes.size(), u->offset);
      }
    }
    s.real_ftruncate(f.fd, f.synced_size);
    s.real_fsync(f.fd);
  }
  char line[256];
  std::snprintf(line, sizeof line,
                "power_cut_shim: power cut (%s): discarded %zu unsynced writes (%zu bytes) in "
                "%zu files\n",
                when, writes, bytes, files);
  Note(line);
  kill(getpid(), SIGKILL);
  for (;;) pause();
}

void OnSignal(int) {
  char c = 1;
  ssize_t ignored = S().real_write(S().pipe_fds[1], &c, 1);
  static_cast<void>(ignored);
}

void* WaitForCut(void*) {
  Shim& s = S();
  char c;
  while (read(s.pipe_fds[0], &c, 1) != 1) {
  }
  {
    std::lock_guard lock(s.mu);
    s.cut_pending = true;  // the next sync of a watched file cuts
  }
  usleep(1000 * 1000);
  s.mu.lock();
  PowerCutLocked("no sync within 1 s");
}

__attribute__((constructor)) void Init() {
  Shim& s = S();
  if (s.dir.empty()) return;
  if (pipe2(s.pipe_fds, O_CLOEXEC) != 0) return;
  pthread_t thread;
  pthread_create(&thread, nullptr, WaitForCut, nullptr);
  pthread_detach(thread);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnSignal;
  sigaction(SIGUSR2, &sa, nullptr);
  Note("power_cut_shim: watching writes under PLUMBLINE_POWER_CUT_DIR; SIGUSR2 cuts the power\n");
}

int OpenMode(int flags, va_list args) {
  return (flags & (O_CREAT | O_TMPFILE)) != 0 ? va_arg(args, int) : 0;
}

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  int mode = OpenMode(flags, args);
  va_end(args);
  int fd = S().real_open(path, flags, mode);
  MaybeWatch(fd, path);
  return fd;
}

int open64(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  int mode = OpenMode(flags, args);
  va_end(args);
  int fd = S().real_open(path, flags, mode);
  MaybeWatch(fd, path);
  return fd;
}

int openat(int dirfd, const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  int mode = OpenMode(flags, args);
  va_end(args);
  int fd = S().real_openat(dirfd, path, flags, mode);
  MaybeWatch(fd, path);
  return fd;
}

int openat64(int dirfd, const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  int mode = OpenMode(flags, args);
  va_end(args);
  int fd = S().real_openat(dirfd, path, flags, mode);
  MaybeWatch(fd, path);
  return fd;
}

int close(int fd) {
  Shim& s = S();
  {
    std::lock_guard lock(s.mu);
    s.watched_fds.erase(fd);
  }
  return s.real_close(fd);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t offset) {
  Shim& s = S();
  std::lock_guard lock(s.mu);
  if (FileState* f = WatchedLocked(s, fd)) SaveLocked(s, *f, offset, n);
  return s.real_pwrite(fd, buf, n, offset);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
  return pwrite64(fd, buf, n, offset);
}

ssize_t write(int fd, const void* buf, size_t n) {
  Shim& s = S();
  {
    std::lock_guard lock(s.mu);
    if (FileState* f = WatchedLocked(s, fd)) {
      off_t offset = lseek(fd, 0, SEEK_CUR);
      if (offset >= 0) {
        SaveLocked(s, *f, offset, n);
        return s.real_write(fd, buf, n);
      }
    }
  }
  return s.real_write(fd, buf, n);
}

int ftruncate64(int fd, off_t length) {
  Shim& s = S();
  std::lock_guard lock(s.mu);
  if (FileState* f = WatchedLocked(s, fd)) {
    struct stat st;
    if (fstat(fd, &st) == 0 && length < st.st_size) {
      SaveLocked(s, *f, length, static_cast<size_t>(st.st_size - length));
    } else if (fstat(fd, &st) == 0 && f->synced_size < 0) {
      f->synced_size = st.st_size;
    }
  }
  return s.real_ftruncate(fd, length);
}

int ftruncate(int fd, off_t length) { return ftruncate64(fd, length); }

int fsync(int fd) {
  Shim& s = S();
  std::unique_lock lock(s.mu);
  if (s.cut_pending && WatchedLocked(s, fd) != nullptr) {
    lock.release();
    PowerCutLocked("before a sync");
  }
  int rc = s.real_fsync(fd);
  if (rc == 0) {
    if (FileState* f = WatchedLocked(s, fd)) SyncedLocked(*f);
  }
  return rc;
}

int fdatasync(int fd) {
  Shim& s = S();
  std::unique_lock lock(s.mu);
  if (s.cut_pending && WatchedLocked(s, fd) != nullptr) {
    lock.release();
    PowerCutLocked("before a sync");
  }
  int rc = s.real_fdatasync(fd);
  if (rc == 0) {
    if (FileState* f = WatchedLocked(s, fd)) SyncedLocked(*f);
  }
  return rc;
}

}  // extern "C"
