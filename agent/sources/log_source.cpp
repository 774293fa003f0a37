#include "agent/sources/log_source.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "common/labels.h"

namespace plumbline::agent {

namespace {

constexpr size_t kFingerprintBytes = 256;
constexpr size_t kChunkBytes = 64 << 10;
constexpr int64_t kWarningIntervalMs = 60'000;

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

struct FileId {
  uint64_t dev = 0, ino = 0;
  bool operator==(const FileId& o) const { return dev == o.dev && ino == o.ino; }
  bool operator!=(const FileId& o) const { return !(*this == o); }
};

FileId IdOf(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

// Hash of the first `len` bytes, or nullopt if the file has fewer.
std::optional<uint64_t> Fingerprint(int fd, size_t len) {
  std::string buf(len, '\0');
  size_t got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, buf.data() + got, len - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    got += static_cast<size_t>(n);
  }
  return Fnv1a(buf);
}

// One open file being read.
struct Reader {
  int fd = -1;
  FileId id;
  uint64_t offset = 0;      // next byte to read
  std::string partial;      // bytes after the last newline read
  bool discarding = false;  // inside a line being skipped, up to its newline
  size_t fingerprint_len = 0;
  uint64_t fingerprint = 0;
  int idle_intervals = 0;  // a rotated file: intervals that brought nothing new

  Reader() = default;
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  ~Reader() {
    if (fd >= 0) ::close(fd);
  }
  // Where to resume: the start of the line not yet complete.
  uint64_t committed() const { return discarding ? offset : offset - partial.size(); }
};

// The saved read position of a file.
struct SavedPosition {
  FileId id;
  uint64_t offset = 0;
  size_t fingerprint_len = 0;
  uint64_t fingerprint = 0;
};

std::string FormatPosition(const SavedPosition& p) {
  return StrCat("plumbline-log-position v1 ", p.id.dev, " ", p.id.ino, " ", p.offset, " ",
                p.fingerprint_len, " ", p.fingerprint, "\n");
}

std::optional<SavedPosition> ParsePosition(std::string_view text) {
  std::vector<std::string_view> f = SplitFields(Split(text, '\n')[0]);
  if (f.size() != 7 || f[0] != "plumbline-log-position" || f[1] != "v1") return std::nullopt;
  SavedPosition p;
  uint64_t* numbers[] = {&p.id.dev, &p.id.ino, &p.offset, nullptr, &p.fingerprint};
  uint64_t fingerprint_len = 0;
  numbers[3] = &fingerprint_len;
  for (size_t i = 0; i < 5; ++i) {
    std::string_view s = f[i + 2];
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *numbers[i]);
    if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  }
  if (fingerprint_len > kFingerprintBytes) return std::nullopt;
  p.fingerprint_len = fingerprint_len;
  return p;
}

// Writes `content` to `path` so that a crash leaves the old or the new
// content, never a mix: temp file, fsync, rename.
absl::Status WriteAtomically(const std::string& path, std::string_view content) {
  std::string tmp = StrCat(path, ".tmp");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::UnavailableError(StrCat(tmp, ": ", std::strerror(errno)));
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      return absl::UnavailableError(StrCat(tmp, ": ", std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return absl::UnavailableError(StrCat(tmp, ": ", std::strerror(errno)));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(StrCat("rename ", tmp, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

std::string PositionFileName(const std::string& name) {
  std::string safe;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    safe.push_back(ok ? c : '_');
  }
  // The hash keeps names that sanitise alike ("a b", "a_b") apart.
  char hash[9];
  std::snprintf(hash, sizeof hash, "%08x", static_cast<unsigned>(Fnv1a(name) & 0xffffffffu));
  return StrCat("log-", safe.substr(0, 64), "-", hash, ".pos");
}

}  // namespace

struct LogSource::Log {
  Log(const SourceContext& context, const LogSourceOptions& source_options,
      AccessLogOptions log_options, AccessLogFormat log_format)
      : ctx(context),
        limits(source_options),
        options(std::move(log_options)),
        format(std::move(log_format)),
        bucket_counts(options.buckets.size() + 1, 0) {
    if (!ctx.state_dir.empty()) {
      position_path = StrCat(ctx.state_dir, "/", PositionFileName(options.name));
    }
  }

  // Reads what is new, following rotation and truncation.
  void Advance() {
    uint64_t budget = limits.max_read_bytes;
    if (rotated) {
      uint64_t n = Drain(*rotated, &budget);
      if (n == 0 && budget > 0 && ++rotated->idle_intervals >= 1) {
        Flush(*rotated);
        rotated.reset();
      } else if (n > 0) {
        rotated->idle_intervals = 0;
      }
    }
    if (!current) {
      Open();
    } else if (!rotated) {
      struct stat st {};
      if (::stat(options.path.c_str(), &st) == 0 && IdOf(st) != current->id) {
        // Renamed away and replaced: finish the old file first.
        Drain(*current, &budget);
        if (budget > 0) {
          rotated = std::move(current);
          Open();
        }
      }
    }
    if (!current) return;
    CheckTruncation(*current);
    Drain(*current, &budget);
  }

  void Open() {
    // A file that did not exist when the source first looked was created
    // since: all of it is new, whatever start_at says.
    bool first_look = !looked_once;
    looked_once = true;
    int fd = ::open(options.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno != ENOENT && !open_error_logged) {
        spdlog::warn("log {}: {}: {}", options.name, options.path, std::strerror(errno));
        open_error_logged = true;
      }
      return;
    }
    open_error_logged = false;
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return;
    }
    auto reader = std::make_unique<Reader>();
    reader->fd = fd;
    reader->id = IdOf(st);
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (!opened_once) {
      opened_once = true;
      std::optional<SavedPosition> saved = LoadPosition();
      if (saved) {
        // Resume only in the very file we left, grown but not rewritten;
        // any other file at the path is new since then and read whole.
        bool same = saved->id == reader->id && size >= saved->offset &&
                    (saved->fingerprint_len == 0 ||
                     Fingerprint(fd, saved->fingerprint_len) == saved->fingerprint);
        if (same) {
          reader->offset = saved->offset;
          reader->fingerprint_len = saved->fingerprint_len;
          reader->fingerprint = saved->fingerprint;
        }
      } else if (limits.start_at_end && first_look) {
        reader->offset = size;
        // Mid-line: skip to the next line start without calling it an error.
        char last = '\n';
        if (size > 0 && ::pread(fd, &last, 1, static_cast<off_t>(size - 1)) == 1 && last != '\n') {
          reader->discarding = true;
        }
      }
    }
    current = std::move(reader);
  }

  // Copytruncate leaves the inode and shrinks the file (or rewrites its
  // start before we look): either way, read it again from the beginning.
  void CheckTruncation(Reader& r) {
    struct stat st {};
    if (::fstat(r.fd, &st) != 0) return;
    uint64_t size = static_cast<uint64_t>(st.st_size);
    bool rewritten = size < r.offset;
    if (!rewritten && r.fingerprint_len > 0) {
      rewritten = Fingerprint(r.fd, r.fingerprint_len) != r.fingerprint;
    }
    if (rewritten) {
      r.offset = 0;
      r.partial.clear();
      r.discarding = false;
      r.fingerprint_len = 0;
    }
    size_t want = static_cast<size_t>(std::min<uint64_t>(size, kFingerprintBytes));
    if (want > r.fingerprint_len) {
      if (std::optional<uint64_t> fp = Fingerprint(r.fd, want)) {
        r.fingerprint_len = want;
        r.fingerprint = *fp;
      }
    }
  }

  // Reads to the end of the file or of the budget; returns bytes read.
  uint64_t Drain(Reader& r, uint64_t* budget) {
    uint64_t total = 0;
    buffer.resize(kChunkBytes);
    while (*budget > 0) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(kChunkBytes, *budget));
      ssize_t n = ::pread(r.fd, buffer.data(), want, static_cast<off_t>(r.offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      r.offset += static_cast<uint64_t>(n);
      *budget -= static_cast<uint64_t>(n);
      total += static_cast<uint64_t>(n);
      Feed(r, std::string_view(buffer.data(), static_cast<size_t>(n)));
    }
    return total;
  }

  void Feed(Reader& r, std::string_view chunk) {
    while (!chunk.empty()) {
      size_t newline = chunk.find('\n');
      if (newline == std::string_view::npos) {
        if (r.discarding) return;
        if (r.partial.size() + chunk.size() > limits.max_line_bytes) {
          CountError(StrCat("line longer than ", limits.max_line_bytes, " bytes"));
          r.partial.clear();
          r.discarding = true;
          return;
        }
        r.partial.append(chunk);
        return;
      }
      std::string_view piece = chunk.substr(0, newline);
      chunk.remove_prefix(newline + 1);
      if (r.discarding) {
        r.discarding = false;
        continue;
      }
      if (r.partial.empty()) {
        Line(piece);
      } else if (r.partial.size() + piece.size() > limits.max_line_bytes) {
        CountError(StrCat("line longer than ", limits.max_line_bytes, " bytes"));
        r.partial.clear();
      } else {
        r.partial.append(piece);
        Line(r.partial);
        r.partial.clear();
      }
    }
  }

  // The last line of a file nobody writes to any more needs no newline.
  void Flush(Reader& r) {
    if (!r.discarding && !r.partial.empty()) Line(r.partial);
    r.partial.clear();
  }

  void Line(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return;
    if (line.size() > limits.max_line_bytes) {
      CountError(StrCat("line longer than ", limits.max_line_bytes, " bytes"));
      return;
    }
    absl::StatusOr<AccessLogRecord> record = format.ParseLine(line);
    if (!record.ok()) {
      CountError(ToStd(record.status().message()));
      return;
    }
    ++requests[{StatusClass(record->status), record->method}];
    response_bytes += record->bytes;
    if (record->request_time_seconds) {
      double t = *record->request_time_seconds;
      // Bucket i counts t <= bounds[i]; the last one is +Inf.
      size_t i =
          static_cast<size_t>(std::lower_bound(options.buckets.begin(), options.buckets.end(), t) -
                              options.buckets.begin());
      ++bucket_counts[i];
      latency_sum += t;
      ++latency_count;
    }
  }

  void CountError(std::string_view what) {
    ++parse_errors;
    ++errors_since_warning;
    if (ctx.counters != nullptr) {
      ctx.counters->Add("plumbline_agent_parse_errors_total", {{"source", "log"}});
    }
    int64_t now = ctx.clock->NowMs();
    if (!warned_ || now - last_warning_ms >= kWarningIntervalMs) {
      spdlog::warn("log {}: {} unparsable line(s) skipped in {}, latest: {}", options.name,
                   errors_since_warning, options.path, what);
      warned_ = true;
      last_warning_ms = now;
      errors_since_warning = 0;
    }
  }

  std::optional<SavedPosition> LoadPosition() {
    if (position_path.empty()) return std::nullopt;
    absl::StatusOr<std::string> text = ProcFs().Read(position_path);
    if (!text.ok()) return std::nullopt;
    std::optional<SavedPosition> p = ParsePosition(*text);
    if (!p)
      spdlog::warn("log {}: ignoring unreadable position file {}", options.name, position_path);
    return p;
  }

  void SavePosition() {
    if (position_path.empty() || !current) return;
    SavedPosition p{current->id, current->committed(), current->fingerprint_len,
                    current->fingerprint};
    std::string content = FormatPosition(p);
    if (content == saved_content) return;
    absl::Status s = WriteAtomically(position_path, content);
    if (!s.ok()) {
      if (!save_error_logged)
        spdlog::warn("log {}: position not saved: {}", options.name, s.message());
      save_error_logged = true;
      return;
    }
    save_error_logged = false;
    saved_content = std::move(content);
  }

  void Write(MetricWriter& out) const {
    Labels base = {{"log", options.name}};
    for (const auto& [key, count] : requests) {
      out.Counter("http_requests_total", static_cast<double>(count),
                  {{"log", options.name},
                   {"status_class", std::string(key.first)},
                   {"method", std::string(key.second)}});
    }
    out.Counter("http_response_bytes_total", static_cast<double>(response_bytes), base, "bytes");
    if (format.has_request_time()) {
      v1::Histogram h;
      for (double b : options.buckets) h.add_bounds(b);
      for (uint64_t c : bucket_counts) h.add_bucket_counts(c);
      h.set_sum(latency_sum);
      h.set_count(latency_count);
      out.Histogram("http_request_duration_seconds", h, base, "seconds");
    }
    out.Counter("http_log_parse_errors_total", static_cast<double>(parse_errors), base);
  }

  const SourceContext& ctx;
  const LogSourceOptions& limits;
  const AccessLogOptions options;
  const AccessLogFormat format;
  std::string position_path;  // empty: positions are not kept
  std::unique_ptr<Reader> current, rotated;
  bool looked_once = false, opened_once = false;
  bool open_error_logged = false, save_error_logged = false;
  std::string saved_content;
  std::vector<char> buffer;

  // Cumulative since the source started. Keys point to static strings.
  std::map<std::pair<std::string_view, std::string_view>, uint64_t> requests;
  uint64_t response_bytes = 0;
  std::vector<uint64_t> bucket_counts;
  double latency_sum = 0;
  uint64_t latency_count = 0;
  uint64_t parse_errors = 0;
  bool warned_ = false;
  int64_t last_warning_ms = 0;
  uint64_t errors_since_warning = 0;
};

void ParseLogSourceOptions(ConfigMap section, LogSourceOptions* out) {
  section.ByteSize("max_read_bytes", &out->max_read_bytes);
  if (out->max_read_bytes < (4 << 10)) section.Error("max_read_bytes", "must be at least 4KiB");
  section.ByteSize("max_line_bytes", &out->max_line_bytes);
  if (out->max_line_bytes < 256 || out->max_line_bytes > (1 << 20)) {
    section.Error("max_line_bytes", "must be between 256 and 1MiB");
  }
  std::string start_at = out->start_at_end ? "end" : "beginning";
  section.String("start_at", &start_at);
  if (start_at == "end" || start_at == "beginning") {
    out->start_at_end = start_at == "end";
  } else {
    section.Error("start_at", StrCat("must be \"end\" or \"beginning\", got \"", start_at, "\""));
  }
  std::set<std::string> names;
  for (ConfigMap& item : section.MapList("logs")) {
    AccessLogOptions log;
    item.Require("name");
    item.String("name", &log.name);
    if (item.Has("name")) {
      absl::Status s = ValidateLabelValue(log.name);
      if (!s.ok() || log.name.empty()) {
        item.Error("name", s.ok() ? std::string_view("must not be empty") : ToStd(s.message()));
      } else if (!names.insert(log.name).second) {
        item.Error("name", StrCat("\"", log.name, "\" is used by another log"));
      }
    }
    item.Require("path");
    item.String("path", &log.path);
    if (item.Has("path") && (log.path.empty() || log.path[0] != '/')) {
      item.Error("path", "must be an absolute path");
    }
    item.String("format", &log.format);
    if (absl::StatusOr<AccessLogFormat> f = AccessLogFormat::Parse(log.format); !f.ok()) {
      item.Error("format", ToStd(f.status().message()));
    }
    std::vector<std::string> bounds;
    item.StringList("buckets", &bounds);
    if (!bounds.empty()) {
      log.buckets.clear();
      for (const std::string& b : bounds) {
        double v = 0;
        auto [ptr, ec] = std::from_chars(b.data(), b.data() + b.size(), v);
        if (ec != std::errc() || ptr != b.data() + b.size() || !std::isfinite(v) || v <= 0 ||
            (!log.buckets.empty() && v <= log.buckets.back())) {
          item.Error("buckets", "must be positive numbers (seconds) in ascending order");
          break;
        }
        log.buckets.push_back(v);
      }
    }
    out->logs.push_back(std::move(log));
  }
}

LogSource::LogSource(SourceContext context, LogSourceOptions options)
    : context_(std::move(context)), options_(std::move(options)) {}

LogSource::~LogSource() { Stop(); }

absl::Status LogSource::Start() {
  for (const AccessLogOptions& log : options_.logs) {
    absl::StatusOr<AccessLogFormat> format = AccessLogFormat::Parse(log.format);
    if (!format.ok())
      return absl::InvalidArgumentError(StrCat("log ", log.name, ": ", format.status().message()));
    if (!std::is_sorted(log.buckets.begin(), log.buckets.end())) {
      return absl::InvalidArgumentError(StrCat("log ", log.name, ": buckets must ascend"));
    }
    logs_.push_back(std::make_unique<Log>(context_, options_, log, *std::move(format)));
  }
  return absl::OkStatus();
}

absl::Status LogSource::Collect(MetricWriter& out) {
  for (auto& log : logs_) {
    log->Advance();
    log->Write(out);
    log->SavePosition();
  }
  return absl::OkStatus();
}

void LogSource::Stop() {
  for (auto& log : logs_) log->SavePosition();
  logs_.clear();
}

}  // namespace plumbline::agent
