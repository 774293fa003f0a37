// Capacity forecasts: days until a filesystem is full, a host's CPU or
// memory saturated, from a least-squares line through the hourly means of
// the last days (issue 7).
//
// The pure part (FitTrend, DaysUntil) takes points; ForecastCapacity reads
// the store. A straight line is the whole model: it suits steady growth
// (logs, data files, a leak) and says nothing useful about seasonal load,
// which is why every forecast carries its R² and number of points.
//
// Stateless; every function is thread-safe (ForecastCapacity as far as the
// Store is, see store.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "collector/store/store.h"
#include "common/status.h"

namespace plumbline::collector {

constexpr double kDefaultForecastHorizonDays = 365;
constexpr int64_t kDefaultCapacityLookbackMs = 7LL * 24 * 3600 * 1000;
constexpr double kDefaultSaturation = 0.9;
// Fewer points than this make no trend: the series is skipped.
constexpr int kMinTrendPoints = 3;

struct TrendPoint {
  int64_t t_ms = 0;
  double value = 0;
};

// value(t) = intercept + slope_per_day x (t - origin_ms) / 1 day.
struct TrendFit {
  int64_t origin_ms = 0;  // the earliest point's time
  double slope_per_day = 0;
  double intercept = 0;      // fitted value at origin_ms
  double r2 = 0;             // 1 - SSres / SStot; 1 when every value is the same
  double residual_rmse = 0;  // root mean square of the residuals, in value units
  int points = 0;

  double ValueAt(int64_t t_ms) const;
};

// Ordinary least squares of value on time, in any order. No points: all
// zero. One point, or all at one time: a flat line through their mean.
TrendFit FitTrend(const std::vector<TrendPoint>& points);

// Days from now_ms until the fitted line reaches `threshold`: 0 when the
// line is already at or over it at now_ms; none when the slope is <= 0 or
// the line reaches it only after horizon_days.
std::optional<double> DaysUntil(const TrendFit& fit, int64_t now_ms, double threshold,
                                double horizon_days = kDefaultForecastHorizonDays);

struct CapacityForecast {
  std::string host;
  std::string resource;  // "filesystem" | "cpu" | "memory"
  std::string target;    // mountpoint for filesystems, "" otherwise
  // The latest hour's mean: bytes (filesystem, memory) or a 0..1 ratio (cpu).
  double current = 0;
  // Filesystem and memory: the latest hour's mean size / total, in bytes;
  // cpu: 1.
  double capacity = 0;
  double used_ratio = 0;      // current / capacity; 0 without a capacity
  double growth_per_day = 0;  // the fit's slope: bytes or ratio per day
  // Until used reaches the size (filesystem) or saturation x capacity (cpu,
  // memory); 0 when the latest hour is already there; none when not growing
  // or not within kDefaultForecastHorizonDays.
  std::optional<double> days_to_full;
  double r2 = 0;
  int points = 0;
  // e.g. "/var on db-1 is full in 12 days at the current growth (3.1 GiB/day)"
  std::string message;
};

// Forecasts every filesystem (host_filesystem_used_bytes against
// host_filesystem_size_bytes, per host and mountpoint), every host's CPU
// (host_cpu_utilization against `saturation`) and memory
// (host_memory_used_bytes against saturation x host_memory_total_bytes),
// from the hourly means over [now - lookback, now), aligned down to whole
// minutes. Each hour's point sits at the middle of its samples. Series
// without a host label, with fewer than kMinTrendPoints hours or without a
// capacity series are skipped. Sorted by days_to_full ascending (none
// last), then host, resource and target.
// Errors: InvalidArgument for lookback_ms < 1 hour or saturation outside
// (0, 1]; the store's errors as they come.
absl::StatusOr<std::vector<CapacityForecast>> ForecastCapacity(
    Store& store, int64_t now_ms, int64_t lookback_ms = kDefaultCapacityLookbackMs,
    double saturation = kDefaultSaturation);

}  // namespace plumbline::collector
