// The per-service report (plumb report, Query.GetServiceReport): for every
// service of the catalog over one window, how available and how fast it was
// against its SLOs, how many requests it served, what it cost and earned.
//
// It puts together what the engine already computes and computes nothing of
// its own:
//   window        [from, min(to, now)) in whole minutes, as EvaluateChargeback
//                 allocates; the SLOs are counted over the same window
//   attainment    per SLO, good / valid of its SLI over the window outside the
//                 service's excluded ranges (EvaluateSliOutside); occurrences
//                 also for time-slice SLOs; an SLO is met when it has data
//                 and attainment >= target. Latency SLIs are "latency", every
//                 other kind "availability".
//   requests      the chargeback's transactions: the largest valid count among
//                 the service's ratio and latency SLIs (EvaluateChargeback's
//                 unit economics; without a rate card, EvaluateSli directly)
//   cost, cost per 1,000 requests, revenue
//                 the chargeback's allocation and unit economics for the same
//                 window, to the cent the same as `plumb chargeback`; absent
//                 (with a note) when the catalog has no rate card
//
// Stateless and thread-safe; every call reads the store.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "collector/catalog/catalog.h"
#include "collector/engine/slo_engine.h"
#include "collector/store/store.h"

namespace plumbline::collector {

// One SLO of a service over the report's window.
struct ObjectiveAttainment {
  enum class Kind { kAvailability, kLatency };
  std::string slo;
  std::string sli;
  Kind kind = Kind::kAvailability;
  double target = 0;      // ratio, e.g. 0.999
  SliCounts counts;       // events (probe intervals, minutes for threshold SLIs)
  double attainment = 0;  // good / valid; 0 without data
  bool met = false;       // with data and attainment >= target
};

// "availability" or "latency".
std::string_view ObjectiveKindName(ObjectiveAttainment::Kind kind);

struct ServiceReportRow {
  std::string service;
  std::string name;
  std::string business_unit;
  double requests = 0;
  std::vector<ObjectiveAttainment> objectives;  // the service's SLOs, catalog order
  // With a rate card only.
  std::optional<int64_t> cents;                  // allocated cost in the currency's minor unit
  std::optional<double> cost_per_1000_requests;  // none without requests
  // With a rate card and a value per transaction or revenue per hour.
  std::optional<double> revenue;
};

struct ServiceReport {
  TimeRange window;  // as evaluated: whole minutes, not past now
  bool has_cost = false;
  std::string currency;  // of cost (the rate card's) and revenue
  int minor_digits = 2;
  // Why a part of the report is missing ("the catalog has no rate card ...").
  std::string note;
  std::vector<ServiceReportRow> services;  // catalog order
};

// The report over `period` for every service, or those of `business_unit`
// when it is not empty. Errors: InvalidArgument (a window not started yet),
// NotFound (an unknown business unit), the store's errors and those of
// EvaluateChargeback other than a missing rate card.
absl::StatusOr<ServiceReport> EvaluateServiceReport(Store& store, const Catalog& catalog,
                                                    TimeRange period, int64_t now_ms,
                                                    const std::string& business_unit);

}  // namespace plumbline::collector
