// SLO formulas against values computed by hand (see the comments).
#include "collector/engine/slo_engine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "tests/requests_sli.h"
#include "tests/unit/sqlite_store_fixture.h"

namespace plumbline::collector {
namespace {

constexpr int64_t kMin = 60000;
constexpr int64_t kHourMs = 60 * kMin;
constexpr int64_t kDayMs = 24 * kHourMs;
constexpr int64_t kNow = 1701302400000;  // 2023-11-30T00:00:00Z

class SloEngineTest : public SqliteStoreTest {
 protected:
  static Service CheckoutWith(Sli sli, Slo slo) {
    Service s;
    s.id = "checkout";
    s.name = "Checkout";
    sli.id = "sli";
    slo.id = "slo";
    slo.sli = "sli";
    s.slis.push_back(sli);
    s.slos.push_back(slo);
    return s;
  }

  // A counter sample every 10 minutes at now - 1m - 10m*k, k = 0..4319 (30
  // days). valid grows 1000 per step; errors grow 300 per step for the
  // steps ending in the last hour (k = 0..5): 1800 errors.
  void WriteThirtyDaysWithABadLastHour() {
    std::vector<std::pair<int64_t, double>> valid, bad;
    double errors = 0;
    for (int k = 4319; k >= 0; --k) {
      int64_t ts = kNow - kMin - 10 * kMin * k;
      if (k <= 5) errors += 300;
      valid.emplace_back(ts, 1000.0 * (4319 - k));
      bad.emplace_back(ts, errors);
    }
    Write("requests_total", v1::METRIC_TYPE_COUNTER, {}, valid);
    Write("errors_total", v1::METRIC_TYPE_COUNTER, {}, bad);
  }
};

TEST_F(SloEngineTest, AttainmentAndBudgetForAnOccurrencesSlo) {
  // 1000 requests, 5 errors in the window; target 99%:
  // attainment 0.995; budget 0.01 * 1000 = 10 events, 5 spent -> ratio 0.5;
  // budget minutes 0.01 * 43200 = 432, remaining 216.
  Write("requests_total", v1::METRIC_TYPE_COUNTER, {},
        {{kNow - 10 * kMin, 0}, {kNow - 5 * kMin, 1000}});
  Write("errors_total", v1::METRIC_TYPE_COUNTER, {}, {{kNow - 10 * kMin, 0}, {kNow - 5 * kMin, 5}});
  Slo slo;
  slo.target_percent = 99;
  slo.min_events = 1;
  Service s = CheckoutWith(RequestsSli(), slo);
  auto st = EvaluateSlo(*store_, s, s.slos[0], kNow);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->counts.valid, 1000);
  EXPECT_EQ(st->counts.good, 995);
  EXPECT_DOUBLE_EQ(st->attainment, 0.995);
  EXPECT_NEAR(st->budget_total, 10, 1e-9);
  EXPECT_NEAR(st->budget_remaining, 5, 1e-9);
  EXPECT_NEAR(st->budget_remaining_ratio, 0.5, 1e-9);
  EXPECT_NEAR(st->budget_minutes_total, 432, 1e-9);
  EXPECT_NEAR(st->budget_minutes_remaining, 216, 1e-9);
  EXPECT_FALSE(st->breached);
  // Burn over the last hour: (5/1000)/0.01 = 0.5; exhaustion 0.5 * 720 h / 0.5 = 720 h.
  EXPECT_NEAR(st->burn_rate, 0.5, 1e-9);
  EXPECT_NEAR(st->hours_to_exhaustion, 720, 1e-6);
  for (const BurnAlert& a : st->alerts) EXPECT_FALSE(a.firing);
}

TEST_F(SloEngineTest, FastBurnPagesWithAPlainLanguageMessage) {
  WriteThirtyDaysWithABadLastHour();
  Slo slo;
  slo.target_percent = 99;
  Service s = CheckoutWith(RequestsSli(), slo);
  auto st = EvaluateSlo(*store_, s, s.slos[0], kNow);
  ASSERT_TRUE(st.ok()) << st.status();
  // 30 days: 4319 steps of 1000 (the oldest sample has no predecessor).
  EXPECT_EQ(st->counts.valid, 4319000);
  EXPECT_EQ(st->counts.bad(), 1800);
  // Budget 43190 events; remaining ratio 1 - 1800/43190.
  EXPECT_NEAR(st->budget_remaining_ratio, 1 - 1800.0 / 43190.0, 1e-12);
  ASSERT_EQ(st->alerts.size(), 4u);
  // 1h: 6 steps, 6000 valid, 1800 bad -> 0.3 / 0.01 = 30; 5m: 1000 / 300 -> 30.
  const BurnAlert& fast = st->alerts[0];
  EXPECT_EQ(fast.long_window_ms, kHourMs);
  EXPECT_EQ(fast.short_window_ms, 5 * kMin);
  EXPECT_NEAR(fast.long_burn, 30, 1e-9);
  EXPECT_NEAR(fast.short_burn, 30, 1e-9);
  EXPECT_TRUE(fast.firing);
  EXPECT_EQ(fast.severity, "page");
  // Exhaustion: 0.958323... * 720 h / 30 = 23.0 h.
  EXPECT_NEAR(st->hours_to_exhaustion, (1 - 1800.0 / 43190.0) * 720 / 30, 1e-9);
  EXPECT_EQ(fast.message, "at this rate the 30-day error budget of Checkout is gone in 23 hours");
  // 6h: 36000 valid, 1800 bad -> burn 5 < 6: quiet. 1d: 1.25 < 3. 3d: 0.4167 < 1.
  EXPECT_NEAR(st->alerts[1].long_burn, 5, 1e-9);
  EXPECT_FALSE(st->alerts[1].firing);
  EXPECT_NEAR(st->alerts[2].long_burn, 1.25, 1e-9);
  EXPECT_FALSE(st->alerts[2].firing);
  EXPECT_NEAR(st->alerts[3].long_burn, 1800.0 / 432000.0 / 0.01, 1e-9);
  EXPECT_FALSE(st->alerts[3].firing);

  // The same answers once everything is rolled up.
  ASSERT_TRUE(store_->RunMaintenance(kNow + 3 * kMin, {}).ok());
  auto rolled = EvaluateSlo(*store_, s, s.slos[0], kNow);
  ASSERT_TRUE(rolled.ok());
  EXPECT_EQ(rolled->counts.valid, 4319000);
  EXPECT_NEAR(rolled->alerts[0].long_burn, 30, 1e-9);
  EXPECT_TRUE(rolled->alerts[0].firing);
}

TEST_F(SloEngineTest, MinimumTrafficGateKeepsLowVolumeServicesQuiet) {
  WriteThirtyDaysWithABadLastHour();
  Slo slo;
  slo.target_percent = 99;
  slo.min_events = 10000;  // the last hour has 6000
  Service s = CheckoutWith(RequestsSli(), slo);
  auto st = EvaluateSlo(*store_, s, s.slos[0], kNow);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->alerts[0].gated);
  EXPECT_FALSE(st->alerts[0].firing);
}

TEST_F(SloEngineTest, AlertWindowsScaleWithTheSloWindow) {
  WriteThirtyDaysWithABadLastHour();
  Slo slo;
  slo.target_percent = 99;
  slo.window = std::chrono::milliseconds(7 * kDayMs);
  Service s = CheckoutWith(RequestsSli(), slo);
  auto st = EvaluateSlo(*store_, s, s.slos[0], kNow);
  ASSERT_TRUE(st.ok());
  // 1h * 7/30 = 14 minutes; 5m * 7/30 = 1.17 -> 1 minute.
  EXPECT_EQ(st->alerts[0].long_window_ms, 14 * kMin);
  EXPECT_EQ(st->alerts[0].short_window_ms, kMin);
  EXPECT_EQ(st->period_ms, 7 * kDayMs);
}

TEST_F(SloEngineTest, NoTrafficIsNoDataNotAnOutage) {
  Slo slo;
  Service s = CheckoutWith(RequestsSli(), slo);
  auto st = EvaluateSlo(*store_, s, s.slos[0], kNow);
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->counts.has_data());
  EXPECT_EQ(st->attainment, 1);
  EXPECT_EQ(st->budget_remaining_ratio, 1);
  EXPECT_FALSE(st->breached);
  EXPECT_EQ(st->burn_rate, 0);
  EXPECT_EQ(st->hours_to_exhaustion, -1);
}

TEST_F(SloEngineTest, HundredPercentTargetHasNoBudget) {
  Write("requests_total", v1::METRIC_TYPE_COUNTER, {},
        {{kNow - 10 * kMin, 0}, {kNow - 5 * kMin, 1000}});
  Write("errors_total", v1::METRIC_TYPE_COUNTER, {}, {{kNow - 10 * kMin, 0}, {kNow - 5 * kMin, 1}});
  Slo slo;
  slo.target_percent = 100;
  slo.min_events = 1;
  Service s = CheckoutWith(RequestsSli(), slo);
  auto st = EvaluateSlo(*store_, s, s.slos[0], kNow);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->budget_total, 0);
  EXPECT_EQ(st->budget_remaining_ratio, 0);
  EXPECT_EQ(st->budget_minutes_total, 0);
  EXPECT_TRUE(std::isinf(st->burn_rate));
  EXPECT_TRUE(st->breached);
  EXPECT_TRUE(st->alerts[0].firing);
  EXPECT_EQ(st->alerts[0].message, "the 30-day error budget of Checkout is already spent");
}

TEST_F(SloEngineTest, ProbeSliIsTheShareOfSuccessfulIntervals) {
  Write("probe_success", v1::METRIC_TYPE_GAUGE, {{"probe", "psp"}},
        {{kNow - 4 * kMin, 1}, {kNow - 3 * kMin, 1}, {kNow - 2 * kMin, 0}, {kNow - kMin, 1}});
  Write("probe_success", v1::METRIC_TYPE_GAUGE, {{"probe", "other"}}, {{kNow - kMin, 0}});
  Sli sli;
  sli.kind = Sli::Kind::kProbe;
  sli.probe = "psp";
  auto c = EvaluateSli(*store_, sli, kNow - kHourMs, kNow);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->good, 3);
  EXPECT_EQ(c->valid, 4);
  // Time slices of one minute at 99.5%: the minute with the failure is bad: 3 of 4.
  Slo slo;
  slo.timeslices = true;
  slo.target_percent = 99.5;
  slo.window = std::chrono::milliseconds(kDayMs);
  Service s = CheckoutWith(sli, slo);
  auto st = EvaluateSlo(*store_, s, s.slos[0], kNow);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->counts.valid, 4);
  EXPECT_EQ(st->counts.good, 3);
  // Budget: 0.5% of 1440 one-minute slices = 7.2 slices; 1 spent.
  EXPECT_NEAR(st->budget_total, 7.2, 1e-9);
  EXPECT_NEAR(st->budget_remaining_ratio, 1 - 1 / 7.2, 1e-9);
  EXPECT_NEAR(st->budget_minutes_total, 7.2, 1e-9);
}

TEST_F(SloEngineTest, LatencySliIsTheShareUnderTheThresholdBucket) {
  // 200 requests, 170 under 0.3 s.
  Write("lat_seconds_bucket", v1::METRIC_TYPE_COUNTER, {{"le", "0.3"}},
        {{kNow - 10 * kMin, 0}, {kNow - 5 * kMin, 170}});
  Write("lat_seconds_bucket", v1::METRIC_TYPE_COUNTER, {{"le", "1"}},
        {{kNow - 10 * kMin, 0}, {kNow - 5 * kMin, 190}});
  Write("lat_seconds_count", v1::METRIC_TYPE_COUNTER, {},
        {{kNow - 10 * kMin, 0}, {kNow - 5 * kMin, 200}});
  Sli sli;
  sli.kind = Sli::Kind::kLatency;
  sli.histogram.metric = "lat_seconds";
  sli.threshold_seconds = 0.3;
  auto c = EvaluateSli(*store_, sli, kNow - kHourMs, kNow);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->good, 170);
  EXPECT_EQ(c->valid, 200);
}

TEST_F(SloEngineTest, ThresholdSliCountsGoodMinutes) {
  // Minute means: 0.5, 0.05 (two samples 0.04 and 0.06), 0.2; bound > 0.1 -> 2 of 3.
  Write("disk_free_ratio", v1::METRIC_TYPE_GAUGE, {{"host", "db-1"}},
        {{kNow - 3 * kMin, 0.5},
         {kNow - 2 * kMin, 0.04},
         {kNow - 2 * kMin + 30000, 0.06},
         {kNow - kMin, 0.2}});
  Sli sli;
  sli.kind = Sli::Kind::kThreshold;
  sli.gauge.metric = "disk_free_ratio";
  sli.op = ">";
  sli.bound = 0.1;
  auto c = EvaluateSli(*store_, sli, kNow - kHourMs, kNow);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->valid, 3);
  EXPECT_EQ(c->good, 2);
}

TEST_F(SloEngineTest, WindowBoundariesAreHalfOpen) {
  // A sample exactly at `to` is outside; one exactly at `from` is inside.
  Write("probe_success", v1::METRIC_TYPE_GAUGE, {{"probe", "p"}},
        {{kNow - kHourMs, 0}, {kNow - kMin, 1}, {kNow, 0}});
  Sli sli;
  sli.kind = Sli::Kind::kProbe;
  sli.probe = "p";
  auto c = EvaluateSli(*store_, sli, kNow - kHourMs, kNow);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->valid, 2);
  EXPECT_EQ(c->good, 1);
}

TEST_F(SloEngineTest, MaintenanceIsLeftOutOfBudgetsAndBurnRates) {
  // 1000 requests: 600 with 30 errors inside a maintenance window, 400 with
  // 2 errors after it. Target 99%: counted are 400 requests and 2 errors:
  // attainment 0.995, budget 4 events, remaining ratio 0.5.
  Write("requests_total", v1::METRIC_TYPE_COUNTER, {},
        {{kNow - 40 * kMin, 0},
         {kNow - 30 * kMin, 600},
         {kNow - 20 * kMin, 800},
         {kNow - 10 * kMin, 1000}});
  Write("errors_total", v1::METRIC_TYPE_COUNTER, {},
        {{kNow - 40 * kMin, 0},
         {kNow - 30 * kMin, 30},
         {kNow - 20 * kMin, 31},
         {kNow - 10 * kMin, 32}});
  Slo slo;
  slo.target_percent = 99;
  slo.min_events = 1;
  Service s = CheckoutWith(RequestsSli(), slo);
  s.excluded = {{kNow - 45 * kMin, kNow - 29 * kMin}};  // covers the step ending at -30m
  auto st = EvaluateSlo(*store_, s, s.slos[0], kNow);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->counts.valid, 400);
  EXPECT_EQ(st->counts.good, 398);
  EXPECT_NEAR(st->budget_remaining_ratio, 0.5, 1e-9);
  // The 1-hour burn rate leaves the window out too: (2 / 400) / 0.01 = 0.5.
  EXPECT_NEAR(st->alerts[0].long_burn, 0.5, 1e-9);
  // Without the window: 32 errors of 1000, budget 10: overspent.
  s.excluded.clear();
  auto all = EvaluateSlo(*store_, s, s.slos[0], kNow);
  ASSERT_TRUE(all.ok());
  EXPECT_NEAR(all->budget_remaining_ratio, 1 - 32.0 / 10, 1e-9);
}

TEST_F(SloEngineTest, LateDataIsCountedOnceItArrivesEvenAfterRollup) {
  // Probe results for two hours ago; the minutes are rolled up; then a late
  // batch (an agent that was cut off) brings failures for the same minutes.
  Write("probe_success", v1::METRIC_TYPE_GAUGE, {{"probe", "p"}, {"host", "a"}},
        {{kNow - 120 * kMin, 1}, {kNow - 119 * kMin, 1}});
  ASSERT_TRUE(store_->RunMaintenance(kNow, RetentionPolicy{}).ok());
  Sli sli;
  sli.kind = Sli::Kind::kProbe;
  sli.probe = "p";
  auto before = EvaluateSli(*store_, sli, kNow - 3 * kHourMs, kNow);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->valid, 2);
  agent_ = "late";
  Write("probe_success", v1::METRIC_TYPE_GAUGE, {{"probe", "p"}, {"host", "b"}},
        {{kNow - 120 * kMin + 5000, 0}, {kNow - 119 * kMin + 5000, 0}});
  ASSERT_TRUE(store_->RunMaintenance(kNow, RetentionPolicy{}).ok());
  auto after = EvaluateSli(*store_, sli, kNow - 3 * kHourMs, kNow);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->valid, 4);
  EXPECT_EQ(after->good, 2);
}

TEST_F(SloEngineTest, ClockSkewBetweenAgentsShiftsMinutesButNotWindowTotals) {
  // Two agents count the same service's requests; agent b's clock runs 90 s
  // ahead, so its samples land in later minutes. Over a window that holds
  // both, the totals are exact: 300 + 500 requests, 3 + 5 errors.
  for (const auto& [agent, skew, requests, errors] :
       {std::tuple{"a", int64_t{0}, 300.0, 3.0}, std::tuple{"b", int64_t{90000}, 500.0, 5.0}}) {
    agent_ = agent;
    Write("requests_total", v1::METRIC_TYPE_COUNTER, {{"host", agent}},
          {{kNow - 30 * kMin + skew, 0}, {kNow - 20 * kMin + skew, requests}});
    Write("errors_total", v1::METRIC_TYPE_COUNTER, {{"host", agent}},
          {{kNow - 30 * kMin + skew, 0}, {kNow - 20 * kMin + skew, errors}});
  }
  auto c = EvaluateSli(*store_, RequestsSli(), kNow - kHourMs, kNow);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->valid, 800);
  EXPECT_EQ(c->good, 792);
  // A window ending between the two clocks' samples (a's at -20m, b's at
  // -18.5m) sees only agent a's.
  auto split = EvaluateSli(*store_, RequestsSli(), kNow - kHourMs, kNow - 19 * kMin);
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->valid, 300);
}

TEST(SloPeriod, CalendarPeriodsStartOnTheirBoundaryInUtc) {
  const int64_t now = 1699999200000;  // Tuesday 2023-11-14T22:00:00Z
  Slo slo;
  slo.period = Slo::Period::kMonth;
  SloPeriod month = CurrentPeriod(slo, now);
  EXPECT_EQ(month.from_ms, 1698796800000);  // 2023-11-01
  EXPECT_EQ(month.length_ms, 30 * kDayMs);
  slo.period = Slo::Period::kQuarter;
  SloPeriod quarter = CurrentPeriod(slo, now);
  EXPECT_EQ(quarter.from_ms, 1696118400000);  // 2023-10-01
  EXPECT_EQ(quarter.length_ms, 92 * kDayMs);
  slo.period = Slo::Period::kWeek;
  SloPeriod week = CurrentPeriod(slo, now);
  EXPECT_EQ(week.from_ms, 1699833600000);  // Monday 2023-11-13
  EXPECT_EQ(week.length_ms, 7 * kDayMs);
}

TEST(HumanDuration, ReadsNaturally) {
  EXPECT_EQ(HumanDuration(0.5), "30 minutes");
  EXPECT_EQ(HumanDuration(1), "1 hour");
  EXPECT_EQ(HumanDuration(23.0), "23 hours");
  EXPECT_EQ(HumanDuration(50), "2 days");
}

}  // namespace
}  // namespace plumbline::collector
