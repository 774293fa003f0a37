// Health score, incident detection and business impact against values
// computed by hand (the arithmetic is in the comments).
#include <gtest/gtest.h>

#include <limits>

#include "absl/time/time.h"
#include "collector/catalog/catalog.h"
#include "collector/engine/health.h"
#include "collector/engine/impact.h"
#include "collector/engine/incidents.h"

namespace plumbline::collector {
namespace {

constexpr int64_t kMin = 60000;
constexpr int64_t kT0 = 1795000000000 / kMin * kMin;  // a whole minute

Catalog MustParse(const std::string& yaml) {
  auto c = ParseCatalog(yaml, "test.yaml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : Catalog{};
}

IndicatorHealth Indicator(const std::string& slo, double importance, double burn,
                          bool critical = false, bool has_data = true) {
  IndicatorHealth i;
  i.slo = slo;
  i.importance = importance;
  i.burn = burn;
  i.critical = critical;
  i.has_data = has_data;
  return i;
}

const ServiceHealth& Find(const std::vector<ServiceHealth>& all, const std::string& id) {
  for (const ServiceHealth& h : all) {
    if (h.service == id) return h;
  }
  ADD_FAILURE() << "no health for " << id;
  return all.front();
}

// --- health -----------------------------------------------------------------

TEST(Health, IndicatorScoreIsLinearBetweenBurnOneAndThePagingRate) {
  EXPECT_DOUBLE_EQ(IndicatorScore(0), 100);
  EXPECT_DOUBLE_EQ(IndicatorScore(1), 100);
  EXPECT_DOUBLE_EQ(IndicatorScore(14.4), 0);
  EXPECT_DOUBLE_EQ(IndicatorScore(1000), 0);
  EXPECT_DOUBLE_EQ(IndicatorScore(std::numeric_limits<double>::infinity()), 0);
  // 100 * (14.4 - 7.7) / 13.4 = 50
  EXPECT_NEAR(IndicatorScore(7.7), 50, 1e-9);
  // 100 * (14.4 - 3) / 13.4 = 85.0746...
  EXPECT_NEAR(IndicatorScore(3), 85.07462686567, 1e-9);
}

const char* kOneService = R"(
business_units: [{id: retail}]
services:
  - id: shop
    business_unit: retail
    components: [{id: web, hosts: ["web-*"]}]
)";

TEST(Health, OwnScoreIsTheImportanceWeightedMean) {
  Catalog c = MustParse(kOneService);
  // (8 * 50 + 2 * 100) / 10 = 60: degraded.
  auto h = ComputeHealth(c, {{"shop", {Indicator("avail", 8, 7.7), Indicator("fast", 2, 0.3)}}});
  ASSERT_EQ(h.size(), 1u);
  ASSERT_TRUE(h[0].score);
  EXPECT_NEAR(*h[0].score, 60, 1e-9);
  EXPECT_EQ(h[0].status, "degraded");
  EXPECT_NE(h[0].explanation.find("avail: burn rate 7.70 -> 50.0 (importance 8)"),
            std::string::npos)
      << h[0].explanation;
}

TEST(Health, IndicatorsWithoutDataAreLeftOutAndZeroImportanceMeansEqualWeights) {
  Catalog c = MustParse(kOneService);
  auto h = ComputeHealth(
      c, {{"shop",
           {Indicator("a", 0, 7.7), Indicator("b", 0, 1), Indicator("c", 10, 20, false, false)}}});
  ASSERT_TRUE(h[0].score);
  EXPECT_NEAR(*h[0].score, 75, 1e-9);  // (50 + 100) / 2
  auto none = ComputeHealth(c, {{"shop", {Indicator("c", 10, 20, false, false)}}});
  EXPECT_FALSE(none[0].score);
  EXPECT_EQ(none[0].status, "no data");
}

TEST(Health, ACriticalIndicatorAloneMakesTheServiceCritical) {
  Catalog c = MustParse(kOneService);
  // Weighted: (10 * 100 + 5 * 0) / 15 = 66.7, but the critical indicator
  // scores 0, so the service does too.
  auto h =
      ComputeHealth(c, {{"shop", {Indicator("avail", 10, 0.5), Indicator("pay", 5, 14.4, true)}}});
  ASSERT_TRUE(h[0].score);
  EXPECT_EQ(*h[0].score, 0);
  EXPECT_EQ(h[0].status, "critical");
  EXPECT_NEAR(*h[0].own_score, 66.666666666667, 1e-9);
  // A critical indicator that is fine does not lift the score either.
  auto ok =
      ComputeHealth(c, {{"shop", {Indicator("avail", 10, 7.7), Indicator("pay", 5, 0, true)}}});
  EXPECT_NEAR(*ok[0].score, (10 * 50 + 5 * 100) / 15.0, 1e-9);
}

const char* kDiamond = R"(
business_units: [{id: retail}, {id: media}]
services:
  - id: psp
    external: true
    revenue_per_hour: 0
    components: [{id: api, probe: psp-http}]
    slis: [{id: up, kind: probe, probe: psp-http}]
    slos: [{id: availability, sli: up, target: 99}]
  - id: checkout
    business_unit: retail
    value_per_transaction: 2
    users: 1000
    components: [{id: web, log: checkout}]
    slis:
      - id: requests
        kind: ratio
        valid: {metric: http_requests_total, match: {log: checkout}}
        bad: {metric: http_requests_total, match: {log: checkout, status_class: 5xx}}
    slos: [{id: availability, sli: requests, target: 99}]
    dependencies: [{service: psp, kind: hard, weight: 1}]
  - id: search
    business_unit: media
    revenue_per_hour: 600
    users: 200
    components: [{id: web, hosts: ["search-*"]}]
    dependencies: [{service: psp, kind: soft, weight: 0.5}]
  - id: storefront
    business_unit: retail
    revenue_per_hour: 6000
    users: 10000
    components: [{id: web, hosts: ["front-*"]}]
    dependencies:
      - {service: checkout, kind: hard, weight: 1}
      - {service: search, kind: hard, weight: 1}
)";

TEST(Health, DependenciesCapOrBlendAndTheDiamondTakesTheWorstPath) {
  Catalog c = MustParse(kDiamond);
  // psp: one indicator at burn 9.04 -> 100 * (14.4 - 9.04) / 13.4 = 40.
  // checkout: own 100; hard on psp (weight 1) caps at 100 - 1 * 60 = 40.
  // search: no own data; soft on psp (weight 0.5): one indicator of
  //   importance 5 scoring 40 -> 40.
  // storefront: no own data; hard on checkout (40) and search (40) -> 40.
  auto h = ComputeHealth(c, {{"psp", {Indicator("availability", 5, 9.04)}},
                             {"checkout", {Indicator("availability", 5, 0.2)}}});
  EXPECT_NEAR(*Find(h, "psp").score, 40, 1e-9);
  EXPECT_NEAR(*Find(h, "checkout").score, 40, 1e-9);
  EXPECT_NEAR(*Find(h, "checkout").own_score, 100, 1e-9);
  EXPECT_NEAR(*Find(h, "search").score, 40, 1e-9);
  EXPECT_NEAR(*Find(h, "storefront").score, 40, 1e-9);
  EXPECT_EQ(Find(h, "storefront").status, "critical");
  EXPECT_NE(Find(h, "checkout").explanation.find("hard dependency psp"), std::string::npos);
}

TEST(Health, ASoftDependencyBlendsWithTheOwnIndicators) {
  Catalog c = MustParse(kDiamond);
  // search gets its own indicator (importance 5, score 100) next to the soft
  // dependency (importance 10 * 0.5 = 5, score 40): (500 + 200) / 10 = 70.
  auto h = ComputeHealth(
      c, {{"psp", {Indicator("availability", 5, 9.04)}}, {"search", {Indicator("own", 5, 0)}}});
  EXPECT_NEAR(*Find(h, "search").score, 70, 1e-9);
  // storefront: hard caps from checkout (40) and search (70): 40.
  EXPECT_NEAR(*Find(h, "storefront").score, 40, 1e-9);
}

// --- incidents --------------------------------------------------------------

// Minutes [first, last] of one SLO with `good` of 100 valid.
void Minutes(SloMinutes* m, int first, int last, double good) {
  for (int i = first; i <= last; ++i) m->minutes[kT0 + i * kMin] = {good, 100};
}

SloMinutes For(const Service& s, size_t slo_index = 0) {
  SloMinutes m;
  m.slo = &s.slos.at(slo_index);
  m.kind = s.FindSli(m.slo->sli)->kind;
  return m;
}

TEST(Incidents, AChainOfBreachingMinutesOpensAndClosesOneIncident) {
  Catalog c = MustParse(kDiamond);
  SloMinutes psp = For(*c.FindService("psp"));
  Minutes(&psp, 0, 40, 100);
  Minutes(&psp, 10, 19, 0);   // down for 10 minutes
  Minutes(&psp, 30, 30, 50);  // a one-minute blip: no incident
  ServiceMinutes m{{"psp", {psp}}};
  auto incidents = DetectIncidents(c, m, kT0 + 41 * kMin);
  ASSERT_EQ(incidents.size(), 1u);
  const Incident& inc = incidents[0];
  EXPECT_EQ(inc.range.from_ms, kT0 + 10 * kMin);
  EXPECT_EQ(inc.range.to_ms, kT0 + 20 * kMin);
  EXPECT_FALSE(inc.open);
  EXPECT_EQ(inc.id, "auto-psp-" + CompactUtc(kT0 + 10 * kMin));
  EXPECT_EQ(inc.detected_services, std::vector<std::string>({"psp"}));
  // Everything depending on psp, transitively, in catalog order.
  EXPECT_EQ(inc.affected_services,
            std::vector<std::string>({"psp", "checkout", "search", "storefront"}));
  ASSERT_EQ(inc.breaches.size(), 1u);
  EXPECT_EQ(inc.breaches[0].breaching_minutes, 10);
  EXPECT_EQ(inc.breaches[0].worst_ratio, 0);
  EXPECT_EQ(inc.title, "psp: availability below 99%");
}

TEST(Incidents, QuietGapsShorterThanCloseAfterKeepOneIncidentLongerOnesSplit) {
  Catalog c = MustParse(kDiamond);
  SloMinutes psp = For(*c.FindService("psp"));
  Minutes(&psp, 0, 60, 100);
  Minutes(&psp, 10, 11, 0);
  Minutes(&psp, 14, 15, 0);  // 2 quiet minutes: same incident [10, 16)
  Minutes(&psp, 30, 31, 0);
  Minutes(&psp, 37, 38, 0);  // 5 quiet minutes: a new one
  ServiceMinutes m{{"psp", {psp}}};
  auto incidents = DetectIncidents(c, m, kT0 + 60 * kMin);
  ASSERT_EQ(incidents.size(), 3u);
  EXPECT_EQ(incidents[0].range.from_ms, kT0 + 10 * kMin);
  EXPECT_EQ(incidents[0].range.to_ms, kT0 + 16 * kMin);
  EXPECT_EQ(incidents[1].range.from_ms, kT0 + 30 * kMin);
  EXPECT_EQ(incidents[2].range.from_ms, kT0 + 37 * kMin);
}

TEST(Incidents, GapsInDataAreNeutralAndRecentBreachesAreOpen) {
  Catalog c = MustParse(kDiamond);
  SloMinutes psp = For(*c.FindService("psp"));
  Minutes(&psp, 10, 12, 0);
  // No data for minutes 13..20 (the agent was cut off too), then failing again:
  // 8 minutes without data are not 8 healthy minutes... but they are quiet:
  // with close_after 5 this is two incidents. Data resumes failing at 21.
  Minutes(&psp, 21, 23, 0);
  ServiceMinutes m{{"psp", {psp}}};
  auto incidents = DetectIncidents(c, m, kT0 + 26 * kMin);
  ASSERT_EQ(incidents.size(), 2u);
  EXPECT_FALSE(incidents[0].open);
  EXPECT_TRUE(incidents[1].open);  // last breach ended 2 minutes before now
}

TEST(Incidents, OverlappingDetectionsOfDependentServicesMerge) {
  Catalog c = MustParse(kDiamond);
  SloMinutes psp = For(*c.FindService("psp"));
  Minutes(&psp, 10, 19, 0);
  SloMinutes checkout = For(*c.FindService("checkout"));
  Minutes(&checkout, 0, 30, 100);
  Minutes(&checkout, 11, 21, 40);
  ServiceMinutes m{{"psp", {psp}}, {"checkout", {checkout}}};
  auto incidents = DetectIncidents(c, m, kT0 + 40 * kMin);
  ASSERT_EQ(incidents.size(), 1u);
  EXPECT_EQ(incidents[0].range.from_ms, kT0 + 10 * kMin);
  EXPECT_EQ(incidents[0].range.to_ms, kT0 + 22 * kMin);
  EXPECT_EQ(incidents[0].detected_services, std::vector<std::string>({"psp", "checkout"}));
  EXPECT_EQ(incidents[0].breaches.size(), 2u);
  EXPECT_EQ(incidents[0].title, "psp: availability below 99% (and 1 more)");
}

TEST(Incidents, MaintenanceMinutesNeverBreachAndA100PercentTargetBreachesOnOneFailure) {
  Catalog c = MustParse(std::string(kDiamond) + R"(
maintenance:
  - id: psp-upgrade
    services: [psp]
    from: )" +
                        absl::FormatTime(absl::RFC3339_full, absl::FromUnixMillis(kT0 + 10 * kMin),
                                         absl::UTCTimeZone()) +
                        R"(
    to: )" +
                        absl::FormatTime(absl::RFC3339_full, absl::FromUnixMillis(kT0 + 20 * kMin),
                                         absl::UTCTimeZone()) +
                        R"(
    reason: provider maintenance announced on their status page
    by: alice@example.com
)");
  ASSERT_EQ(c.FindService("psp")->excluded.size(), 1u);
  SloMinutes psp = For(*c.FindService("psp"));
  Minutes(&psp, 10, 19, 0);  // all inside the window
  ServiceMinutes m{{"psp", {psp}}};
  EXPECT_TRUE(DetectIncidents(c, m, kT0 + 40 * kMin).empty());

  Catalog strict = MustParse(kDiamond);
  strict.services[0].slos[0].target_percent = 100;
  SloMinutes one = For(strict.services[0]);
  Minutes(&one, 0, 5, 99.9);  // one failed probe in 1000... every minute
  ServiceMinutes m2{{"psp", {one}}};
  EXPECT_EQ(DetectIncidents(strict, m2, kT0 + 40 * kMin).size(), 1u);
}

// --- impact -----------------------------------------------------------------

// The diamond: psp fails completely in minutes 2..5 of [0, 10); checkout
// (hard on psp) measured 50 of 100 requests failing in minute 3.
ServiceMinutes DiamondOutage(const Catalog& c) {
  SloMinutes psp = For(*c.FindService("psp"));
  Minutes(&psp, 0, 9, 100);
  Minutes(&psp, 2, 5, 0);
  SloMinutes checkout = For(*c.FindService("checkout"));
  Minutes(&checkout, 0, 9, 100);
  Minutes(&checkout, 3, 3, 50);
  return {{"psp", {psp}}, {"checkout", {checkout}}};
}

const ServiceImpact& FindImpact(const ImpactReport& r, const std::string& id) {
  for (const ServiceImpact& x : r.services) {
    if (x.service == id) return x;
  }
  ADD_FAILURE() << "no impact for " << id;
  return r.services.front();
}

TEST(Impact, PropagatesThroughTheDiamondWithoutCountingTwice) {
  Catalog c = MustParse(kDiamond);
  SloStatus checkout_status;
  checkout_status.budget_total = 100;          // events in the period
  checkout_status.budget_minutes_total = 432;  // 1% of 30 days
  checkout_status.attainment = 0.9985;
  checkout_status.breached = false;
  ImpactReport r = ComputeImpact(c, DiamondOutage(c), {kT0, kT0 + 10 * kMin}, {},
                                 {{"checkout", {{"availability", checkout_status}}}});
  ASSERT_EQ(r.services.size(), 4u);

  // checkout: E = max(own, 1 x psp) = 1 in minutes 2..5.
  //   failed requests = 4 x 100 = 400, of which propagated 3 x 100 + 0.5 x 100 = 350
  //   revenue = 2 per transaction x 400 = 800 (propagated 700)
  //   failed share = 4 / 10; users = 1000 x 0.4 = 400; degraded 4 minutes
  const ServiceImpact& co = FindImpact(r, "checkout");
  EXPECT_DOUBLE_EQ(co.failed_requests, 400);
  EXPECT_DOUBLE_EQ(co.failed_requests_propagated, 350);
  EXPECT_DOUBLE_EQ(co.requests, 1000);
  EXPECT_DOUBLE_EQ(co.revenue_at_risk, 800);
  EXPECT_DOUBLE_EQ(co.revenue_at_risk_propagated, 700);
  EXPECT_DOUBLE_EQ(co.failed_share, 0.4);
  EXPECT_DOUBLE_EQ(co.users_affected, 400);
  EXPECT_DOUBLE_EQ(co.degraded_minutes, 4);
  EXPECT_FALSE(co.propagated_only);
  EXPECT_EQ(co.via, "psp");
  // Budget: 50 bad events of a 100-event budget: half, 216 of 432 minutes.
  ASSERT_EQ(co.slos.size(), 1u);
  EXPECT_DOUBLE_EQ(co.slos[0].bad, 50);
  EXPECT_DOUBLE_EQ(co.slos[0].budget_burned, 0.5);
  EXPECT_DOUBLE_EQ(co.slos[0].budget_burned_minutes, 216);
  EXPECT_FALSE(co.slos[0].sla_breached);

  // search: soft, weight 0.5: E = 0.5 in 2..5; no requests measured.
  //   revenue = 600 / h x (4 x 0.5) / 60 = 20; users = 200 x 2 / 10 = 40
  const ServiceImpact& se = FindImpact(r, "search");
  EXPECT_DOUBLE_EQ(se.revenue_at_risk, 20);
  EXPECT_DOUBLE_EQ(se.revenue_at_risk_propagated, 20);
  EXPECT_DOUBLE_EQ(se.users_affected, 40);
  EXPECT_DOUBLE_EQ(se.failed_requests, 0);
  EXPECT_TRUE(se.propagated_only);

  // storefront: two paths (checkout 1, search 0.5): E = max = 1, never 1.5.
  //   revenue = 6000 / h x 4 / 60 = 400; users = 10000 x 0.4 = 4000
  const ServiceImpact& sf = FindImpact(r, "storefront");
  EXPECT_DOUBLE_EQ(sf.failed_share, 0.4);
  EXPECT_DOUBLE_EQ(sf.revenue_at_risk, 400);
  EXPECT_DOUBLE_EQ(sf.users_affected, 4000);
  EXPECT_EQ(sf.via, "checkout");
  EXPECT_TRUE(sf.propagated_only);

  // psp is external: no business unit, no revenue of its own.
  EXPECT_DOUBLE_EQ(FindImpact(r, "psp").revenue_at_risk, 0);

  // Per business unit, each service once: retail 800 + 400, media 20.
  ASSERT_EQ(r.business_units.size(), 3u);  // "", media, retail
  EXPECT_EQ(r.business_units[2].business_unit, "retail");
  EXPECT_DOUBLE_EQ(r.business_units[2].revenue_at_risk, 1200);
  EXPECT_DOUBLE_EQ(r.business_units[2].users_affected, 4400);
  EXPECT_EQ(r.business_units[2].services, 2);
  EXPECT_DOUBLE_EQ(r.business_units[1].revenue_at_risk, 20);
  EXPECT_DOUBLE_EQ(r.revenue_at_risk, 1220);
}

TEST(Impact, MaintenanceOnOneServiceIsLeftOutOfItsImpactOnly) {
  Catalog c = MustParse(std::string(kDiamond) + R"(
maintenance:
  - id: checkout-deploy
    kind: maintenance
    services: [checkout]
    from: )" +
                        absl::FormatTime(absl::RFC3339_full, absl::FromUnixMillis(kT0 + 3 * kMin),
                                         absl::UTCTimeZone()) +
                        R"(
    to: )" +
                        absl::FormatTime(absl::RFC3339_full, absl::FromUnixMillis(kT0 + 4 * kMin),
                                         absl::UTCTimeZone()) +
                        R"(
    reason: planned deploy
    by: bob@example.com
    recorded: 2026-11-01T09:00:00Z
)");
  ImpactReport r = ComputeImpact(c, DiamondOutage(c), {kT0, kT0 + 10 * kMin}, {}, {});
  // checkout: minute 3 is planned: E = 1 in 2, 4, 5; 9 minutes in the window.
  const ServiceImpact& co = FindImpact(r, "checkout");
  EXPECT_DOUBLE_EQ(co.window_minutes, 9);
  EXPECT_DOUBLE_EQ(co.failed_requests, 300);
  EXPECT_DOUBLE_EQ(co.failed_share, 3.0 / 9);
  // storefront still fails in minute 3, through search (0.5):
  //   sum E = 1 + 0.5 + 1 + 1 = 3.5; revenue = 6000 x 3.5 / 60 = 350
  EXPECT_DOUBLE_EQ(FindImpact(r, "storefront").revenue_at_risk, 350);
}

TEST(Impact, ScopeListsServicesEvenWithoutImpactAndNoTrafficMeansNoImpact) {
  Catalog c = MustParse(kDiamond);
  ImpactReport r = ComputeImpact(c, {}, {kT0, kT0 + 10 * kMin}, {"checkout"}, {});
  ASSERT_EQ(r.services.size(), 1u);
  EXPECT_DOUBLE_EQ(r.services[0].failed_requests, 0);
  EXPECT_DOUBLE_EQ(r.services[0].revenue_at_risk, 0);
  EXPECT_DOUBLE_EQ(r.services[0].window_minutes, 10);
  EXPECT_TRUE(ComputeImpact(c, {}, {kT0, kT0 + 10 * kMin}, {}, {}).services.empty());
}

TEST(Impact, RevenuePerHourIsAtRiskInBusinessHoursOnly) {
  // Friday 2026-11-27, 15:55-16:05 UTC = 16:55-17:05 in Amsterdam (UTC+1);
  // business hours end at 17:00, so 5 of the 10 failed minutes cost revenue:
  // 6000 / h x 5 / 60 = 500. Users are affected all 10 minutes.
  Catalog c = MustParse(R"(
business_units: [{id: retail}]
services:
  - id: shop
    business_unit: retail
    revenue_per_hour: 6000
    users: 100
    timezone: Europe/Amsterdam
    business_hours: ["Mon-Fri 09:00-17:00"]
    components: [{id: web, probe: shop}]
    slis: [{id: up, kind: probe, probe: shop}]
    slos: [{id: availability, sli: up, target: 99}]
)");
  absl::Time start;
  std::string err;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, "2026-11-27T15:55:00Z", &start, &err));
  const int64_t t = absl::ToUnixMillis(start);
  SloMinutes shop = For(*c.FindService("shop"));
  for (int i = 0; i < 10; ++i) shop.minutes[t + i * kMin] = {0, 6};
  ImpactReport r = ComputeImpact(c, {{"shop", {shop}}}, {t, t + 10 * kMin}, {}, {});
  ASSERT_EQ(r.services.size(), 1u);
  EXPECT_DOUBLE_EQ(r.services[0].revenue_at_risk, 500);
  EXPECT_DOUBLE_EQ(r.services[0].users_affected, 100);
  EXPECT_DOUBLE_EQ(r.services[0].degraded_minutes, 10);
}

// --- catalog ----------------------------------------------------------------

TEST(BusinessHours, ParsesDaysAndTimesAndRefusesNonsense) {
  auto b = ParseBusinessHours("Mon-Fri 08:00-18:00");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->days, 0x1f);
  EXPECT_EQ(b->start_minute, 480);
  EXPECT_EQ(b->end_minute, 1080);
  EXPECT_EQ(ParseBusinessHours("Sat,Sun 10:00-24:00")->days, 0x60);
  EXPECT_EQ(ParseBusinessHours("Fri-Mon 00:00-01:00")->days, 0x71);  // wraps the weekend
  EXPECT_EQ(ParseBusinessHours("daily 00:00-24:00")->days, 0x7f);
  for (const char* bad : {"Mon-Fri", "Funday 08:00-18:00", "Mon 18:00-08:00", "Mon 8:00-18:00",
                          "Mon 08:00-24:30", "Mon 08:60-09:00"}) {
    EXPECT_FALSE(ParseBusinessHours(bad).ok()) << bad;
  }
  auto c =
      ParseCatalog(std::string(kOneService) +
                       "    timezone: Mars/Olympus\n    business_hours: [\"Mon 18:00-08:00\"]\n",
                   "c.yaml");
  ASSERT_FALSE(c.ok());
  std::string msg(c.status().message());
  EXPECT_NE(msg.find("services[0].timezone: unknown time zone \"Mars/Olympus\""), std::string::npos)
      << msg;
  EXPECT_NE(
      msg.find("services[0].business_hours: \"Mon 18:00-08:00\": the end must be after the start"),
      std::string::npos)
      << msg;
}

TEST(Maintenance, WindowsNeedAnAuditTrailAndKnownServices) {
  auto bad = ParseCatalog(std::string(kOneService) + R"(
maintenance:
  - id: m1
    services: [nope]
    from: 2026-11-20T22:00:00Z
    to: 2026-11-20T21:00:00Z
)",
                          "c.yaml");
  ASSERT_FALSE(bad.ok());
  std::string msg(bad.status().message());
  EXPECT_NE(msg.find("maintenance[0].services: unknown service \"nope\""), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("maintenance[0].to: must be after from"), std::string::npos) << msg;
  EXPECT_NE(msg.find("maintenance[0]: missing required key \"reason\""), std::string::npos) << msg;
  EXPECT_NE(msg.find("maintenance[0]: missing required key \"by\""), std::string::npos) << msg;

  auto bad_time = ParseCatalog(std::string(kOneService) + R"(
maintenance:
  - {id: m1, services: [shop], from: yesterday, to: 2026-11-20T21:00:00Z, reason: x, by: y}
)",
                               "c.yaml");
  ASSERT_FALSE(bad_time.ok());
  EXPECT_NE(std::string(bad_time.status().message()).find("expected an RFC 3339 time"),
            std::string::npos);
}

TEST(Maintenance, RangesAreWidenedToWholeMinutesAndMerged) {
  Catalog c = MustParse(std::string(kOneService) + R"(
maintenance:
  - {id: a, services: [shop], from: "2026-11-20T22:00:30Z", to: "2026-11-20T22:10:10Z", reason: r, by: b}
  - {id: b, kind: correction, services: [shop], from: "2026-11-20T22:05:00Z", to: "2026-11-20T22:20:00Z", reason: r, by: b}
)");
  const auto& ex = c.FindService("shop")->excluded;
  ASSERT_EQ(ex.size(), 1u);
  absl::Time from, to;
  std::string err;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, "2026-11-20T22:00:00Z", &from, &err));
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, "2026-11-20T22:20:00Z", &to, &err));
  EXPECT_EQ(ex[0].from_ms, absl::ToUnixMillis(from));
  EXPECT_EQ(ex[0].to_ms, absl::ToUnixMillis(to));
  EXPECT_EQ(c.exclusions[1].kind, Exclusion::Kind::kCorrection);
}

TEST(Maintenance, SubtractRanges) {
  auto r = SubtractRanges({0, 100}, {{10, 20}, {15, 30}, {90, 120}});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].from_ms, 0);
  EXPECT_EQ(r[0].to_ms, 10);
  EXPECT_EQ(r[1].from_ms, 30);
  EXPECT_EQ(r[1].to_ms, 90);
  EXPECT_TRUE(SubtractRanges({0, 100}, {{-5, 200}}).empty());
}

}  // namespace
}  // namespace plumbline::collector
