// Rate limit for a recurring log line (malformed input, a failing scrape):
// at most one line per period, and that line says how many were held back,
// so a flood of bad packets cannot flood the journal.
// Not thread-safe: one throttle belongs to one thread.
#pragma once

#include <cstdint>
#include <string>

#include "common/clock.h"

namespace plumbline::agent {

class LogThrottle {
 public:
  static constexpr int64_t kDefaultPeriodMs = 60000;

  explicit LogThrottle(const Clock* clock, int64_t period_ms = kDefaultPeriodMs)
      : clock_(clock), period_ms_(period_ms) {}

  // " (N similar messages suppressed)" for a line, or "" when N is 0.
  static std::string Suppressed(uint64_t n) {
    return n == 0 ? std::string() : " (" + std::to_string(n) + " similar messages suppressed)";
  }

  // True if a line may be written now. On true, *suppressed is the number of
  // lines refused since the previous one.
  bool Allow(uint64_t* suppressed) {
    int64_t now = clock_->NowMs();
    if (logged_ && now - last_ms_ < period_ms_) {
      ++suppressed_;
      return false;
    }
    logged_ = true;
    last_ms_ = now;
    *suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

 private:
  const Clock* clock_;
  int64_t period_ms_;
  bool logged_ = false;
  int64_t last_ms_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace plumbline::agent
