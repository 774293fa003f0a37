#include "tools/load_series.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace plumbline::load_gen {
namespace {

constexpr int64_t kFirstTs = 1'700'000'000'000;
constexpr int64_t kInterval = 10'000;

TEST(LoadSeries, SequenceShapeIsWhatTheOracleChecks) {
  LoadSeries series(SeriesShape::kSequence, 3, kFirstTs, kInterval);
  ASSERT_EQ(series.series().size(), 3u);
  EXPECT_EQ(series.series()[2].name, "load_sample");
  EXPECT_EQ(series.series()[2].labels,
            (std::vector<std::pair<std::string, std::string>>{{"series", "2"}}));
  EXPECT_EQ(series.Value(7, 2, 41), 41.0);
  EXPECT_EQ(series.Timestamp(1), kFirstTs);
  EXPECT_EQ(series.Timestamp(41), kFirstTs + 40 * kInterval);
}

TEST(LoadSeries, HostSeriesOfAnAgentHaveDistinctLabelSets) {
  LoadSeries series(SeriesShape::kHost, 500, kFirstTs, kInterval);
  std::set<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> seen;
  for (const SeriesSpec& s : series.series()) {
    EXPECT_TRUE(seen.insert({s.name, s.labels}).second) << s.name;
  }
  EXPECT_EQ(series.series()[0].name, "node_cpu_seconds_total");
  EXPECT_EQ(series.series()[0].labels,
            (std::vector<std::pair<std::string, std::string>>{{"cpu", "0"}, {"mode", "idle"}}));
}

TEST(LoadSeries, HostCountersNeverGoDownAndDoGoUp) {
  LoadSeries series(SeriesShape::kHost, 100, kFirstTs, kInterval);
  for (uint64_t agent = 0; agent < 4; ++agent) {
    for (size_t k = 0; k < series.series().size(); ++k) {
      if (series.series()[k].kind != SeriesSpec::Kind::kCounter) continue;
      double previous = series.Value(agent, k, 1);
      for (uint64_t q = 2; q <= 3000; ++q) {
        const double v = series.Value(agent, k, q);
        ASSERT_GE(v, previous) << series.series()[k].name << " agent " << agent << " batch " << q;
        previous = v;
      }
      if (series.series()[k].level * 10 * 3000 >= 10 * series.series()[k].step) {
        EXPECT_GT(previous, series.Value(agent, k, 1)) << series.series()[k].name;
      }
    }
  }
}

TEST(LoadSeries, HostValuesAreMultiplesOfTheirStepAndMostlyRepeatOrMoveSlowly) {
  LoadSeries series(SeriesShape::kHost, 58, kFirstTs, kInterval);
  for (size_t k = 0; k < series.series().size(); ++k) {
    const SeriesSpec& s = series.series()[k];
    for (uint64_t q = 1; q <= 50; ++q) {
      const double v = series.Value(3, k, q);
      // In whole steps (hundredths of a second, pages, ...), up to the
      // rounding of a double.
      const double steps = s.step < 1 ? v * std::round(1 / s.step) : v / s.step;
      EXPECT_NEAR(steps, std::round(steps), 1e-12 * std::abs(steps) + 1e-9) << s.name;
      if (s.kind == SeriesSpec::Kind::kGauge) {
        // A swing of at most 1/28 of the amplitude per batch (period >= 180 batches).
        EXPECT_LE(std::abs(v - series.Value(3, k, q + 1)),
                  s.level * 1.5 * s.swing * 2 * 3.1416 / 180 + s.step)
            << s.name;
      }
      if (s.kind == SeriesSpec::Kind::kConstant) {
        EXPECT_EQ(v, series.Value(3, k, q + 1)) << s.name;
      }
    }
  }
}

TEST(LoadSeries, ValuesArePureFunctionsOfAgentSeriesAndBatch) {
  LoadSeries a(SeriesShape::kHost, 50, kFirstTs, kInterval);
  LoadSeries b(SeriesShape::kHost, 50, kFirstTs, kInterval);
  int differ_between_agents = 0;
  for (size_t k = 0; k < 50; ++k) {
    EXPECT_EQ(a.Value(5, k, 123), b.Value(5, k, 123));
    if (a.Value(5, k, 123) != a.Value(6, k, 123)) ++differ_between_agents;
  }
  EXPECT_GT(differ_between_agents, 40);  // only a readonly flag or link state is the same
}

}  // namespace
}  // namespace plumbline::load_gen
