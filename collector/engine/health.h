// A health score 0–100 per business service that explains itself.
//
// Formulas (docs/value.md; tests/unit/health_test.cpp checks them against
// hand-computed values):
//   indicator score  = 100 at burn rate <= 1, 0 at burn rate >= 14.4 (the
//                      paging threshold), linear in between; the burn rate is
//                      the SLO's over the health window (the last hour),
//                      maintenance and corrections left out
//   own score        = mean of the indicator scores weighted by importance
//                      (0–10; all weights 0 counts them equally); indicators
//                      without data in the window are left out
//   soft dependency  = one more indicator, importance 10 x weight, whose
//                      score is the dependency's health
//   critical rule    = the score is at most the score of any indicator marked
//                      critical: that indicator alone can make the service critical
//   hard dependency  = the score is at most 100 - weight x (100 - its health)
//   status           = healthy >= 90 > degraded >= 50 > critical; "no data"
//                      when neither the service nor a dependency has data
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "collector/catalog/catalog.h"
#include "collector/store/store.h"

namespace plumbline::collector {

inline constexpr double kCriticalBurnRate = 14.4;
inline constexpr int64_t kHealthWindowMs = 3600 * 1000;

struct IndicatorHealth {
  std::string slo;
  std::string sli;
  double importance = 5;
  bool critical = false;
  bool has_data = false;
  double valid = 0;  // events (or minutes) in the window
  double burn = 0;   // burn rate over the window
  double score = 0;  // 0..100 when has_data
};

struct DependencyHealth {
  std::string service;
  bool hard = true;
  double weight = 1;
  std::optional<double> health;  // the dependency's score
  // Hard: the cap it sets; soft: the importance it carries.
  double effect = 0;
};

struct ServiceHealth {
  std::string service;
  std::optional<double> score;  // none: no data at all
  std::string status;           // healthy, degraded, critical, no data
  std::optional<double> own_score;
  std::vector<IndicatorHealth> indicators;
  std::vector<DependencyHealth> dependencies;
  std::string explanation;  // every step, for people
};

// 100 at burn <= 1, 0 at burn >= critical_burn, linear in between.
double IndicatorScore(double burn, double critical_burn = kCriticalBurnRate);

std::string HealthStatus(const std::optional<double>& score);

// Scores every service of the catalog (in catalog order) from its
// indicators, dependencies first. `indicators` holds one entry per service
// id (missing: no indicators).
std::vector<ServiceHealth> ComputeHealth(
    const Catalog& catalog, const std::map<std::string, std::vector<IndicatorHealth>>& indicators);

// Reads each SLO's burn rate over [now - window, now) from the store and
// scores every service.
absl::StatusOr<std::vector<ServiceHealth>> EvaluateHealth(Store& store, const Catalog& catalog,
                                                          int64_t now_ms,
                                                          int64_t window_ms = kHealthWindowMs);

}  // namespace plumbline::collector
