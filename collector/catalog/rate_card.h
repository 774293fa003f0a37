// The rate card: what IT resources cost, in one currency, with prices that
// change on effective dates; how shared hosts are split between the services
// that run on them; IT budgets per business unit and month; and the SLA and
// service-credit terms of external suppliers. It is the optional `costs:`
// section of the catalog (docs/cost.md); collector/engine/cost.h applies it
// to measured usage.
//
// A RateCard is a plain value, immutable once read, like the Catalog that
// holds it.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "collector/catalog/catalog.h"
#include "common/yaml_config.h"

namespace plumbline::collector {

// Prices in force over [from_ms, to_ms), in the card's currency.
struct Rate {
  int64_t from_ms = 0;
  int64_t to_ms = std::numeric_limits<int64_t>::max();  // max: open-ended
  double cpu_core_hour = 0;                             // per CPU core-hour used
  double memory_gb_hour = 0;                            // per GiB-hour of memory used
  double disk_gb_month = 0;                             // per GiB-month of filesystem space used
  double network_gb = 0;                                // per GiB transferred, received plus sent
  double host_hour = 0;  // fixed cost per host-hour (hardware, licences)
  // Fixed cost per host-hour of a host class; replaces host_hour for hosts
  // of that class.
  std::map<std::string, double> host_classes;

  // The fixed cost per hour of a host of `host_class` ("" for none).
  double HostHour(const std::string& host_class) const;
  bool Contains(int64_t ms) const { return ms >= from_ms && ms < to_ms; }
};

// How the cost of a host is divided between services.
enum class SplitRule {
  kEven,    // equally among the services whose components claim the host
  kWeight,  // by configured weights, which sum to 1
  kDriver,  // in proportion to a measured driver per service (e.g. process CPU)
};

// One entry of `costs.hosts`: hosts matching a glob get a class and/or a
// split rule. For each field the first entry that matches and sets it wins,
// so `{host: "gpu-*", class: gpu}` and `{host: "gpu-1", split: even}` combine.
struct HostRule {
  std::string host;        // glob on the host name (fnmatch)
  std::string host_class;  // "" when the entry sets no class
  bool has_split = false;  // whether the entry sets a split rule
  SplitRule split = SplitRule::kEven;
  std::map<std::string, double> weights;  // kWeight: service id -> share
  std::string driver;                     // kDriver: metric name of the driver
  // Whether unused CPU capacity (idle) is charged to the services by the same
  // split; by default it is reported on its own idle line.
  bool share_idle = false;
};

// The IT budget of a business unit for one calendar month (UTC).
struct Budget {
  std::string business_unit;
  int year = 0;
  int month = 0;      // 1..12
  TimeRange period;   // the month, [first day 00:00Z, next month 00:00Z)
  double amount = 0;  // in the card's currency
};

// Contracted terms with an external supplier (a service of the catalog).
struct SupplierTerms {
  std::string service;
  double sla_percent = 0;     // in (0, 100]
  double credit_percent = 0;  // of the monthly fee, owed when attainment < SLA
  double monthly_fee = 0;
};

struct RateCard {
  bool defined = false;     // the catalog has a `costs:` section
  std::string currency;     // ISO 4217
  std::vector<Rate> rates;  // sorted by from_ms; ranges do not overlap (gaps may exist)
  std::vector<HostRule> hosts;
  std::vector<Budget> budgets;
  std::vector<SupplierTerms> suppliers;

  // The rate in force at `ms`, or nullptr in a gap.
  const Rate* RateAt(int64_t ms) const;
  // The class of a host ("" when no entry gives one).
  std::string HostClass(const std::string& host) const;
  // The entry that sets the split rule of a host, or nullptr (split evenly).
  const HostRule* SplitFor(const std::string& host) const;
  const Budget* FindBudget(const std::string& business_unit, int year, int month) const;
  const SupplierTerms* FindSupplier(const std::string& service) const;
};

// Whether `code` is an active ISO 4217 currency code ("EUR").
bool IsKnownCurrency(std::string_view code);
// Digits of the currency's minor unit: 2 for EUR (cents), 0 for JPY, 3 for
// KWD; 2 for a code IsKnownCurrency rejects.
int CurrencyMinorDigits(std::string_view code);

// Reads the optional top-level `costs:` key of a catalog document. Errors are
// recorded on the document (YamlDocument::Finish reports them with file, line
// and field), e.g.
//   catalog.yaml:7: costs.rates[1].from: 2026-11-15T00:00:00Z overlaps costs.rates[0]
//   (2026-11-01T00:00:00Z .. open-ended)
// `service_ids` and `unit_ids` are the catalog's services and business units,
// which weights, budgets and suppliers must name. Without `costs:`, *out is
// left as it was.
void ReadRateCard(ConfigMap root, const std::set<std::string>& service_ids,
                  const std::set<std::string>& unit_ids, RateCard* out);

}  // namespace plumbline::collector
