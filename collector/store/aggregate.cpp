#include <fnmatch.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "collector/store/store.h"

namespace plumbline::collector {

std::string JoinIds(const std::vector<std::string>& ids) {
  std::string out;
  for (const std::string& id : ids) {
    if (!out.empty()) out += ',';
    out += id;
  }
  return out;
}

std::vector<std::string> SplitIds(const std::string& joined) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < joined.size()) {
    size_t comma = joined.find(',', at);
    if (comma == std::string::npos) comma = joined.size();
    if (comma > at) out.push_back(joined.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

bool LabelMatcher::Matches(const LabelSet& sorted_labels) const {
  auto it = std::lower_bound(sorted_labels.begin(), sorted_labels.end(), name,
                             [](const auto& l, const std::string& n) { return l.first < n; });
  const std::string empty;
  const std::string& actual = (it != sorted_labels.end() && it->first == name) ? it->second : empty;
  switch (op) {
    case Op::kEqual:
      return actual == value;
    case Op::kNotEqual:
      return actual != value;
    case Op::kGlob:
      return fnmatch(value.c_str(), actual.c_str(), 0) == 0;
  }
  return false;
}

void Aggregate::Merge(const Aggregate& later) {
  if (later.count == 0) return;
  if (count == 0) {
    *this = later;
    return;
  }
  count += later.count;
  sum += later.sum;
  min = std::min(min, later.min);
  max = std::max(max, later.max);
  if (later.first_ms < first_ms) {
    first = later.first;
    first_ms = later.first_ms;
  }
  if (later.last_ms >= last_ms) {
    last = later.last;
    last_ms = later.last_ms;
  }
  increase += later.increase;
}

BucketFolder::BucketFolder(size_t series, int64_t from_ms, int64_t to_ms, int64_t step_ms)
    : from_ms_(from_ms), to_ms_(to_ms), step_ms_(step_ms), cells_(series) {}

void BucketFolder::Fold(size_t series, const Aggregate& a) {
  if (a.start_ms < from_ms_ || a.start_ms >= to_ms_ || a.count == 0) return;
  const int64_t bucket = (a.start_ms - from_ms_) / step_ms_;
  auto& cells = cells_[series];
  // Rows mostly arrive in time order: fold into the last cell when it is
  // the same bucket.
  if (!cells.empty() && cells.back().first == bucket) {
    cells.back().second.Merge(a);
  } else {
    cells.emplace_back(bucket, a);
  }
}

std::vector<Aggregate> BucketFolder::Take(size_t series) {
  auto& cells = cells_[series];
  auto by_bucket = [](const auto& x, const auto& y) { return x.first < y.first; };
  // Rollups are read in time order per series: mostly sorted already.
  if (!std::is_sorted(cells.begin(), cells.end(), by_bucket)) {
    std::stable_sort(cells.begin(), cells.end(), by_bucket);
  }
  std::vector<Aggregate> out;
  for (size_t i = 0; i < cells.size();) {
    Aggregate a = cells[i].second;
    size_t j = i + 1;
    for (; j < cells.size() && cells[j].first == cells[i].first; ++j) a.Merge(cells[j].second);
    a.start_ms = from_ms_ + cells[i].first * step_ms_;
    out.push_back(a);
    i = j;
  }
  cells.clear();
  cells.shrink_to_fit();
  return out;
}

absl::StatusOr<std::vector<SeriesAggregates>> CalendarAggregates(Store& store,
                                                                 const SeriesSelector& selector,
                                                                 int64_t from_ms, int64_t to_ms,
                                                                 int64_t step_ms,
                                                                 AggregateSource* source) {
  constexpr int64_t kMinuteMs = 60000, kHourMs = 60 * kMinuteMs;
  from_ms = FloorTo(from_ms, kMinuteMs);
  to_ms = FloorTo(to_ms, kMinuteMs);
  if (step_ms <= 0 || step_ms % kHourMs != 0 || to_ms <= from_ms) {
    return store.Aggregates(selector, from_ms, to_ms, step_ms, source);
  }
  // The partial cell at the start, the whole cells, the partial cell at the
  // end: (from, to, step) each.
  std::vector<std::tuple<int64_t, int64_t, int64_t>> parts;
  int64_t at = from_ms;
  const int64_t head_end = std::min(to_ms, CeilTo(from_ms, step_ms));
  if (at < head_end) {
    parts.emplace_back(at, head_end, head_end - at);
    at = head_end;
  }
  const int64_t tail_start = std::max(at, FloorTo(to_ms, step_ms));
  if (at < tail_start) {
    parts.emplace_back(at, tail_start, step_ms);
    at = tail_start;
  }
  if (at < to_ms) parts.emplace_back(at, to_ms, to_ms - at);

  std::vector<SeriesAggregates> out;
  std::unordered_map<int64_t, size_t> index;
  AggregateSource total;
  for (const auto& [from, to, step] : parts) {
    AggregateSource used;
    ASSIGN_OR_RETURN(std::vector<SeriesAggregates> got,
                     store.Aggregates(selector, from, to, step, &used));
    total.hour_buckets += used.hour_buckets;
    total.minute_buckets += used.minute_buckets;
    total.raw_samples += used.raw_samples;
    for (SeriesAggregates& s : got) {
      auto [it, added] = index.emplace(s.series.id, out.size());
      if (added) {
        out.push_back(std::move(s));
        continue;
      }
      std::vector<Aggregate>& buckets = out[it->second].buckets;
      buckets.insert(buckets.end(), s.buckets.begin(), s.buckets.end());
    }
  }
  if (source != nullptr) *source = total;
  return out;
}

}  // namespace plumbline::collector
