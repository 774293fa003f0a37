// The business impact of an incident or of any time window: per affected
// service and per business unit, what the failure cost in requests, users,
// revenue and error budget.
//
// Formulas (docs/value.md; tests/unit/impact_test.cpp checks them against
// hand-computed values). Per service S and minute m of the window (minutes in
// S's maintenance or corrections are left out):
//   own(m)       = the largest bad/valid share among S's SLOs with data in m
//                  (a request that is both slow and failed counts once)
//   E(m)         = max(own(m), max over dependencies D of weight_D x E_D(m)):
//                  the effective failed share; max, not sum, so a failure that
//                  reaches S along two paths (a diamond) counts once, and a
//                  failure S measured itself is not added to the one it inherited
//   requests(m)  = the largest valid count among S's event SLIs (ratio, latency)
//   failed requests     = sum of E(m) x requests(m); the propagated part is
//                         sum of (E(m) - own(m)) x requests(m)
//   degraded minutes    = minutes with E(m) above the allowed share (1 - target)
//                         of S's strictest SLO (above 0 without SLOs)
//   failed share        = sum of E(m) / minutes in the window
//   users affected      = users x failed share
//   revenue at risk     = value per transaction x failed requests when both are
//                         known, else revenue per hour x sum of E(m) / 60 over
//                         the minutes in the service's business hours (all
//                         minutes without business hours): revenue per hour x
//                         degraded time x failed share
//   budget burned (SLO) = bad events (slices) of the SLO in the window / the
//                         error budget of its period at the window's end;
//                         in minutes: that x (1 - target) x period minutes
//   SLA breached        = the SLO's attainment over its period up to the
//                         window's end is below target
// Business-unit totals add each service once.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "collector/catalog/catalog.h"
#include "collector/engine/incidents.h"
#include "collector/store/store.h"

namespace plumbline::collector {

struct SloImpact {
  std::string slo;
  double bad = 0;            // events (or slices) lost in the window
  double budget_burned = 0;  // share of the period's error budget
  double budget_burned_minutes = 0;
  double attainment = 1;  // over the period up to the window's end
  double target = 0;
  bool sla_breached = false;
};

struct ServiceImpact {
  std::string service;
  std::string name;
  std::string business_unit;
  bool propagated_only = false;  // no failure measured on the service itself
  std::string via;               // dependency that passed on most of the impact
  double window_minutes = 0;     // minus maintenance
  double degraded_minutes = 0;
  double failed_share = 0;
  double requests = 0;
  double failed_requests = 0;
  double failed_requests_propagated = 0;
  double users_affected = 0;
  double revenue_at_risk = 0;
  double revenue_at_risk_propagated = 0;
  std::vector<SloImpact> slos;
};

struct BusinessUnitImpact {
  std::string business_unit;  // "" for external suppliers
  double failed_requests = 0;
  double users_affected = 0;
  double revenue_at_risk = 0;
  double revenue_at_risk_propagated = 0;
  double degraded_minutes = 0;
  int services = 0;
};

struct ImpactReport {
  std::string incident_id;  // empty for a plain window
  TimeRange range;
  std::vector<ServiceImpact> services;  // catalog order, only those with impact or in scope
  std::vector<BusinessUnitImpact> business_units;
  double revenue_at_risk = 0;
  double failed_requests = 0;
  double users_affected = 0;
};

// Per-minute effective failed shares etc. from loaded minutes (pure).
// `scope`: services to report (empty: every service with any impact).
// `slo_status` (optional): per service, per SLO, the status at the window's
// end for budget and SLA figures.
ImpactReport ComputeImpact(
    const Catalog& catalog, const ServiceMinutes& minutes, TimeRange range,
    const std::vector<std::string>& scope,
    const std::map<std::string, std::map<std::string, SloStatus>>& slo_status);

// Reads the store: the window's minutes and each SLO's status at its end.
absl::StatusOr<ImpactReport> EvaluateImpact(Store& store, const Catalog& catalog, TimeRange range,
                                            const std::vector<std::string>& scope);

}  // namespace plumbline::collector
