#include "collector/engine/chargeback.h"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <set>
#include <span>
#include <unordered_map>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "collector/engine/slo_engine.h"

namespace plumbline::collector {

namespace {

constexpr int64_t kMinute = 60000;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
constexpr double kGiB = 1024.0 * 1024 * 1024;

int64_t AlignDown(int64_t ms, int64_t unit) { return ms - ((ms % unit) + unit) % unit; }

std::string LabelOf(const LabelSet& labels, const std::string& name) {
  for (const auto& [k, v] : labels) {
    if (k == name) return v;
  }
  return "";
}

// Per host, per bucket start: a value from each matched series, combined.
// Buckets are UTC hours, the first and last clipped to the period. Looked up
// once per host, then per hour (a month of a fleet: millions of lookups).
using Buckets = std::unordered_map<int64_t, double>;
using HostBuckets = std::unordered_map<std::string, Buckets>;

enum class Combine { kIncrease, kMean, kMax };

absl::StatusOr<HostBuckets> PerHost(Store& store, const SeriesSelector& selector, int64_t from,
                                    int64_t to, Combine combine) {
  ASSIGN_OR_RETURN(std::vector<SeriesAggregates> series,
                   CalendarAggregates(store, selector, from, to, kHour));
  HostBuckets out;
  for (const SeriesAggregates& s : series) {
    const std::string host = LabelOf(s.series.labels, "host");
    if (host.empty()) continue;
    Buckets& buckets = out[host];
    for (const Aggregate& a : s.buckets) {
      double& v = buckets[a.start_ms];
      switch (combine) {
        case Combine::kIncrease:
          v += a.increase;
          break;
        case Combine::kMean:
          v += a.Mean();
          break;  // summed over series (mounts)
        case Combine::kMax:
          v = std::max(v, a.max);
          break;
      }
    }
  }
  return out;
}

const Buckets& Of(const HostBuckets& b, const std::string& host) {
  static const Buckets kNone;
  auto h = b.find(host);
  return h == b.end() ? kNone : h->second;
}

double At(const Buckets& b, int64_t bucket) {
  auto v = b.find(bucket);
  return v == b.end() ? 0 : v->second;
}

bool IsCalendarMonth(TimeRange r) {
  absl::TimeZone utc = absl::UTCTimeZone();
  absl::CivilSecond from = absl::ToCivilSecond(absl::FromUnixMillis(r.from_ms), utc);
  absl::CivilMonth month(from);
  return absl::ToUnixMillis(absl::FromCivil(month, utc)) == r.from_ms &&
         absl::ToUnixMillis(absl::FromCivil(month + 1, utc)) == r.to_ms;
}

// Per host: its slices of [from, to) (UTC hours, the ends clipped), from
// the hourly aggregates of its usage series, and the most cores seen.
struct MeasuredHost {
  double cores = 0;
  std::vector<UsageSlice> slices;
};
using Measured = std::map<std::string, MeasuredHost>;

absl::StatusOr<Measured> MeasureHosts(Store& store, int64_t from, int64_t to) {
  // Hours observed and cores, from host_cpu_count (one sample per tick).
  ASSIGN_OR_RETURN(std::vector<SeriesAggregates> counts,
                   CalendarAggregates(store, {"host_cpu_count", {}}, from, to, kHour));
  std::map<std::string, std::map<int64_t, std::pair<double, double>>> observed;  // hours, cores
  for (const SeriesAggregates& s : counts) {
    const std::string host = LabelOf(s.series.labels, "host");
    if (host.empty()) continue;
    auto& host_observed = observed[host];
    for (const Aggregate& a : s.buckets) {
      double span_ms = a.count >= 2
                           ? static_cast<double>(a.last_ms - a.first_ms) *
                                 static_cast<double>(a.count) / static_cast<double>(a.count - 1)
                           : static_cast<double>(kMinute);
      const int64_t slice_end = std::min(AlignDown(a.start_ms, kHour) + kHour, to);
      span_ms = std::min(span_ms, static_cast<double>(slice_end - a.start_ms));
      auto& [hours, cores] = host_observed[a.start_ms];
      hours = std::max(hours, span_ms / static_cast<double>(kHour));
      cores = std::max(cores, a.max);
    }
  }
  using Op = LabelMatcher::Op;
  ASSIGN_OR_RETURN(HostBuckets busy, PerHost(store,
                                             {"host_cpu_seconds_total",
                                              {{"mode", Op::kNotEqual, "idle"},
                                               {"mode", Op::kNotEqual, "iowait"},
                                               {"cpu", Op::kEqual, ""}}},
                                             from, to, Combine::kIncrease));
  ASSIGN_OR_RETURN(HostBuckets memory,
                   PerHost(store, {"host_memory_used_bytes", {}}, from, to, Combine::kMean));
  ASSIGN_OR_RETURN(HostBuckets disk,
                   PerHost(store, {"host_filesystem_used_bytes", {}}, from, to, Combine::kMean));
  ASSIGN_OR_RETURN(HostBuckets rx, PerHost(store, {"host_network_receive_bytes_total", {}}, from,
                                           to, Combine::kIncrease));
  ASSIGN_OR_RETURN(HostBuckets tx, PerHost(store, {"host_network_transmit_bytes_total", {}}, from,
                                           to, Combine::kIncrease));

  Measured out;
  for (const auto& [host, hours_by_bucket] : observed) {
    MeasuredHost& m = out[host];
    const Buckets& host_busy = Of(busy, host);
    const Buckets& host_memory = Of(memory, host);
    const Buckets& host_disk = Of(disk, host);
    const Buckets& host_rx = Of(rx, host);
    const Buckets& host_tx = Of(tx, host);
    m.slices.reserve(hours_by_bucket.size());
    for (const auto& [bucket, hc] : hours_by_bucket) {
      const auto& [hours, cores] = hc;
      m.cores = std::max(m.cores, cores);
      UsageSlice slice;
      slice.start_ms = bucket;
      slice.end_ms = std::min(AlignDown(bucket, kHour) + kHour, to);
      slice.hours = hours;
      slice.core_hours_used = At(host_busy, bucket) / 3600;
      slice.memory_gb_hours = At(host_memory, bucket) / kGiB * hours;
      slice.disk_gb_months = At(host_disk, bucket) / kGiB * hours / kHoursPerBillingMonth;
      slice.network_gb = (At(host_rx, bucket) + At(host_tx, bucket)) / kGiB;
      m.slices.push_back(slice);
    }
  }
  return out;
}

// One host's whole UTC day, its hourly slices summed into one. Priced at
// one rate, the day slice costs what its hours cost: every quantity is a
// sum, and so is the idle CPU when no hour used more than `cores` x its
// hours (`linear`): then sum(max(0, C h_i - u_i)) = C sum(h_i) - sum(u_i)
// for the host's capacity C over any period, which is at least `cores`.
struct HostDay {
  std::string host;
  double cores = 0;
  UsageSlice total;
  bool linear = true;
};
using DayUsage = std::vector<HostDay>;

DayUsage SumDay(const Measured& hours, int64_t day) {
  DayUsage out;
  out.reserve(hours.size());
  for (const auto& [host, m] : hours) {
    HostDay d;
    d.host = host;
    d.cores = m.cores;
    d.total.start_ms = day;
    d.total.end_ms = day + kDay;
    for (const UsageSlice& s : m.slices) {
      d.total.hours += s.hours;
      d.total.core_hours_used += s.core_hours_used;
      d.total.memory_gb_hours += s.memory_gb_hours;
      d.total.disk_gb_months += s.disk_gb_months;
      d.total.network_gb += s.network_gb;
      d.linear = d.linear && m.cores * s.hours >= s.core_hours_used;
    }
    out.push_back(std::move(d));
  }
  return out;
}

// Whether one rate is in force all of [from, to).
bool OneRate(const RateCard& card, int64_t from, int64_t to) {
  return std::any_of(card.rates.begin(), card.rates.end(),
                     [&](const Rate& r) { return r.from_ms <= from && r.to_ms >= to; });
}

void Append(MeasuredHost& into, double cores, std::span<const UsageSlice> slices) {
  into.cores = std::max(into.cores, cores);
  into.slices.insert(into.slices.end(), slices.begin(), slices.end());
}

}  // namespace

// Spend per business unit and day over `range` (whole days from its start),
// allocating each day's slices on their own.
absl::StatusOr<std::map<std::string, std::vector<double>>> DailySpend(
    const Catalog& catalog, const std::vector<HostUsage>& usage, TimeRange range) {
  std::map<std::string, std::vector<double>> daily;
  for (int64_t day = range.from_ms; day < range.to_ms; day += kDay) {
    TimeRange d{day, std::min(day + kDay, range.to_ms)};
    std::vector<HostUsage> day_usage = usage;
    for (HostUsage& h : day_usage) {
      std::erase_if(h.slices, [&](const UsageSlice& s) {
        return s.start_ms < d.from_ms || s.start_ms >= d.to_ms;
      });
    }
    ASSIGN_OR_RETURN(CostReport r, AllocateCosts(catalog, *catalog.rate_card, d, day_usage));
    for (const BusinessUnit& b : catalog.business_units) {
      const BusinessUnitCost* c = r.FindBusinessUnit(b.id);
      const double cents = c == nullptr ? 0 : static_cast<double>(c->cents);
      daily[b.id].push_back(cents / std::pow(10.0, r.minor_digits));
    }
  }
  return daily;
}

absl::StatusOr<TimeRange> ParseMonth(std::string_view text) {
  int year = 0, month = 0;
  char dash = 0, extra = 0;
  const std::string s(text);
  if (std::sscanf(s.c_str(), "%4d%c%2d%c", &year, &dash, &month, &extra) != 3 || dash != '-' ||
      s.size() != 7 || month < 1 || month > 12 || year < 1970) {
    return absl::InvalidArgumentError(StrCat("\"", text, "\" is not a month (YYYY-MM)"));
  }
  absl::CivilMonth m(year, month);
  absl::TimeZone utc = absl::UTCTimeZone();
  return TimeRange{absl::ToUnixMillis(absl::FromCivil(m, utc)),
                   absl::ToUnixMillis(absl::FromCivil(m + 1, utc))};
}

absl::StatusOr<std::vector<HostUsage>> LoadHostUsage(Store& store, const Catalog& catalog,
                                                     TimeRange period, UsageSlicing slicing) {
  const int64_t from = AlignDown(period.from_ms, kMinute), to = AlignDown(period.to_ms, kMinute);
  std::vector<HostUsage> out;
  if (to <= from) return out;
  const RateCard& card = *catalog.rate_card;

  using Op = LabelMatcher::Op;
  // Hourly slices; a whole day under one rate as one slice per host, kept
  // in the store's day cache while the day's data does not change.
  Measured measured;
  DayCache& cache = store.day_cache();
  for (const DayPiece& piece : SplitAtDays(from, to)) {
    std::optional<Measured> hours;
    if (slicing == UsageSlicing::kDays && piece.whole_day &&
        OneRate(card, piece.from_ms, piece.to_ms)) {
      const std::optional<uint64_t> version = store.DayVersion(piece.from_ms);
      std::shared_ptr<const DayUsage> day;
      if (version) day = cache.Find<DayUsage>("host-usage-day", piece.from_ms, *version);
      if (day == nullptr) {
        ASSIGN_OR_RETURN(hours, MeasureHosts(store, piece.from_ms, piece.to_ms));
        auto summed = std::make_shared<const DayUsage>(SumDay(*hours, piece.from_ms));
        if (version) {
          size_t bytes = summed->size() * sizeof(HostDay);
          for (const HostDay& d : *summed) bytes += d.host.size();
          cache.Put("host-usage-day", piece.from_ms, *version, summed, bytes);
        }
        day = std::move(summed);
      }
      for (const HostDay& d : *day) {
        if (d.linear) {
          Append(measured[d.host], d.cores, {&d.total, 1});
          continue;
        }
        if (!hours) {
          ASSIGN_OR_RETURN(hours, MeasureHosts(store, piece.from_ms, piece.to_ms));
        }
        auto it = hours->find(d.host);
        if (it != hours->end()) Append(measured[d.host], it->second.cores, it->second.slices);
      }
      continue;
    }
    ASSIGN_OR_RETURN(hours, MeasureHosts(store, piece.from_ms, piece.to_ms));
    for (const auto& [host, m] : *hours) Append(measured[host], m.cores, m.slices);
  }

  for (auto& [host, m] : measured) {
    HostUsage u;
    u.host = host;
    u.host_class = card.HostClass(host);
    u.services = ClaimingServices(catalog, host);
    u.cpu_cores = m.cores;
    u.slices = std::move(m.slices);
    // A measured driver per claiming service: the driver metric's increase
    // on this host for the processes of the service's components.
    const HostRule* rule = card.SplitFor(host);
    if (rule != nullptr && rule->split == SplitRule::kDriver) {
      for (const std::string& id : u.services) {
        const Service* s = catalog.FindService(id);
        if (s == nullptr) continue;
        std::set<std::string> processes;
        for (const Component& c : s->components) {
          if (c.process.empty()) continue;
          for (const std::string& glob : c.hosts) {
            if (fnmatch(glob.c_str(), host.c_str(), 0) == 0) processes.insert(c.process);
          }
        }
        double total = 0;
        for (const std::string& p : processes) {
          ASSIGN_OR_RETURN(
              std::vector<SeriesAggregates> d,
              store.Aggregates(
                  {rule->driver, {{"host", Op::kEqual, host}, {"process", Op::kEqual, p}}}, from,
                  to, to - from));
          for (const SeriesAggregates& x : d) {
            for (const Aggregate& a : x.buckets) {
              total += x.series.type == v1::METRIC_TYPE_COUNTER ? a.increase : a.Mean();
            }
          }
        }
        u.driver[id] = total;
      }
    }
    out.push_back(std::move(u));
  }
  return out;
}

absl::StatusOr<Chargeback> EvaluateChargeback(Store& store, const Catalog& catalog,
                                              TimeRange period, int64_t now_ms) {
  const RateCard& card = *catalog.rate_card;
  if (!card.defined) {
    return absl::FailedPreconditionError(
        "the catalog has no costs: section (a rate card); see docs/cost.md");
  }
  // Whole minutes, as the rollups count.
  TimeRange evaluated{AlignDown(period.from_ms, kMinute),
                      std::min(AlignDown(period.to_ms, kMinute), AlignDown(now_ms, kMinute))};
  if (evaluated.to_ms <= evaluated.from_ms) {
    return absl::InvalidArgumentError("the period has not started yet");
  }
  ASSIGN_OR_RETURN(std::vector<HostUsage> usage, LoadHostUsage(store, catalog, evaluated));
  Chargeback out;
  ASSIGN_OR_RETURN(out.report, AllocateCosts(catalog, card, evaluated, usage));

  // Unit cost and value: transactions from each service's request SLIs
  // (the largest valid count among them), revenue from the catalog.
  std::map<std::string, ServiceActivity> activity;
  for (const Service& s : catalog.services) {
    ServiceActivity a;
    for (const Sli& sli : s.slis) {
      if (sli.kind != Sli::Kind::kRatio && sli.kind != Sli::Kind::kLatency) continue;
      ASSIGN_OR_RETURN(SliCounts c, EvaluateSli(store, sli, evaluated.from_ms, evaluated.to_ms));
      a.transactions = std::max(a.transactions, c.valid);
    }
    if (s.value_per_transaction > 0) {
      a.revenue = s.value_per_transaction * a.transactions;
    } else if (s.revenue_per_hour > 0) {
      double hours = 0;
      for (int64_t m = AlignDown(evaluated.from_ms, kMinute); m < evaluated.to_ms; m += kMinute) {
        if (s.business_hours.empty() || s.InBusinessHours(m)) hours += 1.0 / 60;
      }
      a.revenue = s.revenue_per_hour * hours;
    }
    if (a.transactions > 0 || a.revenue > 0) activity[s.id] = a;
  }
  out.unit_economics = ComputeUnitEconomics(out.report, activity);
  out.unit_economics_by_unit =
      ComputeBusinessUnitEconomics(out.report, out.unit_economics, catalog);

  if (IsCalendarMonth(period)) {
    absl::CivilMonth month(
        absl::ToCivilSecond(absl::FromUnixMillis(period.from_ms), absl::UTCTimeZone()));
    const int days_in_month = static_cast<int>((period.to_ms - period.from_ms) / kDay);
    // Budgets: daily spend per business unit so far, projected to month end.
    ASSIGN_OR_RETURN(auto daily, DailySpend(catalog, usage, {period.from_ms, evaluated.to_ms}));
    // The spend to date is the chargeback's cost of the unit, to the cent.
    for (auto& [unit, days] : daily) {
      const BusinessUnitCost* cost = out.report.FindBusinessUnit(unit);
      days = ReconcileDaily(days, cost == nullptr ? 0 : cost->cents, out.report.minor_digits);
    }
    // The method's error on up to three earlier months of the same units.
    {
      absl::TimeZone utc = absl::UTCTimeZone();
      TimeRange history{absl::ToUnixMillis(absl::FromCivil(month - 3, utc)), period.from_ms};
      ASSIGN_OR_RETURN(std::vector<HostUsage> past, LoadHostUsage(store, catalog, history));
      if (!past.empty()) {
        std::map<std::string, std::vector<std::vector<double>>> months;
        for (int back = 3; back >= 1; --back) {
          TimeRange m{absl::ToUnixMillis(absl::FromCivil(month - back, utc)),
                      absl::ToUnixMillis(absl::FromCivil(month - back + 1, utc))};
          absl::StatusOr<std::map<std::string, std::vector<double>>> spend =
              DailySpend(catalog, past, m);
          if (!spend.ok()) continue;  // e.g. a month before the rate card starts
          // Only months measured from their first day: a month whose data
          // starts late (the collector or the unit is new) would be
          // "forecast" from empty days and report a meaningless error.
          for (auto& [unit, days] : *spend) {
            if (!days.empty() && days.front() > 0) months[unit].push_back(std::move(days));
          }
        }
        for (const auto& [unit, history_months] : months) {
          out.forecast_error[unit] = BacktestForecast(history_months, 7);
        }
      }
    }
    for (const BusinessUnit& b : catalog.business_units) {
      const Budget* budget = card.FindBudget(b.id, static_cast<int>(month.year()), month.month());
      if (budget == nullptr) continue;
      out.budgets.push_back(
          EvaluateBudget(*budget, ForecastSpend(daily[b.id], days_in_month), card.currency));
    }
    // Supplier credits: the supplier's first SLO's SLI over the month so far.
    for (const SupplierTerms& terms : card.suppliers) {
      const Service* s = catalog.FindService(terms.service);
      double attainment = 1;
      if (s != nullptr && !s->slos.empty()) {
        if (const Sli* sli = s->FindSli(s->slos.front().sli)) {
          ASSIGN_OR_RETURN(SliCounts c, EvaluateSliOutside(store, *sli, evaluated.from_ms,
                                                           evaluated.to_ms, s->excluded));
          if (c.has_data()) attainment = c.ratio();
        }
      }
      out.suppliers.push_back(ComputeSupplierCredit(terms, attainment));
    }
    // Month over month, for a finished month only (like for like).
    if (evaluated.to_ms == period.to_ms) {
      absl::TimeZone utc = absl::UTCTimeZone();
      TimeRange previous{absl::ToUnixMillis(absl::FromCivil(month - 1, utc)), period.from_ms};
      ASSIGN_OR_RETURN(std::vector<HostUsage> prev_usage, LoadHostUsage(store, catalog, previous));
      if (!prev_usage.empty()) {
        absl::StatusOr<CostReport> prev = AllocateCosts(catalog, card, previous, prev_usage);
        if (prev.ok()) out.month_over_month = CompareCosts(*prev, out.report);
      }
    }
  }
  return out;
}

}  // namespace plumbline::collector
