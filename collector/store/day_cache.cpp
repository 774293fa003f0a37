#include "collector/store/day_cache.h"

#include <algorithm>
#include <vector>

namespace plumbline::collector {

namespace {
// Bookkeeping per entry beyond its value: the key, the map node.
constexpr size_t kEntryOverhead = 128;
constexpr int64_t kDayMs = 24LL * 3600 * 1000;
}  // namespace

std::vector<DayPiece> SplitAtDays(int64_t from_ms, int64_t to_ms) {
  std::vector<DayPiece> out;
  for (int64_t at = from_ms; at < to_ms;) {
    int64_t day = at - ((at % kDayMs) + kDayMs) % kDayMs;
    int64_t end = std::min(day + kDayMs, to_ms);
    out.push_back({at, end, at == day && end == day + kDayMs});
    at = end;
  }
  return out;
}

std::shared_ptr<const void> DayCache::FindAny(const std::string& key, int64_t day_ms,
                                              uint64_t version) {
  std::lock_guard lock(mu_);
  auto it = entries_.find({key, day_ms});
  if (it == entries_.end() || it->second.version != version) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  it->second.used = ++clock_;
  return it->second.value;
}

void DayCache::PutAny(const std::string& key, int64_t day_ms, uint64_t version,
                      std::shared_ptr<const void> value, size_t bytes) {
  bytes += kEntryOverhead + key.size();
  if (bytes > max_bytes_ / 4) return;  // one result must not push out all others
  std::lock_guard lock(mu_);
  Entry& e = entries_[{key, day_ms}];
  bytes_ -= e.bytes;
  e.version = version;
  e.value = std::move(value);
  e.bytes = bytes;
  e.used = ++clock_;
  bytes_ += bytes;
  if (bytes_ <= max_bytes_) return;
  // Least recently used first, down to three quarters of the bound, so a
  // full cache does not scan on every Put.
  std::vector<std::pair<uint64_t, decltype(entries_)::iterator>> by_use;
  by_use.reserve(entries_.size());
  for (auto i = entries_.begin(); i != entries_.end(); ++i) by_use.emplace_back(i->second.used, i);
  std::sort(by_use.begin(), by_use.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [used, i] : by_use) {
    if (bytes_ <= max_bytes_ / 4 * 3) break;
    bytes_ -= i->second.bytes;
    entries_.erase(i);
  }
}

DayCacheStats DayCache::Stats() {
  std::lock_guard lock(mu_);
  return {hits_, misses_, entries_.size(), bytes_};
}

}  // namespace plumbline::collector
