// Capacity forecasts against values computed by hand (see the comments).
#include "collector/engine/capacity.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "tests/unit/sqlite_store_fixture.h"

namespace plumbline::collector {
namespace {

constexpr int64_t kMin = 60000;
constexpr int64_t kHourMs = 60 * kMin;
constexpr int64_t kDayMs = 24 * kHourMs;
constexpr int64_t kNow = 1701302400000;  // 2023-11-30T00:00:00Z
constexpr double kGiB = 1024.0 * 1024 * 1024;

// used = 50 GiB at now, growing 2 GiB/day: 42, 44, ..., 50 GiB over the
// last four days. It reaches 100 GiB in (100 - 50) / 2 = 25 days.
std::vector<TrendPoint> TwoGiBPerDayFromFifty() {
  std::vector<TrendPoint> points;
  for (int k = 4; k >= 0; --k) points.push_back({kNow - k * kDayMs, (50.0 - 2 * k) * kGiB});
  return points;
}

TEST(CapacityTrend, ExactLineHasItsSlopeAndAPerfectFit) {
  TrendFit fit = FitTrend(TwoGiBPerDayFromFifty());
  EXPECT_EQ(fit.points, 5);
  EXPECT_EQ(fit.origin_ms, kNow - 4 * kDayMs);
  EXPECT_NEAR(fit.slope_per_day, 2 * kGiB, 1e-3);
  EXPECT_NEAR(fit.intercept, 42 * kGiB, 1e-3);
  EXPECT_NEAR(fit.ValueAt(kNow), 50 * kGiB, 1e-3);
  EXPECT_DOUBLE_EQ(fit.r2, 1);
  EXPECT_NEAR(fit.residual_rmse, 0, 1e-3);
}

TEST(CapacityTrend, ExactLineFromFiftyOfHundredGiBIsFullInTwentyFiveDays) {
  TrendFit fit = FitTrend(TwoGiBPerDayFromFifty());
  std::optional<double> days = DaysUntil(fit, kNow, 100 * kGiB);
  ASSERT_TRUE(days.has_value());
  EXPECT_NEAR(*days, 25, 1e-9);
  // Half a day later the line is 1 GiB higher: 24.5 days left.
  days = DaysUntil(fit, kNow + kDayMs / 2, 100 * kGiB);
  ASSERT_TRUE(days.has_value());
  EXPECT_NEAR(*days, 24.5, 1e-9);
}

TEST(CapacityTrend, PointOrderDoesNotMatter) {
  std::vector<TrendPoint> points = TwoGiBPerDayFromFifty();
  std::swap(points[0], points[3]);
  TrendFit fit = FitTrend(points);
  EXPECT_EQ(fit.origin_ms, kNow - 4 * kDayMs);
  EXPECT_NEAR(fit.slope_per_day, 2 * kGiB, 1e-3);
}

// x = 0, 1, 2, 3 days, y = 1, 3, 2, 4. mean x 1.5, mean y 2.5;
// Sxx = 2.25 + 0.25 + 0.25 + 2.25 = 5, Sxy = 2.25 - 0.25 - 0.25 + 2.25 = 4:
// slope 0.8/day, intercept 2.5 - 0.8 x 1.5 = 1.3. Fitted 1.3, 2.1, 2.9, 3.7;
// residuals -0.3, 0.9, -0.9, 0.3: SSres = 1.8, SStot = 5, R² = 0.64,
// RMSE = sqrt(1.8 / 4). From day 3 (fitted 3.7) to 10: 6.3 / 0.8 = 7.875 days.
TEST(CapacityTrend, NoisySeriesHasItsLeastSquaresLineAndRSquaredBelowOne) {
  const int64_t origin = kNow - 3 * kDayMs;
  TrendFit fit = FitTrend(
      {{origin, 1}, {origin + kDayMs, 3}, {origin + 2 * kDayMs, 2}, {origin + 3 * kDayMs, 4}});
  EXPECT_NEAR(fit.slope_per_day, 0.8, 1e-12);
  EXPECT_NEAR(fit.intercept, 1.3, 1e-12);
  EXPECT_NEAR(fit.r2, 0.64, 1e-12);
  EXPECT_NEAR(fit.residual_rmse, std::sqrt(0.45), 1e-12);
  std::optional<double> days = DaysUntil(fit, kNow, 10);
  ASSERT_TRUE(days.has_value());
  EXPECT_NEAR(*days, 7.875, 1e-9);
}

// 1 GiB/day from 20 of 40 GiB, hourly for two days (48 points), each hour
// 0.25 GiB above or below the line in turn, the last one above: the true
// answer is 20 days. The noise leans the fit: with h = 1/24 day, Sxx =
// h² x 48 (48² - 1) / 12 = 9212 h², and each of the 24 (-, +) pairs adds
// 0.25 GiB x h to Sxy, so the slope is 1 + 24 x 0.25 / (9212 h) =
// 1 + 144/9212 GiB/day and the line at now (23.5 h past the mean time) is
// 20 + 144/9212 x 23.5/24 GiB: (20 - 144/9212 x 23.5/24) / (1 + 144/9212)
// = 19.677 days, within half a day of the truth.
TEST(CapacityTrend, NoisyHourlySeriesForecastsWithinHalfADay) {
  std::vector<TrendPoint> points;
  for (int k = 47; k >= 0; --k) {
    const double line = 20 * kGiB - static_cast<double>(k) / 24 * kGiB;
    points.push_back({kNow - k * kHourMs, line + (k % 2 == 0 ? 0.25 : -0.25) * kGiB});
  }
  TrendFit fit = FitTrend(points);
  EXPECT_LT(fit.r2, 1);
  EXPECT_GT(fit.r2, 0.7);
  EXPECT_NEAR(fit.slope_per_day, (1 + 144.0 / 9212) * kGiB, 1);
  EXPECT_NEAR(fit.residual_rmse, 0.25 * kGiB, 0.01 * kGiB);
  std::optional<double> days = DaysUntil(fit, kNow, 40 * kGiB);
  ASSERT_TRUE(days.has_value());
  EXPECT_NEAR(*days, (20 - 144.0 / 9212 * 23.5 / 24) / (1 + 144.0 / 9212), 1e-6);
  EXPECT_NEAR(*days, 20, 0.5);
}

TEST(CapacityTrend, ShrinkingOrFlatSeriesHasNoForecast) {
  // 60, 58, 56 GiB: shrinking 2 GiB/day.
  TrendFit shrinking =
      FitTrend({{kNow - 2 * kDayMs, 60 * kGiB}, {kNow - kDayMs, 58 * kGiB}, {kNow, 56 * kGiB}});
  EXPECT_NEAR(shrinking.slope_per_day, -2 * kGiB, 1e-3);
  EXPECT_FALSE(DaysUntil(shrinking, kNow, 100 * kGiB).has_value());
  TrendFit flat = FitTrend({{kNow - 2 * kDayMs, 5}, {kNow - kDayMs, 5}, {kNow, 5}});
  EXPECT_EQ(flat.slope_per_day, 0);
  EXPECT_DOUBLE_EQ(flat.r2, 1);
  EXPECT_FALSE(DaysUntil(flat, kNow, 10).has_value());
}

TEST(CapacityTrend, BeyondTheHorizonIsNoForecast) {
  // 0.1 per day from 0 at now: 1 is reached in 10 days, 100 in 1000.
  TrendFit fit = FitTrend({{kNow - 2 * kDayMs, -0.2}, {kNow - kDayMs, -0.1}, {kNow, 0}});
  ASSERT_TRUE(DaysUntil(fit, kNow, 1).has_value());
  EXPECT_NEAR(*DaysUntil(fit, kNow, 1), 10, 1e-9);
  EXPECT_FALSE(DaysUntil(fit, kNow, 100).has_value());
  EXPECT_NEAR(*DaysUntil(fit, kNow, 100, 1000), 1000, 1e-6);
}

TEST(CapacityTrend, AlreadyAtOrOverTheThresholdIsZeroDays) {
  TrendFit growing = FitTrend(TwoGiBPerDayFromFifty());
  EXPECT_EQ(DaysUntil(growing, kNow, 50 * kGiB), 0.0);
  EXPECT_EQ(DaysUntil(growing, kNow, 40 * kGiB), 0.0);
  // Full and shrinking is still full now.
  TrendFit shrinking = FitTrend({{kNow - 2 * kDayMs, 104}, {kNow - kDayMs, 102}, {kNow, 100}});
  EXPECT_EQ(DaysUntil(shrinking, kNow, 100), 0.0);
}

TEST(CapacityTrend, NoPointsOrOnePointIsAFlatLine) {
  TrendFit none = FitTrend({});
  EXPECT_EQ(none.points, 0);
  EXPECT_EQ(none.slope_per_day, 0);
  TrendFit one = FitTrend({{kNow, 7}});
  EXPECT_EQ(one.points, 1);
  EXPECT_EQ(one.slope_per_day, 0);
  EXPECT_EQ(one.ValueAt(kNow + kDayMs), 7);
  EXPECT_FALSE(DaysUntil(one, kNow, 8).has_value());
}

// --- the store path ----------------------------------------------------------

class CapacityForecastTest : public SqliteStoreTest {
 protected:
  // One sample per hour, at the middle of each of the last `hours` hours
  // before kNow: value(t) = at_now + per_day x (t - kNow) / 1 day. Each
  // hour's mean is its one sample, and the line passes `at_now` at kNow.
  void WriteLine(const std::string& name, const LabelSet& labels, int hours, double at_now,
                 double per_day) {
    std::vector<std::pair<int64_t, double>> points;
    for (int k = hours - 1; k >= 0; --k) {
      const int64_t ts = kNow - kHourMs / 2 - k * kHourMs;
      points.emplace_back(ts, at_now + per_day * static_cast<double>(ts - kNow) / kDayMs);
    }
    Write(name, labels, points);
  }

  static const CapacityForecast* Find(const std::vector<CapacityForecast>& all,
                                      const std::string& host, const std::string& resource,
                                      const std::string& target = "") {
    for (const CapacityForecast& f : all) {
      if (f.host == host && f.resource == resource && f.target == target) return &f;
    }
    return nullptr;
  }
};

const LabelSet kVar = {{"device", "/dev/sdb1"}, {"host", "db-1"}, {"mountpoint", "/var"}};

TEST_F(CapacityForecastTest,
       FilesystemGrowingTwoGiBPerDayFromFiftyOfHundredIsFullInTwentyFiveDays) {
  WriteLine("host_filesystem_used_bytes", kVar, 72, 50 * kGiB, 2 * kGiB);
  WriteLine("host_filesystem_size_bytes", kVar, 72, 100 * kGiB, 0);
  auto forecasts = ForecastCapacity(*store_, kNow);
  ASSERT_TRUE(forecasts.ok()) << forecasts.status();
  ASSERT_EQ(forecasts->size(), 1u);
  const CapacityForecast& f = (*forecasts)[0];
  EXPECT_EQ(f.host, "db-1");
  EXPECT_EQ(f.resource, "filesystem");
  EXPECT_EQ(f.target, "/var");
  EXPECT_EQ(f.points, 72);
  // The latest hour's sample is half an hour before now: 50 - 2 / 48 GiB.
  EXPECT_NEAR(f.current, (50 - 2.0 / 48) * kGiB, 1);
  EXPECT_NEAR(f.capacity, 100 * kGiB, 1e-6);
  EXPECT_NEAR(f.used_ratio, (50 - 2.0 / 48) / 100, 1e-9);
  EXPECT_NEAR(f.growth_per_day, 2 * kGiB, 1);
  EXPECT_NEAR(f.r2, 1, 1e-9);
  ASSERT_TRUE(f.days_to_full.has_value());
  EXPECT_NEAR(*f.days_to_full, 25, 1e-6);
  EXPECT_EQ(f.message, "/var on db-1 is full in 25 days at the current growth (2.0 GiB/day)");
}

TEST_F(CapacityForecastTest, CpuRisingFivePointsPerDayFromHalfReachesNinetyPercentInEightDays) {
  // (0.9 - 0.5) / 0.05 = 8 days.
  WriteLine("host_cpu_utilization", {{"host", "web-1"}}, 48, 0.5, 0.05);
  auto forecasts = ForecastCapacity(*store_, kNow);
  ASSERT_TRUE(forecasts.ok()) << forecasts.status();
  ASSERT_EQ(forecasts->size(), 1u);
  const CapacityForecast& f = (*forecasts)[0];
  EXPECT_EQ(f.resource, "cpu");
  EXPECT_EQ(f.target, "");
  EXPECT_EQ(f.capacity, 1);
  EXPECT_NEAR(f.growth_per_day, 0.05, 1e-9);
  ASSERT_TRUE(f.days_to_full.has_value());
  EXPECT_NEAR(*f.days_to_full, 8, 1e-6);
  EXPECT_EQ(f.message,
            "CPU on web-1 reaches 90% in 8 days at the current growth (5.0 percentage points/day)");
  // At saturation 0.7: (0.7 - 0.5) / 0.05 = 4 days.
  auto lower = ForecastCapacity(*store_, kNow, kDefaultCapacityLookbackMs, 0.7);
  ASSERT_TRUE(lower.ok()) << lower.status();
  ASSERT_EQ(lower->size(), 1u);
  EXPECT_NEAR(*(*lower)[0].days_to_full, 4, 1e-6);
}

TEST_F(CapacityForecastTest, MemoryIsForecastToSaturationOfTotal) {
  // 8 of 16 GiB, +1 GiB/day: 0.9 x 16 = 14.4 GiB in 6.4 days.
  WriteLine("host_memory_used_bytes", {{"host", "db-1"}}, 24, 8 * kGiB, 1 * kGiB);
  WriteLine("host_memory_total_bytes", {{"host", "db-1"}}, 24, 16 * kGiB, 0);
  auto forecasts = ForecastCapacity(*store_, kNow);
  ASSERT_TRUE(forecasts.ok()) << forecasts.status();
  ASSERT_EQ(forecasts->size(), 1u);
  const CapacityForecast& f = (*forecasts)[0];
  EXPECT_EQ(f.resource, "memory");
  EXPECT_NEAR(f.capacity, 16 * kGiB, 1e-6);
  ASSERT_TRUE(f.days_to_full.has_value());
  EXPECT_NEAR(*f.days_to_full, 6.4, 1e-6);
  EXPECT_EQ(f.message,
            "memory on db-1 reaches 90% of 16.0 GiB in 6 days at the current growth (1.0 GiB/day)");
}

TEST_F(CapacityForecastTest, FullShrinkingAndTooShortSeriesAreSortedOrSkipped) {
  const LabelSet root = {{"host", "db-1"}, {"mountpoint", "/"}};
  const LabelSet data = {{"host", "db-2"}, {"mountpoint", "/data"}};
  const LabelSet tmp = {{"host", "db-3"}, {"mountpoint", "/tmp"}};
  // /var: 25 days. /: already full (100 of 100 GiB, still growing). /data:
  // shrinking 1 GiB/day. /tmp: two hours only, skipped. /srv: no size, skipped.
  WriteLine("host_filesystem_used_bytes", kVar, 72, 50 * kGiB, 2 * kGiB);
  WriteLine("host_filesystem_size_bytes", kVar, 72, 100 * kGiB, 0);
  WriteLine("host_filesystem_used_bytes", root, 72, 101 * kGiB, 1 * kGiB);
  WriteLine("host_filesystem_size_bytes", root, 72, 100 * kGiB, 0);
  WriteLine("host_filesystem_used_bytes", data, 72, 30 * kGiB, -1 * kGiB);
  WriteLine("host_filesystem_size_bytes", data, 72, 100 * kGiB, 0);
  WriteLine("host_filesystem_used_bytes", tmp, 2, 99 * kGiB, 10 * kGiB);
  WriteLine("host_filesystem_size_bytes", tmp, 2, 100 * kGiB, 0);
  WriteLine("host_filesystem_used_bytes", {{"host", "db-4"}, {"mountpoint", "/srv"}}, 72, 99 * kGiB,
            10 * kGiB);
  auto forecasts = ForecastCapacity(*store_, kNow);
  ASSERT_TRUE(forecasts.ok()) << forecasts.status();
  ASSERT_EQ(forecasts->size(), 3u);
  EXPECT_EQ((*forecasts)[0].target, "/");
  EXPECT_EQ((*forecasts)[0].days_to_full, 0.0);
  EXPECT_EQ((*forecasts)[0].message, "/ on db-1 is full now (101.0 GiB of 100.0 GiB used)");
  EXPECT_EQ((*forecasts)[1].target, "/var");
  EXPECT_EQ((*forecasts)[2].target, "/data");
  EXPECT_FALSE((*forecasts)[2].days_to_full.has_value());
  EXPECT_NEAR((*forecasts)[2].growth_per_day, -1 * kGiB, 1);
  EXPECT_EQ((*forecasts)[2].message,
            "/data on db-2 is not growing (-1.0 GiB/day); 30.0 GiB of 100.0 GiB used");
  EXPECT_EQ(Find(*forecasts, "db-3", "filesystem", "/tmp"), nullptr);
  EXPECT_EQ(Find(*forecasts, "db-4", "filesystem", "/srv"), nullptr);
}

TEST_F(CapacityForecastTest, OnlyTheLookbackIsRead) {
  // Ten days of a line that grew fast until two days ago and is flat since:
  // a two-day lookback sees only the flat part.
  std::vector<std::pair<int64_t, double>> points;
  for (int k = 239; k >= 0; --k) {
    const int64_t ts = kNow - kHourMs / 2 - k * kHourMs;
    points.emplace_back(ts, k >= 48 ? 0.8 - 0.01 * (k - 48) : 0.8);
  }
  Write("host_cpu_utilization", {{"host", "web-1"}}, points);
  auto recent = ForecastCapacity(*store_, kNow, 2 * kDayMs);
  ASSERT_TRUE(recent.ok()) << recent.status();
  ASSERT_EQ(recent->size(), 1u);
  EXPECT_EQ((*recent)[0].points, 48);
  EXPECT_NEAR((*recent)[0].growth_per_day, 0, 1e-9);
  EXPECT_FALSE((*recent)[0].days_to_full.has_value());
  auto all = ForecastCapacity(*store_, kNow, 10 * kDayMs);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ((*all)[0].points, 240);
  EXPECT_GT((*all)[0].growth_per_day, 0);
}

TEST_F(CapacityForecastTest, RejectsAShortLookbackAndASaturationOutOfRange) {
  EXPECT_EQ(ForecastCapacity(*store_, kNow, kMin).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ForecastCapacity(*store_, kNow, kDayMs, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ForecastCapacity(*store_, kNow, kDayMs, 1.5).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto empty = ForecastCapacity(*store_, kNow);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());
}

}  // namespace
}  // namespace plumbline::collector
