// Measurement maturity: the level rules, and the inputs read from a real store.
#include "collector/engine/maturity.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "tests/unit/sqlite_store_fixture.h"

namespace plumbline::collector {
namespace {

constexpr int64_t kMin = 60000;
constexpr int64_t kNow = 1795000000000 / kMin * kMin;

Catalog MustParse(const std::string& yaml) {
  auto c = ParseCatalog(yaml, "test.yaml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : Catalog{};
}

TEST(Maturity, EachLevelNeedsItsCriterionAndAllBelow) {
  Service s;
  s.id = "shop";
  s.components.push_back({});
  MaturityInputs in;
  EXPECT_EQ(Assess(s, in).level, 0);
  EXPECT_EQ(Assess(s, in).next_step,
            "no data arrives for its components: check that agents measure them");
  in.component_data = true;
  EXPECT_EQ(Assess(s, in).level, 1);
  EXPECT_EQ(Assess(s, in).next_step, "define an SLO");
  // Usage measured but no SLO: still level 1 (levels do not skip).
  in.usage_measured = true;
  EXPECT_EQ(Assess(s, in).level, 1);
  in.slo_defined = true;
  EXPECT_EQ(Assess(s, in).level, 3);
  EXPECT_EQ(Assess(s, in).next_step,
            "map cost: a rate card (costs:) and a component whose hosts report usage");
  in.cost_mapped = true;
  in.completeness = 0.98;
  EXPECT_EQ(Assess(s, in).level, 4);
  EXPECT_EQ(Assess(s, in).next_step, "complete the data: 98.0% of the window has data, 99% needed");
  in.completeness = 0.99;
  EXPECT_EQ(Assess(s, in).level, 5);
  EXPECT_EQ(Assess(s, in).next_step, "");
}

TEST(Maturity, FleetSummary) {
  std::vector<ServiceMaturity> all(4);
  all[0].level = 0;
  all[1].level = 3;
  all[2].level = 5;
  all[3].level = 2;
  MaturitySummary s = Summarize(all);
  EXPECT_EQ(s.services, 4);
  EXPECT_EQ(s.per_level[3], 1);
  EXPECT_DOUBLE_EQ(s.mean_level, 2.5);        // (0 + 3 + 5 + 2) / 4
  EXPECT_DOUBLE_EQ(s.share_measurable, 0.5);  // 2 of 4 at level 3+
}

class MaturityStore : public SqliteStoreTest {
 protected:
};

TEST_F(MaturityStore, ReadsEveryCriterionFromWhatTheAgentsSent) {
  Catalog c = MustParse(R"(
business_units: [{id: retail}]
services:
  - id: shop
    business_unit: retail
    components: [{id: web, hosts: ["web-*"], log: shop}]
    slis:
      - id: requests
        kind: ratio
        valid: {metric: http_requests_total, match: {log: shop}}
        bad: {metric: http_requests_total, match: {log: shop, status_class: 5xx}}
    slos: [{id: availability, sli: requests, target: 99}]
  - id: psp
    business_unit: retail
    components: [{id: api, probe: psp}]
    slis: [{id: up, kind: probe, probe: psp}]
    slos: [{id: availability, sli: up, target: 99}]
  - id: dark
    business_unit: retail
    components: [{id: x, hosts: ["nowhere-*"]}]
costs:
  currency: EUR
  rates: [{from: 2020-01-01T00:00:00Z, cpu_core_hour: 0.03}]
)");
  // One hour window. shop: requests every minute (complete), on host web-1
  // that reports usage -> 5. psp: probes in 30 of 60 minutes, no request SLI,
  // no host -> 2. dark: nothing -> 0.
  std::vector<std::pair<int64_t, double>> requests, cpu, probes;
  // A counter needs the sample before a minute to count it: start at -61m.
  for (int i = 61; i >= 1; --i) {
    requests.emplace_back(kNow - i * kMin + 1000, 100.0 * (61 - i));
    cpu.emplace_back(kNow - i * kMin + 1000, 2);
  }
  for (int i = 30; i >= 1; --i) probes.emplace_back(kNow - i * kMin + 1000, 1);
  Write("http_requests_total", v1::METRIC_TYPE_COUNTER, {{"host", "web-1"}, {"log", "shop"}},
        requests);
  Write("host_cpu_count", v1::METRIC_TYPE_GAUGE, {{"host", "web-1"}}, cpu);
  Write("probe_success", v1::METRIC_TYPE_GAUGE, {{"probe", "psp"}}, probes);
  auto m = EvaluateMaturity(*store_, c, kNow, 60 * kMin);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 3u);
  EXPECT_EQ((*m)[0].level, 5) << (*m)[0].next_step;
  EXPECT_DOUBLE_EQ((*m)[0].inputs.completeness, 1);
  EXPECT_EQ((*m)[1].level, 2);
  EXPECT_DOUBLE_EQ((*m)[1].inputs.completeness, 0.5);
  EXPECT_FALSE((*m)[1].inputs.cost_mapped);
  EXPECT_EQ((*m)[2].level, 0);
  MaturitySummary s = Summarize(*m);
  EXPECT_NEAR(s.mean_level, 7.0 / 3, 1e-12);
}

}  // namespace
}  // namespace plumbline::collector
