// Service-level value from stored measurements: SLI counts over any window,
// SLO attainment, error budget (as a ratio, in events and in minutes), burn
// rates and multi-window multi-burn-rate alerts.
//
// Formulas (documented in docs/slo.md, tested against hand-computed values):
//   attainment          = good / valid
//   budget (events)     = (1 - target) * valid;  bad = valid - good
//   remaining ratio     = 1 - bad / budget       (1 untouched, 0 spent, < 0 overspent)
//   budget (minutes)    = (1 - target) * period minutes; remaining = that * remaining ratio
//   burn rate over w    = (bad_w / valid_w) / (1 - target)
//   time to exhaustion  = remaining ratio * period / burn rate (long window of the fastest alert)
// Time-slice SLOs count slices instead of events: a slice is good when its
// own ratio meets the target. A 100% target has no budget: any bad event
// spends it (remaining 0) and burn rates are infinite.
//
// Stateless and thread-safe; every call reads the store.
#pragma once

#include <string>
#include <vector>

#include "collector/catalog/catalog.h"
#include "collector/store/store.h"

namespace plumbline::collector {

struct SliCounts {
  double good = 0;
  double valid = 0;
  double bad() const { return valid - good; }
  bool has_data() const { return valid > 0; }
  double ratio() const { return valid > 0 ? good / valid : 0; }
};

struct BurnAlert {
  std::string severity;  // "page" or "ticket"
  int64_t long_window_ms = 0;
  int64_t short_window_ms = 0;
  double threshold = 0;  // burn-rate factor
  double long_burn = 0;
  double short_burn = 0;
  double long_window_valid = 0;
  bool gated = false;  // too little traffic in the long window to alert
  bool firing = false;
  std::string message;  // for people who are not SREs
};

struct SloStatus {
  std::string service;
  std::string slo;
  std::string sli;
  double target = 0;    // ratio, e.g. 0.999
  int64_t from_ms = 0;  // evaluated window (so far)
  int64_t to_ms = 0;
  int64_t period_ms = 0;  // full SLO period (rolling window or calendar period)
  SliCounts counts;       // events, or slices for time-slice SLOs
  double attainment = 0;
  double budget_total = 0;      // events or slices
  double budget_remaining = 0;  // events or slices
  double budget_remaining_ratio = 1;
  double budget_minutes_total = 0;
  double budget_minutes_remaining = 0;
  double burn_rate = 0;  // over the long window of the fastest alert (1h at 30 days)
  // Hours until the budget is spent at that burn rate; negative when the
  // budget is not being spent.
  double hours_to_exhaustion = -1;
  bool breached = false;  // attainment below target (with data)
  std::vector<BurnAlert> alerts;
};

// Counts an SLI over [from_ms, to_ms) (aligned down to minutes).
absl::StatusOr<SliCounts> EvaluateSli(Store& store, const Sli& sli, int64_t from_ms, int64_t to_ms);

// The same, leaving out the ranges in `excluded` (maintenance, corrections).
absl::StatusOr<SliCounts> EvaluateSliOutside(Store& store, const Sli& sli, int64_t from_ms,
                                             int64_t to_ms, const std::vector<TimeRange>& excluded);

// Counts per step (a multiple of a minute) over [from_ms, to_ms); for
// charts and time slices. Steps without data are absent.
absl::StatusOr<std::vector<std::pair<int64_t, SliCounts>>> EvaluateSliSteps(
    Store& store, const Sli& sli, int64_t from_ms, int64_t to_ms, int64_t step_ms);

// The SLO's current period: [start, now) and its full length.
struct SloPeriod {
  int64_t from_ms;
  int64_t to_ms;
  int64_t length_ms;
};
SloPeriod CurrentPeriod(const Slo& slo, int64_t now_ms);

// Budgets, attainment and burn rates leave out the service's excluded ranges
// (maintenance windows and corrections).
absl::StatusOr<SloStatus> EvaluateSlo(Store& store, const Service& service, const Slo& slo,
                                      int64_t now_ms);

// "2 days", "5 hours", "40 minutes".
std::string HumanDuration(double hours);

}  // namespace plumbline::collector
