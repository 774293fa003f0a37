#include "collector/engine/cost.h"

#include <fmt/format.h>
#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "absl/time/time.h"
#include "common/strings.h"

namespace plumbline::collector {

namespace {

constexpr double kMsPerHour = 3600.0 * 1000.0;
constexpr double kMaxCost = 1e12;  // currency units

std::string FormatTime(int64_t ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

bool NonNegative(double v) { return std::isfinite(v) && v >= 0; }

// A quantity and its exact cost, summed over slices and rates.
struct Amount {
  double quantity = 0;
  double cost = 0;
};

struct Resource {
  const char* name;
  const char* unit;
  ChargeCategory category;
};
// The order lines appear in for each host.
constexpr Resource kCpu{"cpu", "core-hours", ChargeCategory::kUsage};
constexpr Resource kMemory{"memory", "GiB-hours", ChargeCategory::kUsage};
constexpr Resource kDisk{"disk", "GiB-months", ChargeCategory::kUsage};
constexpr Resource kNetwork{"network", "GiB", ChargeCategory::kUsage};
constexpr Resource kHost{"host", "host-hours", ChargeCategory::kFixed};
constexpr Resource kIdle{"cpu", "core-hours", ChargeCategory::kIdle};

struct PricedHost {
  Amount cpu, memory, disk, network, fixed, idle;
  double hours = 0;
};

absl::Status ValidateSlice(const HostUsage& h, const UsageSlice& s, TimeRange period) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        StrCat("host \"", h.host, "\": slice starting ", FormatTime(s.start_ms), ": ", why));
  };
  if (s.end_ms <= s.start_ms) return bad("ends before it starts");
  if (s.start_ms < period.from_ms || s.end_ms > period.to_ms) {
    return bad(StrCat("lies outside the period ", FormatTime(period.from_ms), " .. ",
                      FormatTime(period.to_ms)));
  }
  double length_hours = static_cast<double>(s.end_ms - s.start_ms) / kMsPerHour;
  if (!NonNegative(s.hours) || s.hours > length_hours * (1 + 1e-9)) {
    return bad(StrCat("hours observed must be in [0, ", length_hours, "], got ", s.hours));
  }
  if (!NonNegative(s.core_hours_used) || !NonNegative(s.memory_gb_hours) ||
      !NonNegative(s.disk_gb_months) || !NonNegative(s.network_gb)) {
    return bad("usage must be finite and not negative");
  }
  return absl::OkStatus();
}

// Applies every rate in force during the slice, prorated by time.
absl::Status PriceSlice(const RateCard& card, const HostUsage& h, const std::string& host_class,
                        const UsageSlice& s, PricedHost* out) {
  const double length = static_cast<double>(s.end_ms - s.start_ms);
  const double idle_core_hours = std::max(0.0, h.cpu_cores * s.hours - s.core_hours_used);
  auto no_rate = [&](int64_t at) {
    return absl::FailedPreconditionError(StrCat("host \"", h.host, "\": no rate in force at ",
                                                FormatTime(at), " (a gap in costs.rates)"));
  };
  int64_t at = s.start_ms;
  for (const Rate& r : card.rates) {  // sorted, not overlapping
    if (r.to_ms <= at) continue;
    if (r.from_ms >= s.end_ms) break;
    if (r.from_ms > at) return no_rate(at);
    int64_t until = std::min(s.end_ms, r.to_ms);
    double f = static_cast<double>(until - at) / length;
    auto add = [f](Amount& a, double quantity, double price) {
      a.quantity += f * quantity;
      a.cost += f * quantity * price;
    };
    add(out->cpu, s.core_hours_used, r.cpu_core_hour);
    add(out->memory, s.memory_gb_hours, r.memory_gb_hour);
    add(out->disk, s.disk_gb_months, r.disk_gb_month);
    add(out->network, s.network_gb, r.network_gb);
    add(out->fixed, s.hours, r.HostHour(host_class));
    add(out->idle, idle_core_hours, r.cpu_core_hour);
    at = until;
    if (at >= s.end_ms) break;
  }
  if (at < s.end_ms) return no_rate(at);
  out->hours += s.hours;
  return absl::OkStatus();
}

struct Share {
  std::string service;
  double share;
};

std::string BusinessUnitOf(const Catalog& catalog, const std::string& service) {
  const Service* s = catalog.FindService(service);
  if (s == nullptr) return "";
  if (s->business_unit.empty() && s->external) return "external";
  return s->business_unit;
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// At most 6 decimals, trailing zeros dropped: "0.5", "12", "0.333333".
std::string FormatQuantity(double q) {
  std::string s = fmt::format("{:.6f}", q);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  if (s == "-0") s = "0";
  return s;
}

}  // namespace

std::string_view ChargeCategoryName(ChargeCategory category) {
  switch (category) {
    case ChargeCategory::kUsage:
      return "usage";
    case ChargeCategory::kFixed:
      return "fixed";
    case ChargeCategory::kIdle:
      return "idle";
    case ChargeCategory::kUnallocated:
      return "unallocated";
  }
  return "unknown";
}

const ServiceCost* CostReport::FindService(const std::string& id) const {
  for (const ServiceCost& s : services) {
    if (s.service == id) return &s;
  }
  return nullptr;
}

const BusinessUnitCost* CostReport::FindBusinessUnit(const std::string& id) const {
  for (const BusinessUnitCost& b : business_units) {
    if (b.business_unit == id) return &b;
  }
  return nullptr;
}

const HostCost* CostReport::FindHost(const std::string& host) const {
  for (const HostCost& h : hosts) {
    if (h.host == host) return &h;
  }
  return nullptr;
}

std::vector<std::string> ClaimingServices(const Catalog& catalog, const std::string& host) {
  std::vector<std::string> out;
  for (const Service& s : catalog.services) {
    bool claims = false;
    for (const Component& c : s.components) {
      for (const std::string& glob : c.hosts) {
        if (fnmatch(glob.c_str(), host.c_str(), 0) == 0) claims = true;
      }
    }
    if (claims) out.push_back(s.id);
  }
  return out;
}

std::vector<int64_t> RoundLargestRemainder(const std::vector<double>& amounts, int minor_digits) {
  const double scale = std::pow(10.0, minor_digits);
  std::vector<int64_t> out(amounts.size());
  std::vector<double> remainder(amounts.size());
  long double exact = 0;
  int64_t floors = 0;
  for (size_t i = 0; i < amounts.size(); ++i) {
    double scaled = amounts[i] * scale;
    double whole = std::floor(scaled);
    out[i] = static_cast<int64_t>(whole);
    remainder[i] = scaled - whole;
    exact += static_cast<long double>(scaled);
    floors += out[i];
  }
  // Units still missing; never more than one per amount, never fewer than none.
  int64_t missing = std::llround(exact) - floors;
  missing = std::clamp<int64_t>(missing, 0, static_cast<int64_t>(amounts.size()));
  std::vector<size_t> order(amounts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return remainder[a] > remainder[b]; });
  for (int64_t k = 0; k < missing; ++k) out[order[static_cast<size_t>(k)]] += 1;
  return out;
}

std::vector<double> ReconcileDaily(const std::vector<double>& daily, int64_t total_cents,
                                   int minor_digits) {
  if (daily.empty() || total_cents < 0 ||
      std::any_of(daily.begin(), daily.end(), [](double d) { return d < 0; })) {
    return daily;
  }
  const double scale = std::pow(10.0, minor_digits);
  const double sum = std::accumulate(daily.begin(), daily.end(), 0.0);
  const double total = static_cast<double>(total_cents) / scale;
  std::vector<double> shares(daily.size());
  for (size_t i = 0; i < daily.size(); ++i) {
    shares[i] = sum > 0 ? total * daily[i] / sum : total / static_cast<double>(daily.size());
  }
  std::vector<int64_t> cents = RoundLargestRemainder(shares, minor_digits);
  std::vector<double> out(daily.size());
  for (size_t i = 0; i < daily.size(); ++i) out[i] = static_cast<double>(cents[i]) / scale;
  return out;
}

std::string FormatMoney(int64_t cents, int minor_digits) {
  bool negative = cents < 0;
  uint64_t v = negative ? static_cast<uint64_t>(-(cents + 1)) + 1 : static_cast<uint64_t>(cents);
  std::string digits = std::to_string(v);
  if (minor_digits > 0) {
    size_t d = static_cast<size_t>(minor_digits);
    if (digits.size() <= d) digits.insert(0, d + 1 - digits.size(), '0');
    digits.insert(digits.size() - d, ".");
  }
  return negative ? "-" + digits : digits;
}

absl::StatusOr<CostReport> AllocateCosts(const Catalog& catalog, const RateCard& card,
                                         TimeRange period, const std::vector<HostUsage>& hosts) {
  if (!card.defined || card.rates.empty()) {
    return absl::FailedPreconditionError("the catalog has no rate card (costs: with rates)");
  }
  if (period.to_ms <= period.from_ms) {
    return absl::InvalidArgumentError("the period must end after it starts");
  }
  CostReport report;
  report.period = period;
  report.currency = card.currency;
  report.minor_digits = CurrencyMinorDigits(card.currency);

  std::set<std::string> seen;
  for (const HostUsage& h : hosts) {
    if (!seen.insert(h.host).second) {
      return absl::InvalidArgumentError(StrCat("host \"", h.host, "\" appears twice"));
    }
    if (!NonNegative(h.cpu_cores)) {
      return absl::InvalidArgumentError(
          StrCat("host \"", h.host, "\": cpu cores must be finite and not negative"));
    }
    for (const std::string& s : h.services) {
      if (catalog.FindService(s) == nullptr) {
        return absl::InvalidArgumentError(
            StrCat("host \"", h.host, "\": unknown service \"", s, "\""));
      }
    }
    for (const auto& entry : h.driver) {
      if (!NonNegative(entry.second)) {
        return absl::InvalidArgumentError(StrCat("host \"", h.host, "\": driver of \"", entry.first,
                                                 "\" must be finite and not negative"));
      }
    }

    HostCost host;
    host.host = h.host;
    host.host_class = h.host_class.empty() ? card.HostClass(h.host) : h.host_class;
    host.cpu_cores = h.cpu_cores;
    PricedHost priced;
    for (const UsageSlice& s : h.slices) {
      RETURN_IF_ERROR(ValidateSlice(h, s, period));
      RETURN_IF_ERROR(PriceSlice(card, h, host.host_class, s, &priced));
    }
    host.hours = priced.hours;
    host.core_hours_used = priced.cpu.quantity;
    host.idle_core_hours = priced.idle.quantity;
    host.usage_cost = priced.cpu.cost + priced.memory.cost + priced.disk.cost + priced.network.cost;
    host.fixed_cost = priced.fixed.cost;
    host.idle_cost = priced.idle.cost;

    // Who pays, and in what shares.
    std::vector<Share> shares;
    std::string method;
    const HostRule* rule = card.SplitFor(h.host);
    if (rule != nullptr && rule->split == SplitRule::kWeight) {
      for (const auto& entry : rule->weights) shares.push_back({entry.first, entry.second});
      method = "weight";
    } else if (!h.services.empty()) {
      double driver_total = 0;
      if (rule != nullptr && rule->split == SplitRule::kDriver) {
        for (const std::string& s : h.services) {
          auto it = h.driver.find(s);
          if (it != h.driver.end()) driver_total += it->second;
        }
      }
      if (driver_total > 0) {
        for (const std::string& s : h.services) {
          auto it = h.driver.find(s);
          shares.push_back({s, it == h.driver.end() ? 0.0 : it->second / driver_total});
        }
        method = StrCat("driver:", rule->driver);
      } else {
        for (const std::string& s : h.services) {
          shares.push_back({s, 1.0 / static_cast<double>(h.services.size())});
        }
        if (rule != nullptr && rule->split == SplitRule::kDriver) {
          method = "even (no driver data)";
        } else {
          method = h.services.size() == 1 ? "direct" : "even";
        }
      }
    }
    host.unallocated = shares.empty();
    bool share_idle = rule != nullptr && rule->share_idle && !shares.empty();

    auto emit = [&](const Resource& resource, const Amount& amount, bool to_services) {
      if (amount.quantity == 0 && amount.cost == 0) return;
      CostLine base;
      base.host = h.host;
      base.host_class = host.host_class;
      base.resource = resource.name;
      base.unit = resource.unit;
      if (!to_services) {
        base.category = resource.category == ChargeCategory::kIdle ? ChargeCategory::kIdle
                                                                   : ChargeCategory::kUnallocated;
        base.quantity = amount.quantity;
        base.cost = amount.cost;
        base.allocation_method = "none";
        report.lines.push_back(std::move(base));
        return;
      }
      for (const Share& share : shares) {
        if (share.share <= 0) continue;
        CostLine line = base;
        line.category = resource.category;
        line.service = share.service;
        line.business_unit = BusinessUnitOf(catalog, share.service);
        line.quantity = amount.quantity * share.share;
        line.cost = amount.cost * share.share;
        line.allocation_method = method;
        report.lines.push_back(std::move(line));
      }
    };
    bool claimed = !shares.empty();
    emit(kCpu, priced.cpu, claimed);
    emit(kMemory, priced.memory, claimed);
    emit(kDisk, priced.disk, claimed);
    emit(kNetwork, priced.network, claimed);
    emit(kHost, priced.fixed, claimed);
    emit(kIdle, priced.idle, share_idle);
    report.hosts.push_back(std::move(host));
  }

  // Round every line; roll the rounded lines up, so every level adds up.
  std::vector<double> costs;
  costs.reserve(report.lines.size());
  double sum = 0;
  for (const CostLine& l : report.lines) {
    costs.push_back(l.cost);
    sum += l.cost;
  }
  // Beyond this, doubles no longer hold every cent (and minor units would
  // overflow int64): refuse rather than round wrongly.
  if (!(sum < kMaxCost)) {
    return absl::OutOfRangeError(
        StrCat("the period's cost (", sum, ") is too large to account for to the cent"));
  }
  std::vector<int64_t> cents = RoundLargestRemainder(costs, report.minor_digits);
  std::map<std::string, ServiceCost> by_service;
  std::map<std::string, int64_t> by_unit;
  std::map<std::string, int64_t> by_host;
  for (size_t i = 0; i < report.lines.size(); ++i) {
    CostLine& l = report.lines[i];
    l.cents = cents[i];
    report.total += l.cost;
    report.total_cents += l.cents;
    by_host[l.host] += l.cents;
    if (!l.service.empty()) {
      report.allocated_cents += l.cents;
      ServiceCost& s = by_service[l.service];
      s.service = l.service;
      s.business_unit = l.business_unit;
      s.cost += l.cost;
      s.cents += l.cents;
      by_unit[l.business_unit] += l.cents;
    } else if (l.category == ChargeCategory::kIdle) {
      report.idle_cents += l.cents;
    } else {
      report.unallocated_cents += l.cents;
    }
  }
  for (HostCost& h : report.hosts) h.cents = by_host[h.host];
  for (const Service& s : catalog.services) {
    auto it = by_service.find(s.id);
    if (it != by_service.end()) report.services.push_back(it->second);
  }
  for (const BusinessUnit& b : catalog.business_units) {
    auto it = by_unit.find(b.id);
    if (it != by_unit.end()) {
      report.business_units.push_back({b.id, it->second});
      by_unit.erase(it);
    }
  }
  for (const auto& entry : by_unit) report.business_units.push_back({entry.first, entry.second});
  return report;
}

std::vector<UnitEconomics> ComputeUnitEconomics(
    const CostReport& report, const std::map<std::string, ServiceActivity>& activity) {
  const double unit = std::pow(10.0, report.minor_digits);
  std::vector<UnitEconomics> out;
  auto make = [&](const std::string& service, int64_t cents) {
    UnitEconomics u;
    u.service = service;
    u.cost = static_cast<double>(cents) / unit;
    auto it = activity.find(service);
    if (it != activity.end()) {
      u.transactions = it->second.transactions;
      u.revenue = it->second.revenue;
    }
    if (u.transactions > 0) u.cost_per_1000_transactions = u.cost * 1000.0 / u.transactions;
    if (u.cost > 0) u.value_per_cost = u.revenue / u.cost;
    out.push_back(std::move(u));
  };
  for (const ServiceCost& s : report.services) make(s.service, s.cents);
  for (const auto& entry : activity) {
    if (report.FindService(entry.first) == nullptr) make(entry.first, 0);
  }
  return out;
}

std::vector<BusinessUnitEconomics> ComputeBusinessUnitEconomics(
    const CostReport& report, const std::vector<UnitEconomics>& services, const Catalog& catalog) {
  const double unit = std::pow(10.0, report.minor_digits);
  std::vector<BusinessUnitEconomics> out;
  auto find = [&](const std::string& id) -> BusinessUnitEconomics& {
    for (BusinessUnitEconomics& b : out) {
      if (b.business_unit == id) return b;
    }
    out.emplace_back().business_unit = id;
    return out.back();
  };
  for (const BusinessUnitCost& b : report.business_units) {
    find(b.business_unit).cost = static_cast<double>(b.cents) / unit;
  }
  for (const UnitEconomics& u : services) {
    const std::string unit_id = BusinessUnitOf(catalog, u.service);
    if (unit_id.empty() || (u.transactions == 0 && u.revenue == 0)) continue;
    BusinessUnitEconomics& b = find(unit_id);
    b.transactions += u.transactions;
    b.revenue += u.revenue;
  }
  for (BusinessUnitEconomics& b : out) {
    if (b.transactions > 0) b.cost_per_1000_transactions = b.cost * 1000.0 / b.transactions;
    if (b.cost > 0) b.value_per_cost = b.revenue / b.cost;
  }
  return out;
}

Change MakeChange(double previous, double current) {
  Change c;
  c.previous = previous;
  c.current = current;
  c.delta = current - previous;
  if (previous != 0) c.percent = c.delta / previous * 100.0;
  return c;
}

CostComparison CompareCosts(const CostReport& previous, const CostReport& current) {
  auto money = [](const CostReport& r, int64_t cents) {
    return static_cast<double>(cents) / std::pow(10.0, r.minor_digits);
  };
  CostComparison out;
  out.total =
      MakeChange(money(previous, previous.total_cents), money(current, current.total_cents));
  std::set<std::string> services, units;
  for (const CostReport* r : {&previous, &current}) {
    for (const ServiceCost& s : r->services) services.insert(s.service);
    for (const BusinessUnitCost& b : r->business_units) units.insert(b.business_unit);
  }
  for (const std::string& s : services) {
    const ServiceCost* p = previous.FindService(s);
    const ServiceCost* c = current.FindService(s);
    out.services[s] = MakeChange(p == nullptr ? 0 : money(previous, p->cents),
                                 c == nullptr ? 0 : money(current, c->cents));
  }
  for (const std::string& b : units) {
    const BusinessUnitCost* p = previous.FindBusinessUnit(b);
    const BusinessUnitCost* c = current.FindBusinessUnit(b);
    out.business_units[b] = MakeChange(p == nullptr ? 0 : money(previous, p->cents),
                                       c == nullptr ? 0 : money(current, c->cents));
  }
  return out;
}

std::map<std::string, Change> CompareUnitCosts(const std::vector<UnitEconomics>& previous,
                                               const std::vector<UnitEconomics>& current) {
  std::map<std::string, Change> out;
  for (const UnitEconomics& c : current) {
    if (!c.cost_per_1000_transactions) continue;
    for (const UnitEconomics& p : previous) {
      if (p.service == c.service && p.cost_per_1000_transactions) {
        out[c.service] = MakeChange(*p.cost_per_1000_transactions, *c.cost_per_1000_transactions);
      }
    }
  }
  return out;
}

SpendForecast ForecastSpend(const std::vector<double>& daily_spend, int days_in_period) {
  SpendForecast f;
  f.days_observed = static_cast<int>(daily_spend.size());
  f.days_in_period = std::max(days_in_period, f.days_observed);
  const double n = static_cast<double>(daily_spend.size());
  for (double y : daily_spend) f.spend_to_date += y;
  if (daily_spend.empty()) return f;
  // Ordinary least squares of y on x = 0 .. n-1.
  double mean_x = (n - 1) / 2.0, mean_y = f.spend_to_date / n;
  double sxx = 0, sxy = 0;
  for (size_t i = 0; i < daily_spend.size(); ++i) {
    double dx = static_cast<double>(i) - mean_x;
    sxx += dx * dx;
    sxy += dx * (daily_spend[i] - mean_y);
  }
  f.slope = sxx > 0 ? sxy / sxx : 0;
  f.intercept = mean_y - f.slope * mean_x;
  double squares = 0;
  for (size_t i = 0; i < daily_spend.size(); ++i) {
    double residual = daily_spend[i] - (f.intercept + f.slope * static_cast<double>(i));
    squares += residual * residual;
  }
  f.residual_rmse = std::sqrt(squares / n);
  for (int d = f.days_observed; d < f.days_in_period; ++d) {
    f.projected_remaining += std::max(0.0, f.intercept + f.slope * static_cast<double>(d));
  }
  f.projected_total = f.spend_to_date + f.projected_remaining;
  return f;
}

ForecastAccuracy BacktestForecast(const std::vector<std::vector<double>>& completed_periods,
                                  int min_days) {
  ForecastAccuracy a;
  double absolute = 0, percent = 0;
  int percent_count = 0;
  for (const std::vector<double>& period : completed_periods) {
    const int days = static_cast<int>(period.size());
    const double actual = std::accumulate(period.begin(), period.end(), 0.0);
    for (int k = std::max(min_days, 1); k < days; ++k) {
      std::vector<double> seen(period.begin(), period.begin() + k);
      double error = std::fabs(ForecastSpend(seen, days).projected_total - actual);
      absolute += error;
      ++a.forecasts;
      if (actual > 0) {
        double p = error / actual * 100.0;
        percent += p;
        ++percent_count;
        a.max_absolute_percent_error = std::max(a.max_absolute_percent_error, p);
      }
    }
  }
  if (a.forecasts > 0) a.mean_absolute_error = absolute / a.forecasts;
  if (percent_count > 0) a.mean_absolute_percent_error = percent / percent_count;
  return a;
}

BudgetStatus EvaluateBudget(const Budget& budget, const SpendForecast& forecast,
                            const std::string& currency) {
  BudgetStatus b;
  b.business_unit = budget.business_unit;
  b.year = budget.year;
  b.month = budget.month;
  b.budget = budget.amount;
  b.spend_to_date = forecast.spend_to_date;
  b.projected = forecast.projected_total;
  b.projected_over = b.projected - b.budget;
  b.alert = b.projected > b.budget;
  int digits = CurrencyMinorDigits(currency);
  double unit = std::pow(10.0, digits);
  auto money = [&](double v) {
    return StrCat(currency, " ", FormatMoney(std::llround(v * unit), digits));
  };
  std::string month = fmt::format("{:04d}-{:02d}", budget.year, budget.month);
  if (b.alert) {
    b.message =
        StrCat(budget.business_unit, ": projected spend ", money(b.projected), " for ", month,
               " exceeds the budget of ", money(b.budget), " by ", money(b.projected_over),
               b.budget > 0 ? fmt::format(" ({:.1f}%)", b.projected_over / b.budget * 100)
                            : std::string());
  } else {
    b.message = StrCat(budget.business_unit, ": projected spend ", money(b.projected), " for ",
                       month, " is within the budget of ", money(b.budget));
  }
  return b;
}

SupplierCredit ComputeSupplierCredit(const SupplierTerms& terms, double attainment) {
  SupplierCredit c;
  c.service = terms.service;
  c.attainment = attainment;
  c.sla_percent = terms.sla_percent;
  c.breached = attainment < terms.sla_percent / 100.0 - 1e-12;
  if (c.breached) c.credit = terms.credit_percent / 100.0 * terms.monthly_fee;
  return c;
}

std::string CsvField(std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string FocusCsv(const CostReport& report) {
  std::string out =
      "BillingPeriodStart,BillingPeriodEnd,BusinessUnit,Service,ResourceId,ChargeCategory,"
      "ConsumedQuantity,ConsumedUnit,EffectiveCost,BillingCurrency,AllocationMethod,Tags\r\n";
  const std::string start = FormatTime(report.period.from_ms);
  const std::string end = FormatTime(report.period.to_ms);
  for (const CostLine& l : report.lines) {
    std::string tags = StrCat("{\"resource\":", JsonString(l.resource));
    if (!l.host_class.empty()) StrAppend(&tags, ",\"host_class\":", JsonString(l.host_class));
    tags += "}";
    std::vector<std::string> fields = {start,
                                       end,
                                       l.business_unit,
                                       l.service,
                                       l.host,
                                       std::string(ChargeCategoryName(l.category)),
                                       FormatQuantity(l.quantity),
                                       l.unit,
                                       FormatMoney(l.cents, report.minor_digits),
                                       report.currency,
                                       l.allocation_method,
                                       tags};
    for (size_t i = 0; i < fields.size(); ++i) {
      if (i > 0) out += ',';
      out += CsvField(fields[i]);
    }
    out += "\r\n";
  }
  return out;
}

}  // namespace plumbline::collector
