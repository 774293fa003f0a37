#include "collector/catalog/rate_card.h"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/labels.h"
#include "common/strings.h"

namespace plumbline::collector {

namespace {

struct Currency {
  std::string_view code;
  int minor_digits;
};

// Active ISO 4217 codes (funds codes and precious metals left out).
constexpr Currency kCurrencies[] = {
    {"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"ANG", 2}, {"AOA", 2}, {"ARS", 2}, {"AUD", 2},
    {"AWG", 2}, {"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2}, {"BGN", 2}, {"BHD", 3}, {"BIF", 0},
    {"BMD", 2}, {"BND", 2}, {"BOB", 2}, {"BRL", 2}, {"BSD", 2}, {"BTN", 2}, {"BWP", 2}, {"BYN", 2},
    {"BZD", 2}, {"CAD", 2}, {"CDF", 2}, {"CHF", 2}, {"CLP", 0}, {"CNY", 2}, {"COP", 2}, {"CRC", 2},
    {"CUP", 2}, {"CVE", 2}, {"CZK", 2}, {"DJF", 0}, {"DKK", 2}, {"DOP", 2}, {"DZD", 2}, {"EGP", 2},
    {"ERN", 2}, {"ETB", 2}, {"EUR", 2}, {"FJD", 2}, {"FKP", 2}, {"GBP", 2}, {"GEL", 2}, {"GHS", 2},
    {"GIP", 2}, {"GMD", 2}, {"GNF", 0}, {"GTQ", 2}, {"GYD", 2}, {"HKD", 2}, {"HNL", 2}, {"HTG", 2},
    {"HUF", 2}, {"IDR", 2}, {"ILS", 2}, {"INR", 2}, {"IQD", 3}, {"IRR", 2}, {"ISK", 0}, {"JMD", 2},
    {"JOD", 3}, {"JPY", 0}, {"KES", 2}, {"KGS", 2}, {"KHR", 2}, {"KMF", 0}, {"KPW", 2}, {"KRW", 0},
    {"KWD", 3}, {"KYD", 2}, {"KZT", 2}, {"LAK", 2}, {"LBP", 2}, {"LKR", 2}, {"LRD", 2}, {"LSL", 2},
    {"LYD", 3}, {"MAD", 2}, {"MDL", 2}, {"MGA", 2}, {"MKD", 2}, {"MMK", 2}, {"MNT", 2}, {"MOP", 2},
    {"MRU", 2}, {"MUR", 2}, {"MVR", 2}, {"MWK", 2}, {"MXN", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2},
    {"NGN", 2}, {"NIO", 2}, {"NOK", 2}, {"NPR", 2}, {"NZD", 2}, {"OMR", 3}, {"PAB", 2}, {"PEN", 2},
    {"PGK", 2}, {"PHP", 2}, {"PKR", 2}, {"PLN", 2}, {"PYG", 0}, {"QAR", 2}, {"RON", 2}, {"RSD", 2},
    {"RUB", 2}, {"RWF", 0}, {"SAR", 2}, {"SBD", 2}, {"SCR", 2}, {"SDG", 2}, {"SEK", 2}, {"SGD", 2},
    {"SHP", 2}, {"SLE", 2}, {"SOS", 2}, {"SRD", 2}, {"SSP", 2}, {"STN", 2}, {"SVC", 2}, {"SYP", 2},
    {"SZL", 2}, {"THB", 2}, {"TJS", 2}, {"TMT", 2}, {"TND", 3}, {"TOP", 2}, {"TRY", 2}, {"TTD", 2},
    {"TWD", 2}, {"TZS", 2}, {"UAH", 2}, {"UGX", 0}, {"USD", 2}, {"UYU", 2}, {"UZS", 2}, {"VES", 2},
    {"VND", 0}, {"VUV", 0}, {"WST", 2}, {"XAF", 0}, {"XCD", 2}, {"XOF", 0}, {"XPF", 0}, {"YER", 2},
    {"ZAR", 2}, {"ZMW", 2}, {"ZWL", 2},
};

const Currency* FindCurrency(std::string_view code) {
  for (const Currency& c : kCurrencies) {
    if (c.code == code) return &c;
  }
  return nullptr;
}

bool GlobMatches(const std::string& glob, const std::string& name) {
  return fnmatch(glob.c_str(), name.c_str(), 0) == 0;
}

std::string FormatTime(int64_t ms) {
  if (ms == std::numeric_limits<int64_t>::max()) return "open-ended";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

// RFC 3339 ("2026-11-01T00:00:00Z"); false (with an error recorded) if the
// key is present and malformed, or absent.
bool ReadTime(ConfigMap& m, std::string_view key, int64_t* out_ms) {
  std::string text;
  m.String(key, &text);
  if (text.empty()) return false;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    m.Error(key,
            StrCat("expected an RFC 3339 time such as 2026-11-01T00:00:00Z, got \"", text, "\""));
    return false;
  }
  static const absl::Time kEarliest = absl::UnixEpoch();
  static const absl::Time kLatest =
      absl::FromCivil(absl::CivilSecond(10000, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  if (t < kEarliest || t >= kLatest) {
    m.Error(key, StrCat("must be between 1970 and 9999, got \"", text, "\""));
    return false;
  }
  *out_ms = absl::ToUnixMillis(t);
  return true;
}

// A number that must not be negative. Returns false when absent or invalid.
bool ReadNonNegative(ConfigMap& m, std::string_view key, std::string_view what, double* out) {
  if (!m.Has(key)) return false;
  double v = std::nan("");
  m.Double(key, &v, -1e300, 1e300);  // a type error is recorded by Double
  if (std::isnan(v)) return false;
  if (v < 0) {
    m.Error(key, StrCat(what, " must not be negative, got ", v));
    return false;
  }
  *out = v;
  return true;
}

// `{name: number, ...}`: each value checked where it stands, so an error names
// its own line and key. Returns false if any entry was invalid.
bool ReadNumberMap(ConfigMap& m, std::string_view key, std::string_view what,
                   std::map<std::string, double>* out) {
  std::map<std::string, std::string> raw;
  m.StringMap(key, &raw);        // records a type error for anything but a mapping of scalars
  if (raw.empty()) return true;  // absent, empty, or a type error already recorded
  ConfigMap sub = m.Map(key);
  bool ok = true;
  for (const auto& entry : raw) {
    double v = 0;
    if (ReadNonNegative(sub, entry.first, what, &v)) {
      (*out)[entry.first] = v;
    } else {
      ok = false;
    }
  }
  return ok;
}

void ReadRate(ConfigMap& m, Rate* rate, bool* valid_range) {
  m.Require("from");
  bool has_from = ReadTime(m, "from", &rate->from_ms);
  bool to_ok = true;
  if (m.Has("to")) {
    to_ok = ReadTime(m, "to", &rate->to_ms);
    if (has_from && to_ok && rate->to_ms <= rate->from_ms) {
      m.Error("to", "must be after from");
      to_ok = false;
    }
  }
  *valid_range = has_from && to_ok;
  ReadNonNegative(m, "cpu_core_hour", "a price", &rate->cpu_core_hour);
  ReadNonNegative(m, "memory_gb_hour", "a price", &rate->memory_gb_hour);
  ReadNonNegative(m, "disk_gb_month", "a price", &rate->disk_gb_month);
  ReadNonNegative(m, "network_gb", "a price", &rate->network_gb);
  ReadNonNegative(m, "host_hour", "a price", &rate->host_hour);
  ReadNumberMap(m, "host_classes", "a price", &rate->host_classes);
  for (const auto& entry : rate->host_classes) {
    if (!IsValidCatalogId(entry.first)) {
      m.Error("host_classes",
              StrCat("\"", entry.first,
                     "\" is not a valid class name (letters, digits, - _ . ; at most 64)"));
    }
  }
}

void ReadHostRule(ConfigMap& m, const std::set<std::string>& service_ids,
                  const std::set<std::string>& known_classes, HostRule* rule) {
  m.Require("host");
  m.String("host", &rule->host);
  m.String("class", &rule->host_class);
  if (m.Has("class") && !rule->host_class.empty()) {
    if (!IsValidCatalogId(rule->host_class)) {
      m.Error("class",
              StrCat("\"", rule->host_class,
                     "\" is not a valid class name (letters, digits, - _ . ; at most 64)"));
    } else if (known_classes.count(rule->host_class) == 0) {
      m.Error("class", StrCat("class \"", rule->host_class,
                              "\" has no price in any costs.rates[].host_classes"));
    }
  }
  std::string split;
  m.String("split", &split);
  rule->has_split = m.Has("split");
  if (split == "even") {
    rule->split = SplitRule::kEven;
  } else if (split == "weight") {
    rule->split = SplitRule::kWeight;
  } else if (split == "driver") {
    rule->split = SplitRule::kDriver;
  } else if (rule->has_split) {
    m.Error("split", StrCat("expected even, weight or driver, got \"", split, "\""));
    rule->has_split = false;
  }

  bool weight_rule = rule->has_split && rule->split == SplitRule::kWeight;
  if (weight_rule) m.Require("weights");
  if (m.Has("weights")) {
    if (!weight_rule) {
      m.Error("weights", "weights are only used with split: weight");
    } else {
      bool values_ok = ReadNumberMap(m, "weights", "a weight", &rule->weights);
      bool names_ok = true;
      if (!rule->weights.empty()) {
        ConfigMap weights = m.Map("weights");
        for (const auto& entry : rule->weights) {
          if (service_ids.count(entry.first) == 0) {
            weights.Error(entry.first, StrCat("unknown service \"", entry.first, "\""));
            names_ok = false;
          }
        }
      }
      double sum = 0;
      std::string terms;
      for (const auto& entry : rule->weights) {
        sum += entry.second;
        StrAppend(&terms, terms.empty() ? "" : " + ", entry.first, " ", entry.second);
      }
      if (values_ok && rule->weights.empty()) {
        m.Error("weights", "needs at least one service and its share");
      } else if (values_ok && names_ok && std::fabs(sum - 1) > 1e-9) {
        m.Error("weights", StrCat("must sum to 1, got ", sum, " (", terms, ")"));
      }
    }
  }

  bool driver_rule = rule->has_split && rule->split == SplitRule::kDriver;
  if (driver_rule) m.Require("driver");
  m.String("driver", &rule->driver);
  if (m.Has("driver")) {
    if (!driver_rule) {
      m.Error("driver", "a driver is only used with split: driver");
    } else {
      absl::Status s = ValidateMetricName(rule->driver);
      if (!s.ok()) m.Error("driver", ToStd(s.message()));
    }
  }

  std::string idle = "report";
  m.String("idle", &idle);
  if (idle == "share") {
    rule->share_idle = true;
  } else if (idle != "report") {
    m.Error("idle", StrCat("expected report or share, got \"", idle, "\""));
  }
  if (m.Has("idle") && !m.Has("split")) {
    m.Error("idle", "idle is split like the rest of the host: give split in the same entry");
  }
  if (m.Has("host") && !m.Has("class") && !m.Has("split")) {
    m.Error("", "a host entry needs class or split");
  }
}

// "2026-11" -> year and month; false if malformed.
bool ParseMonth(const std::string& text, int* year, int* month) {
  if (text.size() != 7 || text[4] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6}) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  *year = std::stoi(text.substr(0, 4));
  *month = std::stoi(text.substr(5, 2));
  return *month >= 1 && *month <= 12 && *year >= 1970;
}

int64_t MonthStartMs(int year, int month) {
  return absl::ToUnixMillis(absl::FromCivil(absl::CivilMonth(year, month), absl::UTCTimeZone()));
}

void ReadBudget(ConfigMap& m, const std::set<std::string>& unit_ids, Budget* b) {
  m.Require("business_unit");
  m.String("business_unit", &b->business_unit);
  if (!b->business_unit.empty() && unit_ids.count(b->business_unit) == 0) {
    m.Error("business_unit", StrCat("unknown business unit \"", b->business_unit, "\""));
  }
  m.Require("month");
  std::string month;
  m.String("month", &month);
  if (m.Has("month")) {
    if (!ParseMonth(month, &b->year, &b->month)) {
      m.Error("month", StrCat("expected a month such as 2026-11, got \"", month, "\""));
    } else {
      b->period.from_ms = MonthStartMs(b->year, b->month);
      b->period.to_ms =
          b->month == 12 ? MonthStartMs(b->year + 1, 1) : MonthStartMs(b->year, b->month + 1);
    }
  }
  m.Require("amount");
  ReadNonNegative(m, "amount", "a budget", &b->amount);
}

void ReadSupplier(ConfigMap& m, const std::set<std::string>& service_ids, SupplierTerms* s) {
  m.Require("service");
  m.String("service", &s->service);
  if (!s->service.empty() && service_ids.count(s->service) == 0) {
    m.Error("service", StrCat("unknown service \"", s->service, "\""));
  }
  m.Require("sla");
  if (m.Has("sla")) {
    double sla = std::nan("");
    m.Double("sla", &sla, -1e300, 1e300);
    if (!std::isnan(sla) && !(sla > 0 && sla <= 100)) {
      m.Error("sla", StrCat("must be in (0, 100] (percent), got ", sla));
    } else if (!std::isnan(sla)) {
      s->sla_percent = sla;
    }
  }
  if (m.Has("credit_percent")) {
    double credit = std::nan("");
    m.Double("credit_percent", &credit, -1e300, 1e300);
    if (!std::isnan(credit) && !(credit >= 0 && credit <= 100)) {
      m.Error("credit_percent",
              StrCat("must be in [0, 100] (percent of the monthly fee), got ", credit));
    } else if (!std::isnan(credit)) {
      s->credit_percent = credit;
    }
  }
  ReadNonNegative(m, "monthly_fee", "a fee", &s->monthly_fee);
}

}  // namespace

double Rate::HostHour(const std::string& host_class) const {
  if (!host_class.empty()) {
    auto it = host_classes.find(host_class);
    if (it != host_classes.end()) return it->second;
  }
  return host_hour;
}

const Rate* RateCard::RateAt(int64_t ms) const {
  for (const Rate& r : rates) {
    if (r.Contains(ms)) return &r;
  }
  return nullptr;
}

std::string RateCard::HostClass(const std::string& host) const {
  for (const HostRule& r : hosts) {
    if (!r.host_class.empty() && GlobMatches(r.host, host)) return r.host_class;
  }
  return "";
}

const HostRule* RateCard::SplitFor(const std::string& host) const {
  for (const HostRule& r : hosts) {
    if (r.has_split && GlobMatches(r.host, host)) return &r;
  }
  return nullptr;
}

const Budget* RateCard::FindBudget(const std::string& business_unit, int year, int month) const {
  for (const Budget& b : budgets) {
    if (b.business_unit == business_unit && b.year == year && b.month == month) return &b;
  }
  return nullptr;
}

const SupplierTerms* RateCard::FindSupplier(const std::string& service) const {
  for (const SupplierTerms& s : suppliers) {
    if (s.service == service) return &s;
  }
  return nullptr;
}

bool IsKnownCurrency(std::string_view code) { return FindCurrency(code) != nullptr; }

int CurrencyMinorDigits(std::string_view code) {
  const Currency* c = FindCurrency(code);
  return c == nullptr ? 2 : c->minor_digits;
}

void ReadRateCard(ConfigMap root, const std::set<std::string>& service_ids,
                  const std::set<std::string>& unit_ids, RateCard* out) {
  if (!root.Has("costs")) return;
  ConfigMap costs = root.Map("costs");
  RateCard card;
  card.defined = true;

  costs.Require("currency");
  costs.String("currency", &card.currency);
  if (costs.Has("currency") && !IsKnownCurrency(card.currency)) {
    costs.Error("currency", StrCat("unknown currency \"", card.currency,
                                   "\" (an ISO 4217 code such as EUR, USD or GBP)"));
  }

  // Rates: read in file order, then checked for overlaps in time order.
  costs.Require("rates");
  std::vector<ConfigMap> rate_maps = costs.MapList("rates");
  std::vector<Rate> rates(rate_maps.size());
  std::vector<size_t> order;
  for (size_t i = 0; i < rate_maps.size(); ++i) {
    bool valid_range = false;
    ReadRate(rate_maps[i], &rates[i], &valid_range);
    if (valid_range) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return rates[a].from_ms < rates[b].from_ms; });
  for (size_t k = 1; k < order.size(); ++k) {
    const Rate& before = rates[order[k - 1]];
    const Rate& after = rates[order[k]];
    if (before.to_ms > after.from_ms) {
      rate_maps[order[k]].Error(
          "from", StrCat(FormatTime(after.from_ms), " overlaps ", rate_maps[order[k - 1]].path(),
                         " (", FormatTime(before.from_ms), " .. ", FormatTime(before.to_ms), ")"));
    }
  }
  std::set<std::string> classes;
  for (size_t i : order) {
    for (const auto& entry : rates[i].host_classes) classes.insert(entry.first);
    card.rates.push_back(rates[i]);
  }
  if (rate_maps.empty() && costs.Has("rates")) costs.Error("rates", "needs at least one rate");

  for (ConfigMap m : costs.MapList("hosts")) {
    HostRule rule;
    ReadHostRule(m, service_ids, classes, &rule);
    card.hosts.push_back(std::move(rule));
  }

  for (ConfigMap m : costs.MapList("budgets")) {
    Budget b;
    ReadBudget(m, unit_ids, &b);
    if (b.month != 0 && !b.business_unit.empty() &&
        card.FindBudget(b.business_unit, b.year, b.month) != nullptr) {
      m.Error("month", StrCat("duplicate budget for \"", b.business_unit, "\" in ", b.year, "-",
                              b.month < 10 ? "0" : "", b.month));
    }
    card.budgets.push_back(std::move(b));
  }

  for (ConfigMap m : costs.MapList("suppliers")) {
    SupplierTerms s;
    ReadSupplier(m, service_ids, &s);
    if (!s.service.empty() && card.FindSupplier(s.service) != nullptr) {
      m.Error("service", StrCat("duplicate supplier terms for \"", s.service, "\""));
    }
    card.suppliers.push_back(std::move(s));
  }
  *out = std::move(card);
}

}  // namespace plumbline::collector
