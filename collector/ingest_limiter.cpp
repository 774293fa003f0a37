#include "collector/ingest_limiter.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string_view>

namespace plumbline::collector {

namespace {

uint64_t Mix(uint64_t x) {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

uint64_t IngestLimiter::SeriesKey(const v1::Series& series) {
  std::hash<std::string_view> hash;
  uint64_t key = Mix(hash(series.name()));
  uint64_t labels = 0;
  for (const v1::Label& l : series.labels()) {
    labels += Mix(hash(l.name()) * 31 + hash(l.value()));  // a sum: order does not matter
  }
  return key ^ Mix(labels + 0x9e3779b97f4a7c15ULL);
}

void IngestLimiter::Refill(Bucket* b, double capacity, int64_t period_ms, int64_t now_ms) const {
  if (b->tokens < 0) {
    b->tokens = capacity;
  } else if (now_ms > b->updated_ms) {
    b->tokens =
        std::min(capacity, b->tokens + capacity * static_cast<double>(now_ms - b->updated_ms) /
                                           static_cast<double>(period_ms));
  }
  b->updated_ms = now_ms;
}

uint32_t IngestLimiter::AdmitBatch(const std::string& agent_id) {
  if (options_.max_batches_per_second <= 0) return 0;
  const double capacity = static_cast<double>(options_.max_batches_per_second);
  std::lock_guard lock(mu_);
  Bucket& b = agents_[agent_id].batches;
  Refill(&b, capacity, 1000, clock_->NowMs());
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return static_cast<uint32_t>(std::ceil((1 - b.tokens) * 1000 / capacity));
}

IngestLimiter::SeriesAdmission IngestLimiter::AdmitSeries(const std::string& agent_id,
                                                          const v1::Batch& batch,
                                                          const std::vector<int>& series) {
  SeriesAdmission out;
  std::lock_guard lock(mu_);
  AgentState& agent = agents_[agent_id];
  // New keys in order of first appearance, with every position holding them.
  std::vector<uint64_t> fresh;
  std::unordered_map<uint64_t, std::vector<size_t>> positions;
  for (size_t i = 0; i < series.size(); ++i) {
    uint64_t key = SeriesKey(batch.series(series[i]));
    if (agent.known.count(key) != 0) continue;
    std::vector<size_t>& at = positions[key];
    if (at.empty()) fresh.push_back(key);
    at.push_back(i);
  }
  if (fresh.empty()) return out;
  size_t admit = fresh.size();
  if (options_.max_new_series_per_minute > 0) {
    const double capacity = static_cast<double>(options_.max_new_series_per_minute);
    Refill(&agent.series, capacity, 60000, clock_->NowMs());
    const double needed = static_cast<double>(fresh.size());
    if (needed > agent.series.tokens) {
      if (needed <= capacity) {
        out.retry_after_ms =
            static_cast<uint32_t>(std::ceil((needed - agent.series.tokens) * 60000 / capacity));
        return out;
      }
      admit = static_cast<size_t>(std::max(0.0, std::floor(agent.series.tokens)));
    }
    agent.series.tokens -= static_cast<double>(admit);
  }
  if (agent.known.size() + admit > kMaxTrackedSeriesPerAgent) agent.known.clear();
  for (size_t i = 0; i < fresh.size(); ++i) {
    if (i < admit) {
      agent.known.insert(fresh[i]);
    } else {
      const std::vector<size_t>& at = positions[fresh[i]];
      out.refused.insert(out.refused.end(), at.begin(), at.end());
    }
  }
  std::sort(out.refused.begin(), out.refused.end());
  return out;
}

}  // namespace plumbline::collector
