#include "collector/engine/capacity.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <tuple>
#include <utility>

namespace plumbline::collector {

namespace {

constexpr int64_t kMinute = 60000;
constexpr int64_t kHour = 60 * kMinute;
constexpr double kDayMs = 24.0 * 3600 * 1000;

int64_t AlignDown(int64_t ms, int64_t unit) { return ms - ((ms % unit) + unit) % unit; }

std::string LabelOf(const LabelSet& labels, const std::string& name) {
  for (const auto& [k, v] : labels) {
    if (k == name) return v;
  }
  return "";
}

// "3.1 GiB", "512.0 MiB", "-1.5 GiB".
std::string FormatBytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double magnitude = std::fabs(bytes);
  size_t unit = 0;
  // 1023.97 MiB prints as "1.0 GiB", not "1024.0 MiB".
  while (magnitude >= 1023.95 && unit + 1 < std::size(kUnits)) {
    magnitude /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", std::copysign(magnitude, bytes), kUnits[unit]);
}

std::string FormatPercent(double ratio) { return fmt::format("{:.0f}%", ratio * 100); }

// "within a day", "in 1 day", "in 12 days": whole days left, rounded down
// (the line is reached during the last of them).
std::string FormatDays(double days) {
  if (days < 1) return "within a day";
  const auto whole = static_cast<int64_t>(std::floor(days + 1e-6));
  return StrCat("in ", whole, whole == 1 ? " day" : " days");
}

// Per (host, target), per bucket start: the merged aggregates of every
// series with those labels (two agents reporting one host fold together).
using Key = std::pair<std::string, std::string>;
using Buckets = std::map<Key, std::map<int64_t, Aggregate>>;

absl::StatusOr<Buckets> Load(Store& store, const std::string& metric,
                             const std::string& target_label, int64_t from, int64_t to) {
  ASSIGN_OR_RETURN(std::vector<SeriesAggregates> series,
                   CalendarAggregates(store, {metric, {}}, from, to, kHour));
  Buckets out;
  for (const SeriesAggregates& s : series) {
    const std::string host = LabelOf(s.series.labels, "host");
    if (host.empty()) continue;
    const std::string target = target_label.empty() ? "" : LabelOf(s.series.labels, target_label);
    if (!target_label.empty() && target.empty()) continue;
    auto& buckets = out[{host, target}];
    for (const Aggregate& a : s.buckets) buckets[a.start_ms].Merge(a);
  }
  return out;
}

// The latest bucket's mean, or none.
std::optional<double> Latest(const Buckets& buckets, const Key& key) {
  auto it = buckets.find(key);
  if (it == buckets.end() || it->second.empty()) return std::nullopt;
  return it->second.rbegin()->second.Mean();
}

struct Resource {
  const char* name;  // "filesystem", "cpu", "memory"
  const char* used_metric;
  const char* capacity_metric;  // nullptr: capacity 1 (a ratio)
  const char* target_label;     // "" when there is one per host
  bool saturates;               // threshold = saturation x capacity, else capacity
};

std::string Message(const Resource& r, const CapacityForecast& f, double saturation,
                    double horizon_days) {
  const bool bytes = r.capacity_metric != nullptr;
  const std::string subject =
      std::string(r.name) == "filesystem"
          ? StrCat(f.target, " on ", f.host)
          : StrCat(std::string(r.name) == "cpu" ? "CPU" : "memory", " on ", f.host);
  const std::string growth =
      bytes ? StrCat(FormatBytes(f.growth_per_day), "/day")
            : fmt::format("{:.1f} percentage points/day", f.growth_per_day * 100);
  std::string reaches, not_reaches, state;
  if (!r.saturates) {
    reaches = "is full";
    not_reaches = "is not full";
    state = StrCat(FormatBytes(f.current), " of ", FormatBytes(f.capacity), " used");
  } else {
    const std::string level =
        bytes ? StrCat(FormatPercent(saturation), " of ", FormatBytes(f.capacity))
              : FormatPercent(saturation);
    reaches = StrCat("reaches ", level);
    not_reaches = StrCat("does not reach ", level);
    state = bytes ? StrCat(FormatBytes(f.current), " of ", FormatBytes(f.capacity), " used")
                  : StrCat(FormatPercent(f.current), " busy");
  }
  const double threshold = r.saturates ? saturation * f.capacity : f.capacity;
  if (f.days_to_full.has_value()) {
    if (*f.days_to_full == 0 && f.current >= threshold) {
      return StrCat(subject, " ", r.saturates ? "is saturated" : "is full", " now (", state, ")");
    }
    return StrCat(subject, " ", reaches, " ", FormatDays(*f.days_to_full),
                  " at the current growth (", growth, ")");
  }
  if (f.growth_per_day <= 0) {
    return StrCat(subject, " is not growing (", growth, "); ", state);
  }
  return StrCat(subject, " ", not_reaches, " within ", static_cast<int64_t>(horizon_days),
                " days at the current growth (", growth, ")");
}

}  // namespace

double TrendFit::ValueAt(int64_t t_ms) const {
  return intercept + slope_per_day * static_cast<double>(t_ms - origin_ms) / kDayMs;
}

TrendFit FitTrend(const std::vector<TrendPoint>& points) {
  TrendFit fit;
  fit.points = static_cast<int>(points.size());
  if (points.empty()) return fit;
  fit.origin_ms =
      std::min_element(points.begin(), points.end(), [](const TrendPoint& a, const TrendPoint& b) {
        return a.t_ms < b.t_ms;
      })->t_ms;
  // Ordinary least squares of value on x = days since origin_ms.
  const double n = static_cast<double>(points.size());
  auto x_of = [&](const TrendPoint& p) {
    return static_cast<double>(p.t_ms - fit.origin_ms) / kDayMs;
  };
  double mean_x = 0, mean_y = 0;
  for (const TrendPoint& p : points) {
    mean_x += x_of(p);
    mean_y += p.value;
  }
  mean_x /= n;
  mean_y /= n;
  double sxx = 0, sxy = 0, syy = 0;
  for (const TrendPoint& p : points) {
    const double dx = x_of(p) - mean_x, dy = p.value - mean_y;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  fit.slope_per_day = sxx > 0 ? sxy / sxx : 0;
  fit.intercept = mean_y - fit.slope_per_day * mean_x;
  double squares = 0;
  for (const TrendPoint& p : points) {
    const double residual = p.value - (fit.intercept + fit.slope_per_day * x_of(p));
    squares += residual * residual;
  }
  fit.residual_rmse = std::sqrt(squares / n);
  fit.r2 = syy > 0 ? std::max(0.0, 1 - squares / syy) : 1;
  return fit;
}

std::optional<double> DaysUntil(const TrendFit& fit, int64_t now_ms, double threshold,
                                double horizon_days) {
  const double at_now = fit.ValueAt(now_ms);
  if (at_now >= threshold) return 0.0;
  if (fit.slope_per_day <= 0) return std::nullopt;
  const double days = (threshold - at_now) / fit.slope_per_day;
  if (!std::isfinite(days) || days > horizon_days) return std::nullopt;
  return days;
}

absl::StatusOr<std::vector<CapacityForecast>> ForecastCapacity(Store& store, int64_t now_ms,
                                                               int64_t lookback_ms,
                                                               double saturation) {
  if (lookback_ms < kHour) {
    return absl::InvalidArgumentError(
        StrCat("capacity lookback must be at least one hour, got ", lookback_ms, " ms"));
  }
  if (!(saturation > 0 && saturation <= 1)) {
    return absl::InvalidArgumentError(
        StrCat("capacity saturation must be in (0, 1], got ", saturation));
  }
  const int64_t from = AlignDown(now_ms - lookback_ms, kMinute), to = AlignDown(now_ms, kMinute);
  static constexpr Resource kResources[] = {
      {"filesystem", "host_filesystem_used_bytes", "host_filesystem_size_bytes", "mountpoint",
       false},
      {"cpu", "host_cpu_utilization", nullptr, "", true},
      {"memory", "host_memory_used_bytes", "host_memory_total_bytes", "", true},
  };
  std::vector<CapacityForecast> out;
  for (const Resource& r : kResources) {
    ASSIGN_OR_RETURN(Buckets used, Load(store, r.used_metric, r.target_label, from, to));
    Buckets capacity;
    if (r.capacity_metric != nullptr) {
      ASSIGN_OR_RETURN(capacity, Load(store, r.capacity_metric, r.target_label, from, to));
    }
    for (const auto& [key, buckets] : used) {
      if (static_cast<int>(buckets.size()) < kMinTrendPoints) continue;
      CapacityForecast f;
      f.host = key.first;
      f.resource = r.name;
      f.target = key.second;
      if (r.capacity_metric != nullptr) {
        std::optional<double> c = Latest(capacity, key);
        if (!c.has_value() || *c <= 0) continue;
        f.capacity = *c;
      } else {
        f.capacity = 1;
      }
      std::vector<TrendPoint> points;
      points.reserve(buckets.size());
      for (const auto& [start, a] : buckets) {
        // The middle of the hour's samples, so a partial hour sits where it was measured.
        points.push_back({a.first_ms + (a.last_ms - a.first_ms) / 2, a.Mean()});
      }
      const TrendFit fit = FitTrend(points);
      f.current = buckets.rbegin()->second.Mean();
      f.used_ratio = f.current / f.capacity;
      f.growth_per_day = fit.slope_per_day;
      f.r2 = fit.r2;
      f.points = fit.points;
      const double threshold = r.saturates ? saturation * f.capacity : f.capacity;
      f.days_to_full =
          f.current >= threshold ? std::optional<double>(0.0) : DaysUntil(fit, now_ms, threshold);
      f.message = Message(r, f, saturation, kDefaultForecastHorizonDays);
      out.push_back(std::move(f));
    }
  }
  std::stable_sort(
      out.begin(), out.end(), [](const CapacityForecast& a, const CapacityForecast& b) {
        const bool a_none = !a.days_to_full.has_value(), b_none = !b.days_to_full.has_value();
        if (a_none != b_none) return b_none;
        if (!a_none && *a.days_to_full != *b.days_to_full) return *a.days_to_full < *b.days_to_full;
        return std::tie(a.host, a.resource, a.target) < std::tie(b.host, b.resource, b.target);
      });
  return out;
}

}  // namespace plumbline::collector
