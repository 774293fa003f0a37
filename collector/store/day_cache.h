// Results of whole UTC days, kept between queries while the store says the
// day's data has not changed.
//
// A 30-day report over a fleet reads and folds millions of hourly
// aggregates; almost all of them are days that no longer change. The engine
// computes what it needs per whole day (an SLI's counts, a host's usage),
// keeps it here under the day's version (Store::DayVersion), and on the next
// query recomputes only the days whose version moved (late data, today) and
// the partial days at the window's ends.
//
// Correctness rests on the order: read the version, then compute, then Put.
// A change that commits while a day is being computed moves the version, so
// the result is never served for data it did not see.
//
// Thread-safe. Values are immutable once put; Find hands out shared owners.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace plumbline::collector {

// [from_ms, to_ms) cut at UTC midnights: the whole days inside it, and the
// parts of a day at either end (or the whole window, inside one day).
struct DayPiece {
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  bool whole_day = false;
};
std::vector<DayPiece> SplitAtDays(int64_t from_ms, int64_t to_ms);

struct DayCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t entries = 0;
  uint64_t bytes = 0;
};

class DayCache {
 public:
  explicit DayCache(size_t max_bytes = 64u << 20) : max_bytes_(max_bytes) {}

  // The value put for (key, day) at `version`, or null. `key` names what was
  // computed (the kind and its inputs); T must be the type it was put with.
  template <typename T>
  std::shared_ptr<const T> Find(const std::string& key, int64_t day_ms, uint64_t version) {
    return std::static_pointer_cast<const T>(FindAny(key, day_ms, version));
  }

  // Keeps `value` (about `bytes` of memory) for (key, day) at `version`,
  // replacing an older one. Past the memory bound, the least recently used
  // entries go.
  template <typename T>
  void Put(const std::string& key, int64_t day_ms, uint64_t version, std::shared_ptr<const T> value,
           size_t bytes) {
    PutAny(key, day_ms, version, std::move(value), bytes);
  }

  DayCacheStats Stats();

 private:
  struct Entry {
    uint64_t version = 0;
    std::shared_ptr<const void> value;
    size_t bytes = 0;
    uint64_t used = 0;  // clock_ at the last Find or Put
  };
  std::shared_ptr<const void> FindAny(const std::string& key, int64_t day_ms, uint64_t version);
  void PutAny(const std::string& key, int64_t day_ms, uint64_t version,
              std::shared_ptr<const void> value, size_t bytes);

  const size_t max_bytes_;
  std::mutex mu_;
  std::map<std::pair<std::string, int64_t>, Entry> entries_;
  size_t bytes_ = 0;
  uint64_t clock_ = 0;
  uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace plumbline::collector
