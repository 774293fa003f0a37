// The per-service report read from a real store: SLO attainment over the
// window outside maintenance, requests, cost and revenue from the chargeback,
// and what it says without a rate card.
#include "collector/engine/report.h"

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "collector/catalog/catalog_holder.h"
#include "collector/engine/chargeback.h"
#include "tests/unit/sqlite_store_fixture.h"

namespace plumbline::collector {
namespace {

constexpr int64_t kMin = 60000;
constexpr int64_t kHour = 60 * kMin;
constexpr int64_t kNow = 1795000000000 / kHour * kHour;  // an hour boundary
constexpr int64_t kFrom = kNow - kHour;

std::string Rfc3339(int64_t ms) {
  return absl::FormatTime(absl::RFC3339_full, absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

// shop: requests and a latency histogram, on host web-1, in maintenance for
// minutes 30..39 of the hour. psp: a probe, no host. ledger: nothing.
std::string CatalogYaml(bool with_costs) {
  std::string yaml = R"(
business_units: [{id: retail}, {id: finance}]
services:
  - id: shop
    name: Web shop
    business_unit: retail
    value_per_transaction: 0.5
    components: [{id: web, hosts: ["web-1"], log: shop}]
    slis:
      - id: requests
        kind: ratio
        valid: {metric: http_requests_total, match: {log: shop}}
        bad: {metric: http_requests_total, match: {log: shop, status_class: 5xx}}
      - id: fast
        kind: latency
        histogram: {metric: http_request_duration_seconds, match: {log: shop}}
        threshold: 300ms
    slos:
      - {id: availability, sli: requests, target: 99}
      - {id: latency, sli: fast, target: 95}
  - id: psp
    business_unit: finance
    revenue_per_hour: 10
    components: [{id: api, probe: psp}]
    slis: [{id: up, kind: probe, probe: psp}]
    slos: [{id: availability, sli: up, target: 99}]
  - id: ledger
    business_unit: finance
maintenance:
  - id: shop-deploy
    services: [shop]
    from: )" + Rfc3339(kFrom + 30 * kMin) +
                     R"(
    to: )" + Rfc3339(kFrom + 40 * kMin) +
                     R"(
    reason: database migration
    by: alice@example.com
)";
  if (with_costs) {
    yaml += R"(costs:
  currency: EUR
  rates: [{from: 2020-01-01T00:00:00Z, host_hour: 1.2}]
)";
  }
  return yaml;
}

Catalog MustParse(const std::string& yaml) {
  auto c = ParseCatalog(yaml, "test.yaml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : Catalog{};
}

class ServiceReportStore : public SqliteStoreTest {
 protected:
  // Every minute of [kFrom, kNow) (and the counters' sample a minute before):
  // 100 requests, 90 of them under 300 ms; 10 failures a minute during the
  // maintenance, 1 a minute otherwise. psp: a probe a minute, the first 3
  // failing. web-1: 2 cores, sampled every minute.
  void SetUp() override {
    SqliteStoreTest::SetUp();
    std::vector<std::pair<int64_t, double>> ok, bad, count, fast, cores, probes;
    double failed = 0;
    for (int m = -1; m < 60; ++m) {
      const int64_t t = kFrom + m * kMin + 1000;
      if (m >= 0) failed += m >= 30 && m < 40 ? 10 : 1;
      ok.emplace_back(t, 100.0 * (m + 1) - failed);
      bad.emplace_back(t, failed);
      count.emplace_back(t, 100.0 * (m + 1));
      fast.emplace_back(t, 90.0 * (m + 1));
      if (m >= 0) {
        cores.emplace_back(t, 2);
        probes.emplace_back(t, m < 3 ? 0 : 1);
      }
    }
    Write("http_requests_total", v1::METRIC_TYPE_COUNTER,
          {{"log", "shop"}, {"status_class", "2xx"}}, ok);
    Write("http_requests_total", v1::METRIC_TYPE_COUNTER,
          {{"log", "shop"}, {"status_class", "5xx"}}, bad);
    Write("http_request_duration_seconds_count", v1::METRIC_TYPE_COUNTER, {{"log", "shop"}}, count);
    Write("http_request_duration_seconds_bucket", v1::METRIC_TYPE_COUNTER,
          {{"log", "shop"}, {"le", "0.3"}}, fast);
    Write("host_cpu_count", v1::METRIC_TYPE_GAUGE, {{"host", "web-1"}}, cores);
    Write("probe_success", v1::METRIC_TYPE_GAUGE, {{"probe", "psp"}}, probes);
  }
};

TEST_F(ServiceReportStore, AttainmentLeavesOutMaintenanceAndCostIsTheChargebacks) {
  Catalog c = MustParse(CatalogYaml(true));
  // The window ends in the future: evaluated up to now.
  auto r = EvaluateServiceReport(*store_, c, {kFrom + 20 * 1000, kNow + kHour}, kNow + 30000, "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->window.from_ms, kFrom);  // whole minutes
  EXPECT_EQ(r->window.to_ms, kNow);
  EXPECT_TRUE(r->has_cost);
  EXPECT_EQ(r->currency, "EUR");
  EXPECT_EQ(r->note, "");
  ASSERT_EQ(r->services.size(), 3u);

  const ServiceReportRow& shop = r->services[0];
  EXPECT_EQ(shop.service, "shop");
  EXPECT_EQ(shop.name, "Web shop");
  EXPECT_EQ(shop.business_unit, "retail");
  // Requests count the maintenance too: 60 minutes x 100.
  EXPECT_EQ(shop.requests, 6000);
  ASSERT_EQ(shop.objectives.size(), 2u);
  // Outside the 10 minutes of maintenance: 50 minutes, 5000 requests, 50 failed.
  const ObjectiveAttainment& availability = shop.objectives[0];
  EXPECT_EQ(availability.slo, "availability");
  EXPECT_EQ(ObjectiveKindName(availability.kind), "availability");
  EXPECT_EQ(availability.counts.valid, 5000);
  EXPECT_EQ(availability.counts.good, 4950);
  EXPECT_DOUBLE_EQ(availability.attainment, 0.99);
  EXPECT_DOUBLE_EQ(availability.target, 0.99);
  EXPECT_TRUE(availability.met);  // exactly on target
  const ObjectiveAttainment& latency = shop.objectives[1];
  EXPECT_EQ(latency.sli, "fast");
  EXPECT_EQ(ObjectiveKindName(latency.kind), "latency");
  EXPECT_EQ(latency.counts.valid, 5000);
  EXPECT_EQ(latency.counts.good, 4500);
  EXPECT_DOUBLE_EQ(latency.attainment, 0.9);
  EXPECT_FALSE(latency.met);
  // web-1 observed for the hour at 1.20 EUR an hour, all of it shop's.
  ASSERT_TRUE(shop.cents.has_value());
  EXPECT_EQ(*shop.cents, 120);
  ASSERT_TRUE(shop.cost_per_1000_requests.has_value());
  EXPECT_NEAR(*shop.cost_per_1000_requests, 1.20 * 1000 / 6000, 1e-12);
  ASSERT_TRUE(shop.revenue.has_value());
  EXPECT_DOUBLE_EQ(*shop.revenue, 0.5 * 6000);

  // psp: 57 of 60 probes; no host, so no cost; revenue per hour x 1 hour.
  const ServiceReportRow& psp = r->services[1];
  EXPECT_EQ(psp.requests, 0);  // a probe is not a request
  ASSERT_EQ(psp.objectives.size(), 1u);
  EXPECT_EQ(ObjectiveKindName(psp.objectives[0].kind), "availability");
  EXPECT_DOUBLE_EQ(psp.objectives[0].attainment, 57.0 / 60);
  EXPECT_FALSE(psp.objectives[0].met);
  EXPECT_EQ(psp.cents, 0);
  EXPECT_FALSE(psp.cost_per_1000_requests.has_value());
  ASSERT_TRUE(psp.revenue.has_value());
  EXPECT_NEAR(*psp.revenue, 10, 1e-9);

  // ledger: no SLOs, no data, no revenue figures.
  const ServiceReportRow& ledger = r->services[2];
  EXPECT_TRUE(ledger.objectives.empty());
  EXPECT_EQ(ledger.cents, 0);
  EXPECT_FALSE(ledger.revenue.has_value());
}

TEST_F(ServiceReportStore, ABusinessUnitLimitsTheRows) {
  Catalog c = MustParse(CatalogYaml(true));
  auto r = EvaluateServiceReport(*store_, c, {kFrom, kNow}, kNow, "finance");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->services.size(), 2u);
  EXPECT_EQ(r->services[0].service, "psp");
  EXPECT_EQ(r->services[1].service, "ledger");
  auto unknown = EvaluateServiceReport(*store_, c, {kFrom, kNow}, kNow, "nope");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(unknown.status().message(), "unknown business unit \"nope\"");
}

TEST_F(ServiceReportStore, WithoutARateCardTheReportHasNoCostAndSaysWhy) {
  Catalog c = MustParse(CatalogYaml(false));
  auto r = EvaluateServiceReport(*store_, c, {kFrom, kNow}, kNow, "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->has_cost);
  EXPECT_EQ(r->note,
            "the catalog has no costs: section (a rate card), so the report has no cost or "
            "revenue; see docs/cost.md");
  const ServiceReportRow& shop = r->services[0];
  EXPECT_EQ(shop.requests, 6000);
  EXPECT_DOUBLE_EQ(shop.objectives[0].attainment, 0.99);
  EXPECT_FALSE(shop.cents.has_value());
  EXPECT_FALSE(shop.cost_per_1000_requests.has_value());
  EXPECT_FALSE(shop.revenue.has_value());
}

// A collector started without a catalog (as the background report runs it).
TEST_F(ServiceReportStore, WithoutACatalogTheReportIsEmptyAndTheChargebackSaysWhy) {
  CatalogHolder none;
  auto r = EvaluateServiceReport(*store_, *none.Get(), {kFrom, kNow}, kNow, "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->services.empty());
  EXPECT_FALSE(r->has_cost);
  auto cb = EvaluateChargeback(*store_, *none.Get(), {kFrom, kNow}, kNow);
  EXPECT_EQ(cb.status().code(), absl::StatusCode::kFailedPrecondition) << cb.status();
}

TEST_F(ServiceReportStore, AWindowNotStartedYetIsAnError) {
  Catalog c = MustParse(CatalogYaml(true));
  auto r = EvaluateServiceReport(*store_, c, {kNow + kMin, kNow + kHour}, kNow, "");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace plumbline::collector
