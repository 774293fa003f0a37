// Measurement maturity: how well each business service is instrumented, so
// leaders see where IT value is not yet measurable.
//
// Levels (docs/cost.md, "Measurement maturity"); a service is at the highest
// level whose criteria and all lower ones hold:
//   1  data arrives for its components in the window
//   2  an SLO is defined
//   3  usage is measured: a request SLI (ratio or latency) has events in the window
//   4  cost is mapped: the catalog has a rate card and a component claims a
//      host that reports usage
//   5  data is complete: the minutes with data of the service's SLIs cover
//      at least 99% of the window
// Level 0: nothing arrives. Each service says what is missing for the next level.
#pragma once

#include <string>
#include <vector>

#include "collector/catalog/catalog.h"
#include "collector/store/store.h"

namespace plumbline::collector {

struct MaturityInputs {
  bool component_data = false;
  bool slo_defined = false;
  bool usage_measured = false;
  bool cost_mapped = false;
  double completeness = 0;  // 0..1
};

struct ServiceMaturity {
  std::string service;
  std::string business_unit;
  int level = 0;
  MaturityInputs inputs;
  std::string next_step;  // what is missing for the next level ("" at 5)
};

struct MaturitySummary {
  int services = 0;
  int per_level[6] = {0, 0, 0, 0, 0, 0};
  double mean_level = 0;
  double share_measurable = 0;  // services at level 3 or above
};

inline constexpr double kCompleteness = 0.99;

// The level and next step from the inputs (pure).
ServiceMaturity Assess(const Service& service, const MaturityInputs& inputs);
MaturitySummary Summarize(const std::vector<ServiceMaturity>& services);

// Reads the store over [now - window, now).
absl::StatusOr<std::vector<ServiceMaturity>> EvaluateMaturity(Store& store, const Catalog& catalog,
                                                              int64_t now_ms, int64_t window_ms);

}  // namespace plumbline::collector
