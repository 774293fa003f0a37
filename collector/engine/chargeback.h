// Chargeback and showback from what the agents measured: host usage read
// from the store's hourly rollups, priced and allocated by the rate card
// (cost.h), with unit cost, budgets and forecasts, and supplier credits.
//
// Measured usage per host and hour (docs/cost.md, "From measurements"):
//   hours observed   span of the hour's host_cpu_count samples plus one
//                    sampling interval, at most 1 (one sample: 1 minute)
//   cores            the largest host_cpu_count of the period
//   core-hours used  increase of host_cpu_seconds_total over every mode but
//                    idle and iowait, / 3600
//   memory GiB-hours mean host_memory_used_bytes / 2^30 x hours observed
//   disk GiB-months  mean host_filesystem_used_bytes summed over mounts / 2^30
//                    x hours observed / 730
//   network GiB      increase of host_network_{receive,transmit}_bytes_total / 2^30
// A driver split (split: driver) uses the increase of the driver metric over
// the period on the host, per service by the `process` label of the
// service's components.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "collector/catalog/catalog.h"
#include "collector/catalog/rate_card.h"
#include "collector/engine/cost.h"
#include "collector/store/store.h"

namespace plumbline::collector {

// How LoadHostUsage slices a period: whole UTC days under one rate as one
// slice per host where that prices the same as its hours (see SumDay in
// chargeback.cpp; kept in the store's day cache), or every UTC hour (the
// reference the day slices are tested against).
enum class UsageSlicing { kDays, kHours };

// Each host's usage over the period, from its host metrics, with the
// services that claim it.
absl::StatusOr<std::vector<HostUsage>> LoadHostUsage(Store& store, const Catalog& catalog,
                                                     TimeRange period,
                                                     UsageSlicing slicing = UsageSlicing::kDays);

struct Chargeback {
  CostReport report;
  std::vector<UnitEconomics> unit_economics;
  std::vector<BusinessUnitEconomics> unit_economics_by_unit;
  std::vector<BudgetStatus> budgets;  // business units with a budget for the month
  // The forecast method's error on the business units' daily spend of up to
  // three earlier months (BacktestForecast from day 7), per business unit.
  std::map<std::string, ForecastAccuracy> forecast_error;
  std::vector<SupplierCredit> suppliers;  // suppliers with contracted terms
  // The same report for the month before, for month-over-month change
  // (absent when the period is not a calendar month or nothing was measured).
  std::optional<CostComparison> month_over_month;
};

// Allocates [period.from, min(period.to, now)), in whole minutes, and, when `period` is a
// calendar month, evaluates budgets (forecast to the month's end), supplier
// credits and the change from the month before.
absl::StatusOr<Chargeback> EvaluateChargeback(Store& store, const Catalog& catalog,
                                              TimeRange period, int64_t now_ms);

// Spend per business unit and day over `range` (whole days from its start).
absl::StatusOr<std::map<std::string, std::vector<double>>> DailySpend(
    const Catalog& catalog, const std::vector<HostUsage>& usage, TimeRange range);

// The calendar month "2026-11" as [first day 00:00Z, next month 00:00Z).
absl::StatusOr<TimeRange> ParseMonth(std::string_view text);

}  // namespace plumbline::collector
