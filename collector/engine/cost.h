// IT financial transparency, the pure part: measured host usage x the rate
// card -> cost lines per host, service, business unit and charge category;
// unit cost and value per service; month-over-month change; spend forecasts
// and budget alerts; supplier service credits; a FOCUS-style CSV export.
// Nothing here reads the store: callers pass in the measurements.
//
// Formulas (docs/cost.md; tests/unit/cost_test.cpp checks them by hand). Per
// host and usage slice, for each rate r in force during the slice, with f the
// share of the slice's time r covers (prices change mid-slice too):
//   usage(resource) = f x quantity x r.price(resource)   cpu, memory, disk, network
//   fixed           = f x hours observed x r.host_hour (or its class price)
//   idle            = f x max(0, cores x hours observed - core-hours used) x r.cpu_core_hour
// The host's CPU capacity costs cores x hours x cpu price; services pay for
// the core-hours they use and the rest is idle. Usage and fixed cost go to
// the services claiming the host by its split rule (even, weight, driver);
// idle goes to its own line unless the host's rule says `idle: share`; a
// host no service claims is `unallocated`. Every line is rounded to the
// currency's minor unit by the largest-remainder method, so the lines add up
// exactly to the rounded total (see RoundLargestRemainder).
//
// Stateless; every function is thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collector/catalog/catalog.h"
#include "collector/catalog/rate_card.h"
#include "common/status.h"

namespace plumbline::collector {

// Hours in the month of a GiB-month: 365 x 24 / 12.
constexpr double kHoursPerBillingMonth = 730;

// Measured usage of one host over [start_ms, end_ms) (an hour or a day).
struct UsageSlice {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  double hours = 0;            // hours the host was observed (at most the slice's length)
  double core_hours_used = 0;  // busy CPU core-seconds / 3600
  double memory_gb_hours = 0;  // GiB used x hours
  double disk_gb_months = 0;   // GiB of filesystem space used x hours / kHoursPerBillingMonth
  double network_gb = 0;       // GiB received plus sent
};

// One host's inputs for a period.
struct HostUsage {
  std::string host;
  double cpu_cores = 0;    // capacity
  std::string host_class;  // "": the rate card's class for the host (RateCard::HostClass)
  // Services whose components claim the host, usually ClaimingServices().
  std::vector<std::string> services;
  // split: driver — each claiming service's measured driver over the period
  // (e.g. its process_cpu_seconds_total on this host). Missing means 0.
  std::map<std::string, double> driver;
  std::vector<UsageSlice> slices;  // each within the period
};

enum class ChargeCategory { kUsage, kFixed, kIdle, kUnallocated };
// "usage", "fixed", "idle", "unallocated".
std::string_view ChargeCategoryName(ChargeCategory category);

// One charge: a resource of a host, for one service or for nobody.
struct CostLine {
  std::string host;
  std::string host_class;
  std::string service;        // "" for idle not shared and for unallocated
  std::string business_unit;  // the service's; "external" for a supplier without one
  ChargeCategory category = ChargeCategory::kUsage;
  std::string resource;  // cpu, memory, disk, network, host
  double quantity = 0;
  std::string unit;   // core-hours, GiB-hours, GiB-months, GiB, host-hours
  double cost = 0;    // exact, in currency units
  int64_t cents = 0;  // rounded, in the currency's minor unit (cents; yen for JPY)
  // direct (one service), even, weight, driver:<metric>, "even (no driver data)", none
  std::string allocation_method;
};

struct HostCost {
  std::string host;
  std::string host_class;
  double hours = 0;
  double cpu_cores = 0;
  double core_hours_used = 0;
  double idle_core_hours = 0;
  double usage_cost = 0;  // exact
  double fixed_cost = 0;
  double idle_cost = 0;
  int64_t cents = 0;         // sum of the host's lines
  bool unallocated = false;  // no service claims it (and no weight rule names one)
};

struct ServiceCost {
  std::string service;
  std::string business_unit;
  double cost = 0;    // exact
  int64_t cents = 0;  // sum of its lines
};

struct BusinessUnitCost {
  std::string business_unit;  // "external" for suppliers without one
  int64_t cents = 0;
};

struct CostReport {
  TimeRange period;
  std::string currency;
  int minor_digits = 2;
  std::vector<CostLine> lines;                   // host by host, in input order
  std::vector<HostCost> hosts;                   // input order
  std::vector<ServiceCost> services;             // catalog order, services with lines
  std::vector<BusinessUnitCost> business_units;  // catalog order, then "external"
  double total = 0;                              // exact sum of the lines
  // total_cents = allocated_cents + idle_cents + unallocated_cents = sum of lines.
  int64_t total_cents = 0;
  int64_t allocated_cents = 0;    // lines charged to a service (shared idle included)
  int64_t idle_cents = 0;         // idle lines charged to no service
  int64_t unallocated_cents = 0;  // hosts no service claims

  const ServiceCost* FindService(const std::string& id) const;
  const BusinessUnitCost* FindBusinessUnit(const std::string& id) const;
  const HostCost* FindHost(const std::string& host) const;
};

// Services with a component whose `hosts` globs match `host` (fnmatch), in
// catalog order, each once.
std::vector<std::string> ClaimingServices(const Catalog& catalog, const std::string& host);

// Prices and allocates the hosts' usage over `period`. Errors
// (InvalidArgument): an empty period, a slice outside it or longer than its
// hours, negative or non-finite usage, a duplicate host, an unknown service;
// (FailedPrecondition): no rate card, or a slice in a gap between rates;
// (OutOfRange): a total of 10^12 currency units or more.
absl::StatusOr<CostReport> AllocateCosts(const Catalog& catalog, const RateCard& card,
                                         TimeRange period, const std::vector<HostUsage>& hosts);

// Rounds non-negative amounts to 10^-minor_digits units so that the rounded
// values sum exactly to the rounded sum: each amount is floored, and the
// units still missing to round-half-away-from-zero of the exact sum go one
// each to the amounts with the largest remainders (ties: the earlier one).
std::vector<int64_t> RoundLargestRemainder(const std::vector<double>& amounts, int minor_digits);

// Daily amounts rescaled to add up to `total_cents` exactly, keeping their
// shape: each day gets the total times its share of the days' sum (an even
// share when that sum is 0), rounded by the largest remainder. Days
// allocated one by one, each rounded to the cent, drift from the period's
// own allocation by up to a cent a day; a budget's spend to date must be
// the cost the chargeback shows. Negative inputs come back unchanged.
std::vector<double> ReconcileDaily(const std::vector<double>& daily, int64_t total_cents,
                                   int minor_digits);

// "1234.56" (or "1235" for 0 digits, "-0.05" for negatives).
std::string FormatMoney(int64_t cents, int minor_digits);

// --- unit cost and value ----------------------------------------------------

// A service's business activity over the same period as a CostReport.
struct ServiceActivity {
  double transactions = 0;  // from its usage SLI or business counters
  double revenue = 0;       // revenue served, in the card's currency
};

struct UnitEconomics {
  std::string service;
  double cost = 0;  // the report's rounded cost, in currency units
  double transactions = 0;
  double revenue = 0;
  // cost x 1000 / transactions; none without transactions.
  std::optional<double> cost_per_1000_transactions;
  // revenue / cost: revenue served per unit of IT cost; none when cost is 0.
  std::optional<double> value_per_cost;
};

// Every service of the report, then the services with activity but no cost.
std::vector<UnitEconomics> ComputeUnitEconomics(
    const CostReport& report, const std::map<std::string, ServiceActivity>& activity);

// A business unit's unit cost: its cost over the transactions and revenue of
// its services (a business unit's cost is the sum of its services' costs).
struct BusinessUnitEconomics {
  std::string business_unit;  // "external" for suppliers without one
  double cost = 0;            // the report's rounded cost, in currency units
  double transactions = 0;
  double revenue = 0;
  std::optional<double> cost_per_1000_transactions;  // none without transactions
  std::optional<double> value_per_cost;              // none when cost is 0
};

// Every business unit of the report, then the units whose services had
// activity but no cost; services are placed by the catalog.
std::vector<BusinessUnitEconomics> ComputeBusinessUnitEconomics(
    const CostReport& report, const std::vector<UnitEconomics>& services, const Catalog& catalog);

// --- period over period -----------------------------------------------------

struct Change {
  double previous = 0;
  double current = 0;
  double delta = 0;               // current - previous
  std::optional<double> percent;  // delta / previous x 100; none when previous is 0
};
Change MakeChange(double previous, double current);

struct CostComparison {
  Change total;                                  // currency units, from the rounded totals
  std::map<std::string, Change> services;        // every service in either report
  std::map<std::string, Change> business_units;  // every unit in either report
};
CostComparison CompareCosts(const CostReport& previous, const CostReport& current);

// Change of cost per 1,000 transactions, for services with it in both periods.
std::map<std::string, Change> CompareUnitCosts(const std::vector<UnitEconomics>& previous,
                                               const std::vector<UnitEconomics>& current);

// --- forecasts and budgets --------------------------------------------------

// Least squares line through the daily spend so far (day i = 0, 1, ...),
// extended to the period's end: projected total = spend to date +
// sum over the remaining days d of max(0, intercept + slope x d).
struct SpendForecast {
  int days_observed = 0;
  int days_in_period = 0;
  double spend_to_date = 0;
  double intercept = 0;      // fitted spend of day 0
  double slope = 0;          // change of daily spend per day
  double residual_rmse = 0;  // root mean square of the fit's residuals
  double projected_remaining = 0;
  double projected_total = 0;
};
// One day observed: a flat line at that day's spend; none: all zero.
SpendForecast ForecastSpend(const std::vector<double>& daily_spend, int days_in_period);

// The method's error on completed periods: for each period of D days and
// each cut-off k in [min_days, D), forecast the period's total from its
// first k days and compare with the actual total.
struct ForecastAccuracy {
  int forecasts = 0;
  double mean_absolute_error = 0;          // currency units
  double mean_absolute_percent_error = 0;  // of the actual total; periods with total 0 skipped
  double max_absolute_percent_error = 0;
};
ForecastAccuracy BacktestForecast(const std::vector<std::vector<double>>& completed_periods,
                                  int min_days);

struct BudgetStatus {
  std::string business_unit;
  int year = 0;
  int month = 0;
  double budget = 0;
  double spend_to_date = 0;
  double projected = 0;
  double projected_over = 0;  // projected - budget; negative while under
  bool alert = false;         // projected > budget
  std::string message;        // for people who are not in finance
};
BudgetStatus EvaluateBudget(const Budget& budget, const SpendForecast& forecast,
                            const std::string& currency);

// --- supplier service credits -----------------------------------------------

struct SupplierCredit {
  std::string service;
  double attainment = 0;  // ratio, as measured over the month
  double sla_percent = 0;
  bool breached = false;  // attainment below the SLA (equal to 1e-12 meets it)
  double credit = 0;      // credit_percent / 100 x monthly_fee when breached
};
SupplierCredit ComputeSupplierCredit(const SupplierTerms& terms, double attainment);

// --- export -------------------------------------------------------------------

// A field quoted per RFC 4180 when it holds a comma, a double quote, CR or LF.
std::string CsvField(std::string_view value);

// FOCUS-style CSV, one row per line, CRLF line ends, a header row:
// BillingPeriodStart, BillingPeriodEnd, BusinessUnit, Service, ResourceId,
// ChargeCategory, ConsumedQuantity, ConsumedUnit, EffectiveCost,
// BillingCurrency, AllocationMethod, Tags (a JSON object: resource, host_class).
std::string FocusCsv(const CostReport& report);

}  // namespace plumbline::collector
