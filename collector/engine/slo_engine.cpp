#include "collector/engine/slo_engine.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "collector/store/flatten.h"

namespace plumbline::collector {

namespace {

constexpr int64_t kMinute = 60000;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
constexpr double kInf = std::numeric_limits<double>::infinity();

SeriesSelector Selector(const MetricSelector& m, const std::string& name_suffix = "") {
  return SeriesSelector{m.metric + name_suffix, m.match};
}

// Buckets of every matched series, summed per bucket start.
struct Summed {
  double increase = 0;
  double sum = 0;
  double count = 0;
};

absl::StatusOr<std::map<int64_t, Summed>> SumBuckets(Store& store, const SeriesSelector& selector,
                                                     int64_t from, int64_t to, int64_t step) {
  ASSIGN_OR_RETURN(std::vector<SeriesAggregates> series,
                   store.Aggregates(selector, from, to, step));
  // Gathered and sorted, then summed into the map in order (a month of
  // minutes for many series: a tree lookup per bucket cost a tenth of
  // `plumb impact`).
  std::vector<std::pair<int64_t, const Aggregate*>> all;
  size_t n = 0;
  for (const SeriesAggregates& s : series) n += s.buckets.size();
  all.reserve(n);
  for (const SeriesAggregates& s : series) {
    for (const Aggregate& a : s.buckets) all.emplace_back(a.start_ms, &a);
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::map<int64_t, Summed> out;
  for (const auto& [start, a] : all) {
    auto it = out.empty() || std::prev(out.end())->first != start
                  ? out.emplace_hint(out.end(), start, Summed{})
                  : std::prev(out.end());
    Summed& t = it->second;
    t.increase += a->increase;
    t.sum += a->sum;
    t.count += static_cast<double>(a->count);
  }
  return out;
}

// Names a selector in the day cache: every field, unambiguously.
std::string SelectorKey(std::string_view kind, const SeriesSelector& selector) {
  std::string key = StrCat(kind, "\n", selector.name.size(), ":", selector.name);
  for (const LabelMatcher& m : selector.matchers) {
    StrAppend(&key, "\n", static_cast<int>(m.op), ":", m.name.size(), ":", m.name, m.value.size(),
              ":", m.value);
  }
  return key;
}

// Summed over every matched series and [from, to) (whole minutes): the
// same as SumBuckets with one step, as the increase, sum and count of
// adjacent windows add up. Whole UTC days come from the store's day cache
// while their data has not changed; the rest is read in one query per run
// of days, in buckets on UTC days.
absl::StatusOr<Summed> WindowTotal(Store& store, const SeriesSelector& selector, int64_t from,
                                   int64_t to) {
  const std::vector<DayPiece> pieces = SplitAtDays(from, to);
  const std::string key = SelectorKey("window-total", selector);
  DayCache& cache = store.day_cache();
  Summed total;
  auto add = [&total](const Summed& s) {
    total.increase += s.increase;
    total.sum += s.sum;
    total.count += s.count;
  };
  std::vector<std::optional<uint64_t>> versions(pieces.size());
  std::vector<std::shared_ptr<const Summed>> kept(pieces.size());
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (!pieces[i].whole_day) continue;
    versions[i] = store.DayVersion(pieces[i].from_ms);
    if (versions[i]) kept[i] = cache.Find<Summed>(key, pieces[i].from_ms, *versions[i]);
  }
  for (size_t i = 0; i < pieces.size();) {
    if (kept[i]) {
      add(*kept[i++]);
      continue;
    }
    // A run of pieces not kept, read at once (their versions read before).
    size_t end = i + 1;
    while (end < pieces.size() && !kept[end]) ++end;
    ASSIGN_OR_RETURN(
        std::vector<SeriesAggregates> series,
        CalendarAggregates(store, selector, pieces[i].from_ms, pieces[end - 1].to_ms, kDay));
    std::map<int64_t, Summed> by_piece;  // bucket start: a piece's from_ms
    for (const SeriesAggregates& x : series) {
      for (const Aggregate& a : x.buckets) {
        Summed& t = by_piece[a.start_ms];
        t.increase += a.increase;
        t.sum += a.sum;
        t.count += static_cast<double>(a.count);
      }
    }
    for (; i < end; ++i) {
      auto it = by_piece.find(pieces[i].from_ms);
      const Summed piece = it == by_piece.end() ? Summed{} : it->second;
      add(piece);
      if (versions[i]) {
        cache.Put(key, pieces[i].from_ms, *versions[i], std::make_shared<const Summed>(piece),
                  sizeof(Summed));
      }
    }
  }
  return total;
}

bool Satisfies(double value, const std::string& op, double bound) {
  if (op == "<") return value < bound;
  if (op == "<=") return value <= bound;
  if (op == ">") return value > bound;
  return value >= bound;
}

std::string PeriodWord(const Slo& slo) {
  switch (slo.period) {
    case Slo::Period::kWeek:
      return "weekly";
    case Slo::Period::kMonth:
      return "monthly";
    case Slo::Period::kQuarter:
      return "quarterly";
    case Slo::Period::kRolling:
      break;
  }
  int64_t days = slo.window.count() / kDay;
  if (days * kDay == slo.window.count()) return StrCat(days, "-day");
  return StrCat(slo.window.count() / kHour, "-hour");
}

}  // namespace

std::string HumanDuration(double hours) {
  if (hours < 1) return StrCat(std::max<int64_t>(1, std::llround(hours * 60)), " minutes");
  if (hours < 48) {
    int64_t h = std::llround(hours);
    return StrCat(h, h == 1 ? " hour" : " hours");
  }
  int64_t d = std::llround(hours / 24);
  return StrCat(d, " days");
}

absl::StatusOr<std::vector<std::pair<int64_t, SliCounts>>> EvaluateSliSteps(
    Store& store, const Sli& sli, int64_t from_ms, int64_t to_ms, int64_t step_ms) {
  std::map<int64_t, SliCounts> steps;
  switch (sli.kind) {
    case Sli::Kind::kRatio: {
      ASSIGN_OR_RETURN(auto valid, SumBuckets(store, Selector(sli.valid), from_ms, to_ms, step_ms));
      const bool use_good = !sli.good.metric.empty();
      ASSIGN_OR_RETURN(auto part, SumBuckets(store, Selector(use_good ? sli.good : sli.bad),
                                             from_ms, to_ms, step_ms));
      for (const auto& [start, v] : valid) {
        double p = part.count(start) ? part[start].increase : 0;
        double good = use_good ? p : v.increase - p;
        // Counters read a moment apart can disagree slightly; good never
        // exceeds valid and is never negative.
        steps[start] = {std::clamp(good, 0.0, v.increase), v.increase};
      }
      break;
    }
    case Sli::Kind::kLatency: {
      SeriesSelector under = Selector(sli.histogram, "_bucket");
      under.matchers.push_back(
          {"le", LabelMatcher::Op::kEqual, FormatLabelNumber(sli.threshold_seconds)});
      ASSIGN_OR_RETURN(auto total, SumBuckets(store, Selector(sli.histogram, "_count"), from_ms,
                                              to_ms, step_ms));
      ASSIGN_OR_RETURN(auto fast, SumBuckets(store, under, from_ms, to_ms, step_ms));
      for (const auto& [start, v] : total) {
        double good = fast.count(start) ? fast[start].increase : 0;
        steps[start] = {std::clamp(good, 0.0, v.increase), v.increase};
      }
      break;
    }
    case Sli::Kind::kProbe: {
      SeriesSelector probe{"probe_success", {{"probe", LabelMatcher::Op::kEqual, sli.probe}}};
      ASSIGN_OR_RETURN(auto results, SumBuckets(store, probe, from_ms, to_ms, step_ms));
      for (const auto& [start, v] : results) steps[start] = {v.sum, v.count};
      break;
    }
    case Sli::Kind::kThreshold: {
      // A minute is good when every matched series' mean in it satisfies the bound.
      ASSIGN_OR_RETURN(std::vector<SeriesAggregates> series,
                       store.Aggregates(Selector(sli.gauge), from_ms, to_ms, kMinute));
      std::map<int64_t, bool> minute_good;
      for (const SeriesAggregates& s : series) {
        for (const Aggregate& a : s.buckets) {
          auto [it, fresh] = minute_good.try_emplace(a.start_ms, true);
          it->second = it->second && Satisfies(a.Mean(), sli.op, sli.bound);
        }
      }
      int64_t aligned_from = from_ms - ((from_ms % kMinute) + kMinute) % kMinute;
      for (const auto& [minute, good] : minute_good) {
        int64_t start = aligned_from + (minute - aligned_from) / step_ms * step_ms;
        steps[start].valid += 1;
        steps[start].good += good ? 1 : 0;
      }
      break;
    }
  }
  return std::vector<std::pair<int64_t, SliCounts>>(steps.begin(), steps.end());
}

absl::StatusOr<SliCounts> EvaluateSliOutside(Store& store, const Sli& sli, int64_t from_ms,
                                             int64_t to_ms,
                                             const std::vector<TimeRange>& excluded) {
  SliCounts total;
  for (const TimeRange& r : SubtractRanges({from_ms, to_ms}, excluded)) {
    ASSIGN_OR_RETURN(SliCounts c, EvaluateSli(store, sli, r.from_ms, r.to_ms));
    total.good += c.good;
    total.valid += c.valid;
  }
  return total;
}

absl::StatusOr<SliCounts> EvaluateSli(Store& store, const Sli& sli, int64_t from_ms,
                                      int64_t to_ms) {
  int64_t from = from_ms - ((from_ms % kMinute) + kMinute) % kMinute;
  int64_t to = to_ms - ((to_ms % kMinute) + kMinute) % kMinute;
  SliCounts total;
  if (to <= from) return total;
  switch (sli.kind) {
    case Sli::Kind::kRatio: {
      ASSIGN_OR_RETURN(Summed valid, WindowTotal(store, Selector(sli.valid), from, to));
      const bool use_good = !sli.good.metric.empty();
      ASSIGN_OR_RETURN(Summed part,
                       WindowTotal(store, Selector(use_good ? sli.good : sli.bad), from, to));
      const double good = use_good ? part.increase : valid.increase - part.increase;
      return SliCounts{std::clamp(good, 0.0, valid.increase), valid.increase};
    }
    case Sli::Kind::kLatency: {
      SeriesSelector under = Selector(sli.histogram, "_bucket");
      under.matchers.push_back(
          {"le", LabelMatcher::Op::kEqual, FormatLabelNumber(sli.threshold_seconds)});
      ASSIGN_OR_RETURN(Summed valid,
                       WindowTotal(store, Selector(sli.histogram, "_count"), from, to));
      ASSIGN_OR_RETURN(Summed fast, WindowTotal(store, under, from, to));
      return SliCounts{std::clamp(fast.increase, 0.0, valid.increase), valid.increase};
    }
    case Sli::Kind::kProbe: {
      SeriesSelector probe{"probe_success", {{"probe", LabelMatcher::Op::kEqual, sli.probe}}};
      ASSIGN_OR_RETURN(Summed results, WindowTotal(store, probe, from, to));
      return SliCounts{results.sum, results.count};
    }
    case Sli::Kind::kThreshold:
      break;
  }
  ASSIGN_OR_RETURN(auto steps, EvaluateSliSteps(store, sli, from, to, to - from));
  for (const auto& [start, c] : steps) {
    total.good += c.good;
    total.valid += c.valid;
  }
  return total;
}

SloPeriod CurrentPeriod(const Slo& slo, int64_t now_ms) {
  if (slo.period == Slo::Period::kRolling) {
    return {now_ms - slo.window.count(), now_ms, slo.window.count()};
  }
  // Calendar periods in UTC.
  absl::TimeZone utc = absl::UTCTimeZone();
  absl::CivilSecond now = absl::ToCivilSecond(absl::FromUnixMillis(now_ms), utc);
  absl::CivilDay start_day, end_day;
  if (slo.period == Slo::Period::kWeek) {
    absl::CivilDay today(now);
    // ISO weeks start on Monday.
    int back =
        (static_cast<int>(absl::GetWeekday(today)) - static_cast<int>(absl::Weekday::monday) + 7) %
        7;
    start_day = today - back;
    end_day = start_day + 7;
  } else if (slo.period == Slo::Period::kMonth) {
    absl::CivilMonth m(now);
    start_day = absl::CivilDay(m);
    end_day = absl::CivilDay(m + 1);
  } else {
    absl::CivilMonth m(now);
    absl::CivilMonth q(m.year(), (m.month() - 1) / 3 * 3 + 1);
    start_day = absl::CivilDay(q);
    end_day = absl::CivilDay(q + 3);
  }
  int64_t from = absl::ToUnixMillis(absl::FromCivil(start_day, utc));
  int64_t end = absl::ToUnixMillis(absl::FromCivil(end_day, utc));
  return {from, now_ms, end - from};
}

absl::StatusOr<SloStatus> EvaluateSlo(Store& store, const Service& service, const Slo& slo,
                                      int64_t now_ms) {
  const Sli* sli = service.FindSli(slo.sli);
  if (sli == nullptr) {
    return absl::NotFoundError(
        StrCat("service \"", service.id, "\": SLI \"", slo.sli, "\" not found"));
  }
  SloStatus st;
  st.service = service.id;
  st.slo = slo.id;
  st.sli = slo.sli;
  st.target = slo.target();
  SloPeriod period = CurrentPeriod(slo, now_ms);
  st.from_ms = period.from_ms;
  st.to_ms = period.to_ms;
  st.period_ms = period.length_ms;
  const double allowed = 1 - st.target;  // share of events (or slices) allowed to be bad
  const double period_minutes = static_cast<double>(period.length_ms) / kMinute;

  // Counts (events, or slices) and the share of the budget spent.
  double spent_ratio = 0;
  if (slo.timeslices) {
    const int64_t slice = slo.timeslice.count();
    for (const TimeRange& r : SubtractRanges({period.from_ms, period.to_ms}, service.excluded)) {
      ASSIGN_OR_RETURN(auto steps, EvaluateSliSteps(store, *sli, r.from_ms, r.to_ms, slice));
      for (const auto& [start, c] : steps) {
        if (!c.has_data()) continue;
        st.counts.valid += 1;
        st.counts.good += c.ratio() >= st.target ? 1 : 0;
      }
    }
    const double slices_in_period =
        static_cast<double>(period.length_ms) / static_cast<double>(slice);
    st.budget_total = allowed * slices_in_period;
    st.budget_remaining = st.budget_total - st.counts.bad();
    spent_ratio =
        st.budget_total > 0 ? st.counts.bad() / st.budget_total : (st.counts.bad() > 0 ? kInf : 0);
  } else {
    ASSIGN_OR_RETURN(
        st.counts, EvaluateSliOutside(store, *sli, period.from_ms, period.to_ms, service.excluded));
    st.budget_total = allowed * st.counts.valid;
    st.budget_remaining = st.budget_total - st.counts.bad();
    spent_ratio =
        st.budget_total > 0 ? st.counts.bad() / st.budget_total : (st.counts.bad() > 0 ? kInf : 0);
  }
  st.attainment = st.counts.has_data() ? st.counts.ratio() : 1;
  st.breached = st.counts.has_data() && st.attainment < st.target;
  st.budget_remaining_ratio = std::isinf(spent_ratio) ? 0 : 1 - spent_ratio;
  st.budget_minutes_total = allowed * period_minutes;
  st.budget_minutes_remaining = st.budget_minutes_total * st.budget_remaining_ratio;

  // Multi-window, multi-burn-rate alerts; the standard windows are for a
  // 30-day period and scale with it.
  struct Rule {
    int64_t long_ms, short_ms;
    double factor;
    const char* severity;
  };
  const Rule rules[] = {{kHour, 5 * kMinute, 14.4, "page"},
                        {6 * kHour, 30 * kMinute, 6, "page"},
                        {kDay, 2 * kHour, 3, "ticket"},
                        {3 * kDay, 6 * kHour, 1, "ticket"}};
  const double scale = static_cast<double>(period.length_ms) / static_cast<double>(30 * kDay);
  auto scaled = [&](int64_t ms) {
    int64_t v =
        static_cast<int64_t>(std::llround(static_cast<double>(ms) * scale / kMinute)) * kMinute;
    return std::max<int64_t>(v, kMinute);
  };
  auto burn = [&](const SliCounts& c) {
    if (!c.has_data()) return 0.0;
    double bad_share = c.bad() / c.valid;
    if (allowed <= 0) return bad_share > 0 ? kInf : 0.0;
    return bad_share / allowed;
  };
  bool first = true;
  for (const Rule& r : rules) {
    BurnAlert a;
    a.severity = r.severity;
    a.long_window_ms = scaled(r.long_ms);
    a.short_window_ms = scaled(r.short_ms);
    a.threshold = r.factor;
    ASSIGN_OR_RETURN(
        SliCounts long_counts,
        EvaluateSliOutside(store, *sli, now_ms - a.long_window_ms, now_ms, service.excluded));
    ASSIGN_OR_RETURN(
        SliCounts short_counts,
        EvaluateSliOutside(store, *sli, now_ms - a.short_window_ms, now_ms, service.excluded));
    a.long_burn = burn(long_counts);
    a.short_burn = burn(short_counts);
    a.long_window_valid = long_counts.valid;
    // Time-slice SLIs (threshold) count minutes; the traffic gate is for events.
    a.gated = sli->kind != Sli::Kind::kThreshold && long_counts.valid < slo.min_events;
    a.firing = !a.gated && a.long_burn >= r.factor && a.short_burn >= r.factor;
    if (first) {
      st.burn_rate = a.long_burn;
      first = false;
    }
    if (a.firing) {
      std::string budget = StrCat("the ", PeriodWord(slo), " error budget of ", service.name);
      if (st.budget_remaining_ratio <= 0) {
        a.message = StrCat(budget, " is already spent");
        if (!std::isinf(a.long_burn)) {
          char rate[32];
          std::snprintf(rate, sizeof rate, "%.1f", a.long_burn);
          a.message += StrCat("; failures continue at ", rate, " times the sustainable rate");
        }
      } else {
        double hours = std::isinf(a.long_burn)
                           ? 0
                           : st.budget_remaining_ratio * static_cast<double>(period.length_ms) /
                                 kHour / a.long_burn;
        a.message = StrCat("at this rate ", budget, " is gone in ", HumanDuration(hours));
      }
    }
    st.alerts.push_back(std::move(a));
  }
  if (st.burn_rate > 0 && st.budget_remaining_ratio > 0 && !std::isinf(st.burn_rate)) {
    st.hours_to_exhaustion =
        st.budget_remaining_ratio * static_cast<double>(period.length_ms) / kHour / st.burn_rate;
  } else if (st.burn_rate > 0) {
    st.hours_to_exhaustion = 0;
  }
  return st;
}

}  // namespace plumbline::collector
