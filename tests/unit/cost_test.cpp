// The rate card and cost allocation against values computed by hand (the
// arithmetic is in the comments), a property test over random fleets, and
// the rate card's validation messages.
#include "collector/engine/cost.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <set>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "collector/catalog/catalog.h"
#include "collector/catalog/rate_card.h"
#include "collector/engine/chargeback.h"
#include "common/yaml_config.h"

namespace plumbline::collector {
namespace {

constexpr int64_t kHour = 3600 * 1000;
constexpr int64_t kDay = 24 * kHour;

int64_t Ms(int year, int month, int day, int hour = 0) {
  return absl::ToUnixMillis(
      absl::FromCivil(absl::CivilHour(year, month, day, hour), absl::UTCTimeZone()));
}

const int64_t kNov = Ms(2026, 11, 1);
const TimeRange kNovember{Ms(2026, 11, 1), Ms(2026, 12, 1)};

constexpr const char* kCatalog = R"(
business_units: [{id: retail}, {id: wholesale}]
services:
  - id: checkout
    business_unit: retail
    components: [{id: web, hosts: ["web-*", "db-1", "app-*", "shop-*"]}]
  - id: search
    business_unit: retail
    components: [{id: index, hosts: ["web-*", "db-1", "app-*"]}]
  - id: reports
    business_unit: wholesale
    components: [{id: batch, hosts: ["web-*"]}, {id: jobs, hosts: ["db-1", "app-*"]}]
  - id: psp
    external: true
    components: [{id: gateway, hosts: ["psp-gw"]}]
)";

Catalog TestCatalog() {
  auto c = ParseCatalog(kCatalog, "catalog.yaml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : Catalog{};
}

absl::StatusOr<RateCard> ParseCard(const std::string& yaml) {
  ASSIGN_OR_RETURN(YamlDocument doc, YamlDocument::Parse(yaml, "catalog.yaml"));
  RateCard card;
  ReadRateCard(doc.Root(), {"checkout", "search", "reports", "psp"}, {"retail", "wholesale"},
               &card);
  RETURN_IF_ERROR(doc.Finish());
  return card;
}

RateCard MustParseCard(const std::string& yaml) {
  auto card = ParseCard(yaml);
  EXPECT_TRUE(card.ok()) << card.status();
  return card.ok() ? *card : RateCard{};
}

std::string CardError(const std::string& yaml) {
  auto card = ParseCard(yaml);
  return card.ok() ? "" : std::string(card.status().message());
}

// cpu 0.04 per core-hour, memory 0.005 per GiB-hour, disk 0.10 per
// GiB-month, network 0.01 per GiB, 0.05 per host-hour.
constexpr const char* kCard = R"(
costs:
  currency: EUR
  rates:
    - from: 2026-11-01T00:00:00Z
      cpu_core_hour: 0.04
      memory_gb_hour: 0.005
      disk_gb_month: 0.10
      network_gb: 0.01
      host_hour: 0.05
  hosts:
    - {host: "db-1", split: weight, weights: {checkout: 0.5, search: 0.3, reports: 0.2}}
    - {host: "web-*", split: even}
    - {host: "app-*", split: driver, driver: process_cpu_seconds_total}
  budgets:
    - {business_unit: retail, month: 2026-11, amount: 1200}
  suppliers:
    - {service: psp, sla: 99.9, credit_percent: 10, monthly_fee: 5000}
)";

HostUsage Host(const std::string& host, double cores, double core_hours, double memory, double disk,
               double network, double hours = 24) {
  HostUsage h;
  h.host = host;
  h.cpu_cores = cores;
  UsageSlice s;
  s.start_ms = kNov;
  s.end_ms = kNov + kDay;
  s.hours = hours;
  s.core_hours_used = core_hours;
  s.memory_gb_hours = memory;
  s.disk_gb_months = disk;
  s.network_gb = network;
  h.slices.push_back(s);
  return h;
}

int64_t ServiceCents(const CostReport& r, const std::string& service) {
  const ServiceCost* s = r.FindService(service);
  return s == nullptr ? 0 : s->cents;
}

int64_t SumOfLines(const CostReport& r) {
  int64_t sum = 0;
  for (const CostLine& l : r.lines) sum += l.cents;
  return sum;
}

// --- the rate card ------------------------------------------------------------

TEST(RateCard, ReadsRatesHostRulesBudgetsAndSuppliers) {
  RateCard card = MustParseCard(kCard);
  EXPECT_TRUE(card.defined);
  EXPECT_EQ(card.currency, "EUR");
  ASSERT_EQ(card.rates.size(), 1u);
  EXPECT_EQ(card.rates[0].from_ms, kNov);
  EXPECT_EQ(card.rates[0].cpu_core_hour, 0.04);
  EXPECT_EQ(card.rates[0].HostHour(""), 0.05);
  ASSERT_EQ(card.hosts.size(), 3u);
  EXPECT_EQ(card.SplitFor("db-1")->split, SplitRule::kWeight);
  EXPECT_EQ(card.SplitFor("db-1")->weights.at("search"), 0.3);
  EXPECT_EQ(card.SplitFor("app-7")->driver, "process_cpu_seconds_total");
  EXPECT_EQ(card.SplitFor("mystery"), nullptr);
  const Budget* b = card.FindBudget("retail", 2026, 11);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->amount, 1200);
  EXPECT_EQ(b->period.from_ms, Ms(2026, 11, 1));
  EXPECT_EQ(b->period.to_ms, Ms(2026, 12, 1));
  ASSERT_NE(card.FindSupplier("psp"), nullptr);
  EXPECT_EQ(card.FindSupplier("psp")->monthly_fee, 5000);
}

TEST(RateCard, WithoutCostsTheCardIsUndefined) {
  RateCard card = MustParseCard("");
  EXPECT_FALSE(card.defined);
}

TEST(RateCard, HostClassesReplaceTheHostHourAndTheFirstMatchingEntryWins) {
  RateCard card = MustParseCard(R"(
costs:
  currency: JPY
  rates:
    - {from: 2026-11-01T00:00:00Z, host_hour: 5, host_classes: {gpu: 120}}
  hosts:
    - {host: "gpu-1", split: even}
    - {host: "gpu-*", class: gpu}
)");
  EXPECT_EQ(CurrencyMinorDigits(card.currency), 0);
  EXPECT_EQ(card.HostClass("gpu-1"), "gpu");
  EXPECT_EQ(card.HostClass("web-1"), "");
  EXPECT_EQ(card.rates[0].HostHour("gpu"), 120);
  EXPECT_EQ(card.rates[0].HostHour(""), 5);
  EXPECT_EQ(card.SplitFor("gpu-1")->host, "gpu-1");
  EXPECT_EQ(card.SplitFor("gpu-2"), nullptr);
}

TEST(RateCard, EffectiveDatesAreSortedAndFindTheRateInForce) {
  RateCard card = MustParseCard(R"(
costs:
  currency: USD
  rates:
    - {from: 2026-12-01T00:00:00Z, cpu_core_hour: 0.05}
    - {from: 2026-11-01T00:00:00Z, to: 2026-12-01T00:00:00Z, cpu_core_hour: 0.04}
)");
  ASSERT_EQ(card.rates.size(), 2u);
  EXPECT_EQ(card.RateAt(Ms(2026, 11, 30, 23))->cpu_core_hour, 0.04);
  EXPECT_EQ(card.RateAt(Ms(2026, 12, 1))->cpu_core_hour, 0.05);
  EXPECT_EQ(card.RateAt(Ms(2026, 10, 31)), nullptr);
}

TEST(RateCard, NegativePricesAreRejected) {
  EXPECT_EQ(
      CardError("costs:\n  currency: EUR\n  rates:\n    - from: 2026-11-01T00:00:00Z\n"
                "      cpu_core_hour: -0.03\n"),
      "catalog.yaml:5: costs.rates[0].cpu_core_hour: a price must not be negative, got -0.03");
  EXPECT_EQ(
      CardError("costs:\n  currency: EUR\n  rates:\n"
                "    - {from: 2026-11-01T00:00:00Z, host_classes: {gpu: -1}}\n"),
      "catalog.yaml:4: costs.rates[0].host_classes.gpu: a price must not be negative, got -1");
}

TEST(RateCard, OverlappingEffectiveDatesAreRejected) {
  EXPECT_EQ(CardError(R"(costs:
  currency: EUR
  rates:
    - {from: 2026-11-01T00:00:00Z, to: 2026-12-01T00:00:00Z, cpu_core_hour: 0.03}
    - {from: 2026-11-15T00:00:00Z, cpu_core_hour: 0.04}
)"),
            "catalog.yaml:5: costs.rates[1].from: 2026-11-15T00:00:00Z overlaps costs.rates[0] "
            "(2026-11-01T00:00:00Z .. 2026-12-01T00:00:00Z)");
  // A rate without `to` runs forever, so a later one overlaps it.
  EXPECT_EQ(CardError(R"(costs:
  currency: EUR
  rates:
    - {from: 2026-12-01T00:00:00Z}
    - {from: 2026-11-01T00:00:00Z}
)"),
            "catalog.yaml:4: costs.rates[0].from: 2026-12-01T00:00:00Z overlaps costs.rates[1] "
            "(2026-11-01T00:00:00Z .. open-ended)");
  EXPECT_EQ(CardError("costs:\n  currency: EUR\n  rates:\n"
                      "    - {from: 2026-11-01T00:00:00Z, to: 2026-11-01T00:00:00Z}\n"),
            "catalog.yaml:4: costs.rates[0].to: must be after from");
  EXPECT_EQ(CardError("costs:\n  currency: EUR\n  rates:\n    - {from: 1 Nov 2026}\n"),
            "catalog.yaml:4: costs.rates[0].from: expected an RFC 3339 time such as "
            "2026-11-01T00:00:00Z, got \"1 Nov 2026\"");
}

TEST(RateCard, UnknownCurrencyIsRejected) {
  EXPECT_EQ(CardError("costs:\n  currency: EUX\n  rates: [{from: 2026-11-01T00:00:00Z}]\n"),
            "catalog.yaml:2: costs.currency: unknown currency \"EUX\" (an ISO 4217 code such as "
            "EUR, USD or GBP)");
  EXPECT_EQ(CardError("costs:\n  rates: [{from: 2026-11-01T00:00:00Z}]\n"),
            "catalog.yaml:2: costs: missing required key \"currency\"");
}

TEST(RateCard, WeightsMustSumToOneAndNameKnownServices) {
  const std::string head =
      "costs:\n  currency: EUR\n  rates: [{from: 2026-11-01T00:00:00Z}]\n  hosts:\n";
  EXPECT_EQ(
      CardError(head +
                "    - {host: db-1, split: weight, weights: {checkout: 0.5, search: 0.3}}\n"),
      "catalog.yaml:5: costs.hosts[0].weights: must sum to 1, got 0.8 (checkout 0.5 + search 0.3)");
  EXPECT_EQ(
      CardError(head + "    - {host: db-1, split: weight, weights: {checkout: 0.5, nope: 0.5}}\n"),
      "catalog.yaml:5: costs.hosts[0].weights.nope: unknown service \"nope\"");
  EXPECT_EQ(
      CardError(head +
                "    - {host: db-1, split: weight, weights: {checkout: 1.5, search: -0.5}}\n"),
      "catalog.yaml:5: costs.hosts[0].weights.search: a weight must not be negative, got -0.5");
  EXPECT_EQ(CardError(head + "    - {host: db-1, split: weight}\n"),
            "catalog.yaml:5: costs.hosts[0]: missing required key \"weights\"");
  EXPECT_EQ(CardError(head + "    - {host: db-1, split: even, weights: {checkout: 1}}\n"),
            "catalog.yaml:5: costs.hosts[0].weights: weights are only used with split: weight");
  // Within 1e-9 of 1 is 1: thirds written out to ten places.
  EXPECT_EQ(
      CardError(head + "    - {host: db-1, split: weight, weights: "
                       "{checkout: 0.3333333333, search: 0.3333333333, reports: 0.3333333334}}\n"),
      "");
}

TEST(RateCard, HostEntriesAreChecked) {
  const std::string head =
      "costs:\n  currency: EUR\n  rates: [{from: 2026-11-01T00:00:00Z}]\n  hosts:\n";
  EXPECT_EQ(CardError(head + "    - {host: db-1, split: fair}\n"),
            "catalog.yaml:5: costs.hosts[0].split: expected even, weight or driver, got \"fair\"");
  EXPECT_EQ(CardError(head + "    - {host: app-1, split: driver}\n"),
            "catalog.yaml:5: costs.hosts[0]: missing required key \"driver\"");
  EXPECT_EQ(CardError(head + "    - {host: gpu-1, class: gpu}\n"),
            "catalog.yaml:5: costs.hosts[0].class: class \"gpu\" has no price in any "
            "costs.rates[].host_classes");
  EXPECT_EQ(CardError(head + "    - {host: web-1}\n"),
            "catalog.yaml:5: costs.hosts[0]: a host entry needs class or split");
  EXPECT_EQ(CardError(head + "    - {host: web-1, split: even, idle: charge}\n"),
            "catalog.yaml:5: costs.hosts[0].idle: expected report or share, got \"charge\"");
}

TEST(RateCard, BudgetsAndSuppliersNameKnownUnitsAndServices) {
  const std::string head = "costs:\n  currency: EUR\n  rates: [{from: 2026-11-01T00:00:00Z}]\n";
  EXPECT_EQ(
      CardError(head + "  budgets:\n    - {business_unit: nope, month: 2026-11, amount: 1}\n"),
      "catalog.yaml:5: costs.budgets[0].business_unit: unknown business unit \"nope\"");
  EXPECT_EQ(
      CardError(head + "  budgets:\n    - {business_unit: retail, month: 2026-13, amount: 1}\n"),
      "catalog.yaml:5: costs.budgets[0].month: expected a month such as 2026-11, got \"2026-13\"");
  EXPECT_EQ(
      CardError(head + "  budgets:\n    - {business_unit: retail, month: 2026-11, amount: 1}\n"
                       "    - {business_unit: retail, month: 2026-11, amount: 2}\n"),
      "catalog.yaml:6: costs.budgets[1].month: duplicate budget for \"retail\" in 2026-11");
  EXPECT_EQ(CardError(head + "  suppliers:\n    - {service: acquirer, sla: 99.9}\n"),
            "catalog.yaml:5: costs.suppliers[0].service: unknown service \"acquirer\"");
  EXPECT_EQ(CardError(head + "  suppliers:\n    - {service: psp, sla: 120}\n"),
            "catalog.yaml:5: costs.suppliers[0].sla: must be in (0, 100] (percent), got 120");
}

TEST(RateCard, TyposAreUnknownKeys) {
  EXPECT_EQ(CardError("costs:\n  currency: EUR\n  rates:\n    - from: 2026-11-01T00:00:00Z\n"
                      "      cpu_core_hours: 0.03\n"),
            "catalog.yaml:5: costs.rates[0].cpu_core_hours: unknown key");
}

// --- allocation -----------------------------------------------------------------

TEST(Cost, ClaimingServicesMatchComponentHostGlobs) {
  Catalog c = TestCatalog();
  EXPECT_EQ(ClaimingServices(c, "db-1"),
            (std::vector<std::string>{"checkout", "search", "reports"}));
  EXPECT_EQ(ClaimingServices(c, "shop-3"), std::vector<std::string>{"checkout"});
  EXPECT_EQ(ClaimingServices(c, "db-2"), std::vector<std::string>{});
}

// Three shared hosts, each split three ways, one by each rule.
//   db-1 and app-1: 4 cores x 24 h, 25 core-hours used, 100 GiB-hours,
//     2 GiB-months, 10 GiB: cpu 25 x 0.04 = 1.00, memory 100 x 0.005 = 0.50,
//     disk 2 x 0.10 = 0.20, network 10 x 0.01 = 0.10, fixed 24 x 0.05 = 1.20;
//     3.00 to services; idle (96 - 25) x 0.04 = 2.84.
//   db-1 by weight 0.5 / 0.3 / 0.2: checkout 1.50, search 0.90, reports 0.60.
//   app-1 by driver 500 / 300 / 200 CPU seconds: the same shares.
//   web-1 evenly: 36 core-hours (1.44), 144 GiB-hours (0.72), 3 GiB-months
//     (0.30), 30 GiB (0.30), fixed 1.20: 3.96 / 3 = 1.32 each;
//     idle (96 - 36) x 0.04 = 2.40.
TEST(Cost, SharedHostsSplitByWeightEvenlyAndByDriver) {
  Catalog c = TestCatalog();
  RateCard card = MustParseCard(kCard);
  HostUsage db = Host("db-1", 4, 25, 100, 2, 10);
  HostUsage app = Host("app-1", 4, 25, 100, 2, 10);
  app.driver = {{"checkout", 500}, {"search", 300}, {"reports", 200}};
  HostUsage web = Host("web-1", 4, 36, 144, 3, 30);
  for (HostUsage* h : {&db, &app, &web}) h->services = ClaimingServices(c, h->host);
  auto r = AllocateCosts(c, card, kNovember, {db, app, web});
  ASSERT_TRUE(r.ok()) << r.status();

  EXPECT_EQ(ServiceCents(*r, "checkout"), 150 + 150 + 132);
  EXPECT_EQ(ServiceCents(*r, "search"), 90 + 90 + 132);
  EXPECT_EQ(ServiceCents(*r, "reports"), 60 + 60 + 132);
  EXPECT_EQ(r->allocated_cents, 300 + 300 + 396);
  EXPECT_EQ(r->idle_cents, 284 + 284 + 240);
  EXPECT_EQ(r->unallocated_cents, 0);
  EXPECT_EQ(r->total_cents, 1804);
  EXPECT_NEAR(r->total, 18.04, 1e-9);
  EXPECT_EQ(r->FindHost("db-1")->cents, 584);
  EXPECT_EQ(r->FindHost("web-1")->cents, 636);
  // Business units: retail = checkout + search, wholesale = reports.
  ASSERT_EQ(r->business_units.size(), 2u);
  EXPECT_EQ(r->FindBusinessUnit("retail")->cents, 432 + 312);
  EXPECT_EQ(r->FindBusinessUnit("wholesale")->cents, 252);

  // The methods, and one line in full: search's share of db-1's memory.
  std::set<std::string> methods;
  for (const CostLine& l : r->lines) methods.insert(l.allocation_method);
  EXPECT_EQ(methods,
            (std::set<std::string>{"weight", "driver:process_cpu_seconds_total", "even", "none"}));
  const CostLine* memory = nullptr;
  for (const CostLine& l : r->lines) {
    if (l.host == "db-1" && l.service == "search" && l.resource == "memory") memory = &l;
  }
  ASSERT_NE(memory, nullptr);
  EXPECT_EQ(memory->category, ChargeCategory::kUsage);
  EXPECT_NEAR(memory->quantity, 30, 1e-9);  // 0.3 x 100 GiB-hours
  EXPECT_EQ(memory->unit, "GiB-hours");
  EXPECT_EQ(memory->cents, 15);
  EXPECT_EQ(memory->business_unit, "retail");
}

TEST(Cost, DriverWithoutDataFallsBackToAnEvenSplit) {
  Catalog c = TestCatalog();
  RateCard card = MustParseCard(kCard);
  HostUsage app = Host("app-1", 4, 36, 144, 3, 30);
  app.services = ClaimingServices(c, "app-1");
  auto r = AllocateCosts(c, card, kNovember, {app});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ServiceCents(*r, "checkout"), 132);
  EXPECT_EQ(ServiceCents(*r, "search"), 132);
  EXPECT_EQ(r->lines[0].allocation_method, "even (no driver data)");
}

// Idle is the CPU capacity nobody used: (cores x hours - core-hours used) x
// the CPU price. web-1: (4 x 24 - 36) x 0.04 = 2.40, on its own line...
TEST(Cost, IdleCapacityIsItsOwnLineUnlessTheRuleSharesIt) {
  Catalog c = TestCatalog();
  HostUsage web = Host("web-1", 4, 36, 144, 3, 30);
  web.services = ClaimingServices(c, "web-1");
  auto r = AllocateCosts(c, MustParseCard(kCard), kNovember, {web});
  ASSERT_TRUE(r.ok()) << r.status();
  const CostLine& idle = r->lines.back();
  EXPECT_EQ(idle.category, ChargeCategory::kIdle);
  EXPECT_EQ(idle.service, "");
  EXPECT_NEAR(idle.quantity, 60, 1e-9);
  EXPECT_EQ(idle.unit, "core-hours");
  EXPECT_EQ(idle.cents, 240);
  EXPECT_EQ(r->idle_cents, 240);
  EXPECT_NEAR(r->FindHost("web-1")->idle_core_hours, 60, 1e-9);

  // ...or, with `idle: share`, split like the rest: 2.40 / 3 = 0.80 each.
  std::string shared = kCard;
  shared.replace(shared.find("{host: \"web-*\", split: even}"),
                 std::string("{host: \"web-*\", split: even}").size(),
                 "{host: \"web-*\", split: even, idle: share}");
  auto s = AllocateCosts(c, MustParseCard(shared), kNovember, {web});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->idle_cents, 0);
  EXPECT_EQ(ServiceCents(*s, "checkout"), 132 + 80);
  EXPECT_EQ(s->allocated_cents, 636);
  EXPECT_EQ(s->lines.back().category, ChargeCategory::kIdle);
  EXPECT_EQ(s->lines.back().service, "reports");

  // A host busier than its capacity (measurement noise) has no idle, not a negative one.
  HostUsage busy = Host("shop-1", 1, 1.5, 0, 0, 0, 1);
  busy.services = {"checkout"};
  auto b = AllocateCosts(c, MustParseCard(kCard), kNovember, {busy});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->idle_cents, 0);
  EXPECT_EQ(ServiceCents(*b, "checkout"), 6 + 5);  // 1.5 x 0.04, 1 x 0.05
  EXPECT_EQ(b->lines[0].allocation_method, "direct");
}

// The CPU price rises from 0.04 to 0.05 and the host-hour from 0.05 to 0.06
// at noon on 16 November; daily slices, 1 core, 24 h observed, 10 core-hours
// used a day (14 idle):
//   cpu   15 x 10 x 0.04 + 10 x (0.5 x 0.04 + 0.5 x 0.05) + 14 x 10 x 0.05
//         = 6.00 + 0.45 + 7.00 = 13.45
//   fixed 15 x 24 x 0.05 + 24 x 0.055 + 14 x 24 x 0.06 = 18.00 + 1.32 + 20.16 = 39.48
//   idle  15 x 14 x 0.04 + 14 x 0.045 + 14 x 14 x 0.05 = 8.40 + 0.63 + 9.80 = 18.83
TEST(Cost, APriceChangeMidMonthAppliesFromItsEffectiveTime) {
  Catalog c = TestCatalog();
  RateCard card = MustParseCard(R"(
costs:
  currency: EUR
  rates:
    - {from: 2026-11-01T00:00:00Z, to: 2026-11-16T12:00:00Z, cpu_core_hour: 0.04, host_hour: 0.05}
    - {from: 2026-11-16T12:00:00Z, cpu_core_hour: 0.05, host_hour: 0.06}
)");
  HostUsage h;
  h.host = "shop-1";
  h.cpu_cores = 1;
  h.services = ClaimingServices(c, h.host);
  for (int day = 0; day < 30; ++day) {
    UsageSlice s;
    s.start_ms = kNov + day * kDay;
    s.end_ms = s.start_ms + kDay;
    s.hours = 24;
    s.core_hours_used = 10;
    h.slices.push_back(s);
  }
  auto r = AllocateCosts(c, card, kNovember, {h});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->lines.size(), 3u);
  EXPECT_EQ(r->lines[0].resource, "cpu");
  EXPECT_EQ(r->lines[0].cents, 1345);
  EXPECT_NEAR(r->lines[0].quantity, 300, 1e-9);
  EXPECT_EQ(r->lines[1].category, ChargeCategory::kFixed);
  EXPECT_EQ(r->lines[1].cents, 3948);
  EXPECT_NEAR(r->lines[1].quantity, 720, 1e-9);
  EXPECT_EQ(r->lines[2].category, ChargeCategory::kIdle);
  EXPECT_EQ(r->lines[2].cents, 1883);
  EXPECT_EQ(r->total_cents, 1345 + 3948 + 1883);
  EXPECT_EQ(ServiceCents(*r, "checkout"), 1345 + 3948);
}

// mystery-1 matches no component: cpu 12 x 0.04 = 0.48, memory 48 x 0.005 =
// 0.24, fixed 1.20 -> 1.92 unallocated; idle (48 - 12) x 0.04 = 1.44.
// psp-gw belongs to an external supplier: 5 x 0.04 + 10 x 0.05 = 0.70 to
// "external"; idle (10 - 5) x 0.04 = 0.20.
TEST(Cost, AnUnclaimedHostIsUnallocatedAndSuppliersRollUpToExternal) {
  Catalog c = TestCatalog();
  HostUsage mystery = Host("mystery-1", 2, 12, 48, 0, 0);
  mystery.services = ClaimingServices(c, mystery.host);
  HostUsage psp = Host("psp-gw", 1, 5, 0, 0, 0, 10);
  psp.services = ClaimingServices(c, psp.host);
  auto r = AllocateCosts(c, MustParseCard(kCard), kNovember, {mystery, psp});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->unallocated_cents, 192);
  EXPECT_EQ(r->idle_cents, 144 + 20);
  EXPECT_EQ(r->allocated_cents, 70);
  EXPECT_EQ(r->total_cents, 192 + 164 + 70);
  EXPECT_TRUE(r->FindHost("mystery-1")->unallocated);
  EXPECT_EQ(r->lines[0].category, ChargeCategory::kUnallocated);
  EXPECT_EQ(r->lines[0].allocation_method, "none");
  ASSERT_NE(r->FindBusinessUnit("external"), nullptr);
  EXPECT_EQ(r->FindBusinessUnit("external")->cents, 70);
  EXPECT_EQ(r->FindService("psp")->business_unit, "external");
}

// db-1 with weights 0.5 / 0.3 / 0.2 and amounts that do not split into
// whole cents: cpu 30 x 0.04 = 1.20, memory 192 x 0.005 = 0.96, disk 2.5 x
// 0.10 = 0.25, network 40 x 0.01 = 0.40, fixed 1.20 (4.01 allocated), idle
// 66 x 0.04 = 2.64; total 6.65. Exact shares: checkout 2.005, search 1.203,
// reports 0.802. Floored lines sum to 6.63; the two missing cents go to the
// largest remainders: search's memory (28.8 cents) and checkout's disk
// (12.5, before search's 7.5 in line order).
TEST(Cost, RoundedLinesAddUpExactlyToTheRoundedTotal) {
  Catalog c = TestCatalog();
  HostUsage db = Host("db-1", 4, 30, 192, 2.5, 40);
  auto r = AllocateCosts(c, MustParseCard(kCard), kNovember, {db});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->total_cents, 665);
  EXPECT_EQ(SumOfLines(*r), 665);
  EXPECT_EQ(ServiceCents(*r, "checkout"), 201);
  EXPECT_EQ(ServiceCents(*r, "search"), 120);
  EXPECT_EQ(ServiceCents(*r, "reports"), 80);
  EXPECT_EQ(r->idle_cents, 264);
}

TEST(Cost, LargestRemainderRounding) {
  EXPECT_EQ(RoundLargestRemainder({0.125, 0.125, 0.125, 0.125}, 2),
            (std::vector<int64_t>{13, 13, 12, 12}));
  EXPECT_EQ(RoundLargestRemainder({1.0 / 3, 1.0 / 3, 1.0 / 3}, 2),
            (std::vector<int64_t>{34, 33, 33}));
  // 0.4 + 0.7 + 0.4 = 1.5 cents -> 2: the 0.7, then the earlier of the two 0.4s.
  EXPECT_EQ(RoundLargestRemainder({0.004, 0.007, 0.004}, 2), (std::vector<int64_t>{1, 1, 0}));
  EXPECT_EQ(RoundLargestRemainder({0.004, 0.007, 0.0035}, 2), (std::vector<int64_t>{0, 1, 0}));
  EXPECT_EQ(RoundLargestRemainder({0.5, 0.5}, 0), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(RoundLargestRemainder({}, 2), std::vector<int64_t>{});
  EXPECT_EQ(FormatMoney(123456, 2), "1234.56");
  EXPECT_EQ(FormatMoney(5, 2), "0.05");
  EXPECT_EQ(FormatMoney(-5, 2), "-0.05");
  EXPECT_EQ(FormatMoney(1235, 0), "1235");
  EXPECT_EQ(FormatMoney(7, 3), "0.007");
}

TEST(Cost, DailySpendIsReconciledToThePeriodsCostToTheCent) {
  // Three days allocated one by one (10.00 + 20.00 + 30.00) while the
  // month's own allocation says 60.01: the shares are 10.0017, 20.0033 and
  // 30.005; floors 60.00, the missing cent goes to the largest remainder.
  EXPECT_EQ(ReconcileDaily({10, 20, 30}, 6001, 2), (std::vector<double>{10, 20, 30.01}));
  // Drift the other way: 29.97 for days summing to 30.00.
  std::vector<double> down = ReconcileDaily({10, 10, 10}, 2997, 2);
  EXPECT_EQ(down, (std::vector<double>{9.99, 9.99, 9.99}));
  // Days that all cost nothing, a period that did: an even split.
  EXPECT_EQ(ReconcileDaily({0, 0}, 101, 2), (std::vector<double>{0.51, 0.5}));
  // Always the total, to the cent, across many uneven days.
  std::vector<double> days;
  for (int d = 0; d < 30; ++d) days.push_back(98.6 + d * 0.37 + (d % 3) * 0.004);
  std::vector<double> reconciled = ReconcileDaily(days, 295821, 2);
  int64_t cents = 0;
  for (double v : reconciled) cents += std::llround(v * 100);
  EXPECT_EQ(cents, 295821);
  EXPECT_TRUE(ReconcileDaily({}, 5, 2).empty());
  EXPECT_EQ(ReconcileDaily({-1, 2}, 100, 2), (std::vector<double>{-1, 2}));
}

TEST(Cost, BadInputsAreErrors) {
  Catalog c = TestCatalog();
  RateCard card = MustParseCard(kCard);
  HostUsage early = Host("shop-1", 1, 1, 0, 0, 0);
  early.slices[0].start_ms -= kDay;
  early.slices[0].end_ms -= kDay;
  auto r = AllocateCosts(c, card, kNovember, {early});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("lies outside the period"), absl::string_view::npos)
      << r.status();

  // October is in the period but before the first rate.
  auto gap = AllocateCosts(c, card, {kNov - kDay, kNovember.to_ms}, {early});
  EXPECT_EQ(gap.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(gap.status().message(),
            "host \"shop-1\": no rate in force at 2026-10-31T00:00:00Z (a gap in costs.rates)");

  HostUsage unknown = Host("shop-1", 1, 1, 0, 0, 0);
  unknown.services = {"nope"};
  EXPECT_EQ(AllocateCosts(c, card, kNovember, {unknown}).status().message(),
            "host \"shop-1\": unknown service \"nope\"");
  HostUsage negative = Host("shop-1", 1, -1, 0, 0, 0);
  EXPECT_EQ(AllocateCosts(c, card, kNovember, {negative}).status().code(),
            absl::StatusCode::kInvalidArgument);
  HostUsage too_long = Host("shop-1", 1, 1, 0, 0, 0, 25);
  EXPECT_EQ(AllocateCosts(c, card, kNovember, {too_long}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AllocateCosts(c, RateCard{}, kNovember, {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// For random fleets, usage and rate cards: allocated + idle + unallocated is
// the total to the cent, the total is the rate card applied by hand (CPU
// priced on capacity: max(cores x hours, used) x price), every line is
// within a cent of its exact cost and none is negative.
TEST(Cost, PropertyEveryCentIsAccountedForAndNoLineIsNegative) {
  Catalog c = TestCatalog();
  std::mt19937_64 rng(20261101);
  auto uniform = [&](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  };
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  auto price = [&]() { return pick(5) == 0 ? 0.0 : uniform(0, 2); };
  const std::vector<std::string> services = {"checkout", "search", "reports", "psp"};
  const std::vector<std::string> prefixes = {"web-", "db-", "app-", "shop-", "psp-gw", "x-"};

  for (int iteration = 0; iteration < 500; ++iteration) {
    SCOPED_TRACE(iteration);
    RateCard card;
    card.defined = true;
    card.currency = pick(4) == 0 ? "JPY" : "EUR";
    // Effective dates: boundaries at random milliseconds of the month.
    std::set<int64_t> boundaries;
    for (int i = pick(3); i > 0; --i) {
      boundaries.insert(kNov + static_cast<int64_t>(uniform(0, 30.0 * kDay)));
    }
    boundaries.insert(std::numeric_limits<int64_t>::max());
    int64_t from = kNov - kDay;
    for (int64_t to : boundaries) {
      Rate r;
      r.from_ms = from;
      r.to_ms = to;
      from = to;
      r.cpu_core_hour = price();
      r.memory_gb_hour = price();
      r.disk_gb_month = price();
      r.network_gb = price();
      r.host_hour = price();
      if (pick(2) == 0) r.host_classes["gpu"] = price() * 10;
      card.rates.push_back(r);
    }
    HostRule gpu;
    gpu.host = "app-1*";
    gpu.host_class = "gpu";
    card.hosts.push_back(gpu);
    for (const char* prefix : {"web-*", "db-*", "app-*"}) {
      HostRule rule;
      rule.host = prefix;
      rule.has_split = pick(4) != 0;
      rule.split = static_cast<SplitRule>(pick(3));
      rule.share_idle = pick(3) == 0;
      rule.driver = "process_cpu_seconds_total";
      if (rule.split == SplitRule::kWeight) {
        double sum = 0;
        for (const std::string& s : services) {
          double w = pick(3) == 0 ? 0 : uniform(0, 1);
          rule.weights[s] = w;
          sum += w;
        }
        if (sum == 0) rule.weights["checkout"] = sum = 1;
        for (auto& entry : rule.weights) entry.second /= sum;
      }
      card.hosts.push_back(rule);
    }

    std::vector<HostUsage> hosts;
    int nhosts = pick(9);
    double by_hand = 0;
    for (int i = 0; i < nhosts; ++i) {
      HostUsage h;
      h.host = prefixes[static_cast<size_t>(pick(6))] + std::to_string(i);
      h.cpu_cores = static_cast<double>(pick(65));
      h.services = ClaimingServices(c, h.host);
      for (const std::string& s : h.services) {
        if (pick(3) != 0) h.driver[s] = uniform(0, 1000);
      }
      const std::string host_class = card.HostClass(h.host);
      int64_t slice = pick(2) == 0 ? kHour : kDay;
      int nslices = 1 + pick(20);
      for (int k = 0; k < nslices; ++k) {
        UsageSlice s;
        int64_t slots = 30 * kDay / slice;
        s.start_ms = kNov + (static_cast<int64_t>(rng() % static_cast<uint64_t>(slots))) * slice;
        s.end_ms = s.start_ms + slice;
        s.hours = uniform(0, static_cast<double>(slice) / kHour);
        s.core_hours_used = uniform(0, 1.2) * h.cpu_cores * s.hours;
        s.memory_gb_hours = uniform(0, 256) * s.hours;
        s.disk_gb_months = uniform(0, 2000) * s.hours / kHoursPerBillingMonth;
        s.network_gb = pick(3) == 0 ? 0 : uniform(0, 500);
        h.slices.push_back(s);
        // By hand: every rate in force during the slice, by its share of the slice.
        for (const Rate& r : card.rates) {
          int64_t lo = std::max(s.start_ms, r.from_ms), hi = std::min(s.end_ms, r.to_ms);
          if (hi <= lo) continue;
          double f = static_cast<double>(hi - lo) / static_cast<double>(slice);
          by_hand +=
              f * (std::max(h.cpu_cores * s.hours, s.core_hours_used) * r.cpu_core_hour +
                   s.memory_gb_hours * r.memory_gb_hour + s.disk_gb_months * r.disk_gb_month +
                   s.network_gb * r.network_gb + s.hours * r.HostHour(host_class));
        }
      }
      hosts.push_back(std::move(h));
    }

    auto r = AllocateCosts(c, card, kNovember, hosts);
    ASSERT_TRUE(r.ok()) << r.status();
    const double unit = std::pow(10.0, r->minor_digits);
    EXPECT_EQ(r->allocated_cents + r->idle_cents + r->unallocated_cents, r->total_cents);
    EXPECT_EQ(SumOfLines(*r), r->total_cents);
    EXPECT_EQ(r->total_cents, std::llround(by_hand * unit)) << by_hand;
    int64_t services_sum = 0, units_sum = 0, hosts_sum = 0;
    for (const ServiceCost& s : r->services) services_sum += s.cents;
    for (const BusinessUnitCost& b : r->business_units) units_sum += b.cents;
    for (const HostCost& h : r->hosts) hosts_sum += h.cents;
    EXPECT_EQ(services_sum, r->allocated_cents);
    EXPECT_EQ(units_sum, r->allocated_cents);
    EXPECT_EQ(hosts_sum, r->total_cents);
    for (const CostLine& l : r->lines) {
      EXPECT_GE(l.cents, 0);
      EXPECT_GE(l.cost, 0);
      EXPECT_GE(l.quantity, 0);
      EXPECT_LT(std::fabs(static_cast<double>(l.cents) - l.cost * unit), 1.0 + 1e-6);
    }
  }
}

// --- unit cost, value and change -------------------------------------------------

TEST(Cost, CostPerThousandTransactionsAndValuePerCost) {
  Catalog c = TestCatalog();
  RateCard card = MustParseCard(kCard);
  HostUsage web = Host("web-1", 4, 36, 144, 3, 30);
  web.services = ClaimingServices(c, web.host);
  auto previous = AllocateCosts(c, card, kNovember, {web});  // 1.32 each
  HostUsage db = Host("db-1", 4, 25, 100, 2, 10);
  HostUsage app = Host("app-1", 4, 25, 100, 2, 10);
  app.services = ClaimingServices(c, app.host);
  app.driver = {{"checkout", 5}, {"search", 3}, {"reports", 2}};
  auto current = AllocateCosts(c, card, kNovember, {db, app, web});  // checkout 4.32
  ASSERT_TRUE(previous.ok() && current.ok());

  // checkout: 4.32 x 1000 / 12,000 = 0.36 per 1,000; 864 / 4.32 = 200.
  auto unit = ComputeUnitEconomics(*current, {{"checkout", {12000, 864}}, {"psp", {10, 0}}});
  ASSERT_EQ(unit.size(), 4u);
  EXPECT_EQ(unit[0].service, "checkout");
  EXPECT_NEAR(*unit[0].cost_per_1000_transactions, 0.36, 1e-12);
  EXPECT_NEAR(*unit[0].value_per_cost, 200, 1e-9);
  EXPECT_EQ(unit[1].service, "search");  // cost but no transactions
  EXPECT_FALSE(unit[1].cost_per_1000_transactions);
  EXPECT_NEAR(*unit[1].value_per_cost, 0, 1e-12);
  EXPECT_EQ(unit[3].service, "psp");  // transactions but no cost
  EXPECT_NEAR(*unit[3].cost_per_1000_transactions, 0, 1e-12);
  EXPECT_FALSE(unit[3].value_per_cost);

  // Per business unit: retail = checkout 4.32 + search 3.12 = 7.44 over
  // 12,000 + 8,000 transactions = 0.372 per 1,000; revenue 864 + 0 over 7.44
  // = 116.13. wholesale (reports 2.52) has no transactions; psp, external,
  // has transactions and no cost.
  auto units = ComputeBusinessUnitEconomics(
      *current,
      ComputeUnitEconomics(*current,
                           {{"checkout", {12000, 864}}, {"search", {8000, 0}}, {"psp", {10, 0}}}),
      c);
  ASSERT_EQ(units.size(), 3u);
  EXPECT_EQ(units[0].business_unit, "retail");
  EXPECT_NEAR(units[0].cost, 7.44, 1e-9);
  EXPECT_NEAR(units[0].transactions, 20000, 1e-9);
  EXPECT_NEAR(*units[0].cost_per_1000_transactions, 0.372, 1e-12);
  EXPECT_NEAR(*units[0].value_per_cost, 864 / 7.44, 1e-9);
  EXPECT_EQ(units[1].business_unit, "wholesale");
  EXPECT_NEAR(units[1].cost, 2.52, 1e-9);
  EXPECT_FALSE(units[1].cost_per_1000_transactions);
  EXPECT_NEAR(*units[1].value_per_cost, 0, 1e-12);
  EXPECT_EQ(units[2].business_unit, "external");
  EXPECT_NEAR(units[2].cost, 0, 1e-12);
  EXPECT_NEAR(*units[2].cost_per_1000_transactions, 0, 1e-12);
  EXPECT_FALSE(units[2].value_per_cost);

  // Month over month: checkout 1.32 -> 4.32 (+3.00, +227.27%); total 3.96 + 2.40 idle
  // = 6.36 -> 18.04.
  CostComparison cmp = CompareCosts(*previous, *current);
  EXPECT_NEAR(cmp.total.previous, 6.36, 1e-9);
  EXPECT_NEAR(cmp.total.current, 18.04, 1e-9);
  EXPECT_NEAR(cmp.total.delta, 11.68, 1e-9);
  EXPECT_NEAR(cmp.services.at("checkout").delta, 3.00, 1e-9);
  EXPECT_NEAR(*cmp.services.at("checkout").percent, 300.0 / 1.32, 1e-9);
  EXPECT_NEAR(cmp.business_units.at("wholesale").current, 2.52, 1e-9);
  // 1.32 x 1000 / 12,000 = 0.11 -> 0.36 per 1,000 transactions.
  auto before = ComputeUnitEconomics(*previous, {{"checkout", {12000, 864}}});
  auto unit_change = CompareUnitCosts(before, unit);
  ASSERT_EQ(unit_change.count("checkout"), 1u);
  EXPECT_NEAR(unit_change.at("checkout").previous, 0.11, 1e-12);
  EXPECT_NEAR(unit_change.at("checkout").delta, 0.25, 1e-12);
  EXPECT_FALSE(MakeChange(0, 5).percent);
}

// --- forecasts and budgets --------------------------------------------------------

// Daily spend 10 + 2d for the first 10 days of a 30-day month: the fit is
// exact (intercept 10, slope 2); to date 100 + 2 x 45 = 190; remaining days
// 10..29: 20 x 10 + 2 x (435 - 45) = 980; projected 1170.
TEST(Cost, ForecastOnALinearTrendIsExact) {
  std::vector<double> spend;
  for (int d = 0; d < 10; ++d) spend.push_back(10 + 2 * d);
  SpendForecast f = ForecastSpend(spend, 30);
  EXPECT_NEAR(f.intercept, 10, 1e-9);
  EXPECT_NEAR(f.slope, 2, 1e-9);
  EXPECT_NEAR(f.spend_to_date, 190, 1e-9);
  EXPECT_NEAR(f.projected_remaining, 980, 1e-9);
  EXPECT_NEAR(f.projected_total, 1170, 1e-9);
  EXPECT_NEAR(f.residual_rmse, 0, 1e-9);

  std::vector<double> month;
  for (int d = 0; d < 30; ++d) month.push_back(10 + 2 * d);
  ForecastAccuracy a = BacktestForecast({month}, 3);
  EXPECT_EQ(a.forecasts, 27);  // cut-offs 3..29
  EXPECT_NEAR(a.mean_absolute_error, 0, 1e-9);
  EXPECT_NEAR(a.max_absolute_percent_error, 0, 1e-9);
}

// A noisy 4-day period 10, 12, 10, 12 (total 44), cut-offs 2 and 3:
//   k = 2: line 10 + 2d -> 22 + 14 + 16 = 52, error 8 (18.18%)
//   k = 3: slope 0, mean 32/3 -> 32 + 10.667 = 42.667, error 1.333 (3.03%)
// MAE (8 + 1.333) / 2 = 4.667; MAPE (18.18 + 3.03) / 2 = 10.61%.
TEST(Cost, ForecastErrorOnANoisyHistoryIsReported) {
  ForecastAccuracy a = BacktestForecast({{10, 12, 10, 12}}, 2);
  EXPECT_EQ(a.forecasts, 2);
  EXPECT_NEAR(a.mean_absolute_error, 14.0 / 3, 1e-9);
  EXPECT_NEAR(a.mean_absolute_percent_error, (8.0 / 44 + 4.0 / 3 / 44) * 50, 1e-9);
  EXPECT_NEAR(a.max_absolute_percent_error, 8.0 / 44 * 100, 1e-9);
  // Residuals of 10, 12, 10 around 32/3: -2/3, 4/3, -2/3 -> rmse sqrt(8/9).
  EXPECT_NEAR(ForecastSpend({10, 12, 10}, 4).residual_rmse, std::sqrt(8.0 / 9), 1e-9);
  // A falling trend never projects negative days: 10, 5 -> 0, 0 after.
  EXPECT_NEAR(ForecastSpend({10, 5}, 5).projected_total, 15, 1e-9);
  EXPECT_NEAR(ForecastSpend({}, 30).projected_total, 0, 1e-9);
}

TEST(Cost, BudgetAlertWhenTheProjectionExceedsTheBudget) {
  RateCard card = MustParseCard(kCard);
  std::vector<double> spend;
  for (int d = 0; d < 10; ++d) spend.push_back(10 + 2 * d);
  SpendForecast f = ForecastSpend(spend, 30);  // projected 1170
  BudgetStatus within = EvaluateBudget(*card.FindBudget("retail", 2026, 11), f, card.currency);
  EXPECT_FALSE(within.alert);
  EXPECT_NEAR(within.projected_over, -30, 1e-9);
  EXPECT_EQ(within.message,
            "retail: projected spend EUR 1170.00 for 2026-11 is within the budget of EUR 1200.00");
  Budget tight = *card.FindBudget("retail", 2026, 11);
  tight.amount = 1000;
  BudgetStatus over = EvaluateBudget(tight, f, card.currency);
  EXPECT_TRUE(over.alert);
  EXPECT_NEAR(over.projected_over, 170, 1e-9);
  EXPECT_EQ(over.message,
            "retail: projected spend EUR 1170.00 for 2026-11 exceeds the budget of EUR 1000.00 "
            "by EUR 170.00 (17.0%)");
}

// --- supplier credits -----------------------------------------------------------

// SLA 99.9%, 10% of a 5,000 monthly fee: 99.85% attained -> 500 credit;
// exactly 99.9% meets the SLA.
TEST(Cost, SupplierCreditsAreOwedBelowTheSla) {
  RateCard card = MustParseCard(kCard);
  const SupplierTerms& psp = *card.FindSupplier("psp");
  SupplierCredit breached = ComputeSupplierCredit(psp, 0.9985);
  EXPECT_TRUE(breached.breached);
  EXPECT_NEAR(breached.credit, 500, 1e-9);
  SupplierCredit met = ComputeSupplierCredit(psp, 0.999);
  EXPECT_FALSE(met.breached);
  EXPECT_EQ(met.credit, 0);
  EXPECT_FALSE(ComputeSupplierCredit(psp, 1.0).breached);
}

// --- export ------------------------------------------------------------------------

TEST(Cost, CsvFieldsAreQuotedPerRfc4180) {
  EXPECT_EQ(CsvField("web-1"), "web-1");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvField(""), "");
}

TEST(Cost, FocusCsvHasOneRowPerLine) {
  Catalog c = TestCatalog();
  HostUsage shop = Host("shop-1", 1, 1, 0, 0, 0, 1);  // 1 core-hour used of 1: no idle
  shop.services = ClaimingServices(c, shop.host);
  HostUsage odd = Host("odd,host", 1, 0, 0, 0, 0, 1);  // unclaimed: 0.05 fixed, 1 idle core-hour
  auto r = AllocateCosts(c, MustParseCard(kCard), kNovember, {shop, odd});
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string period = "2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,";
  EXPECT_EQ(
      FocusCsv(*r),
      "BillingPeriodStart,BillingPeriodEnd,BusinessUnit,Service,ResourceId,ChargeCategory,"
      "ConsumedQuantity,ConsumedUnit,EffectiveCost,BillingCurrency,AllocationMethod,Tags\r\n" +
          period +
          "retail,checkout,shop-1,usage,1,core-hours,0.04,EUR,direct,"
          "\"{\"\"resource\"\":\"\"cpu\"\"}\"\r\n" +
          period +
          "retail,checkout,shop-1,fixed,1,host-hours,0.05,EUR,direct,"
          "\"{\"\"resource\"\":\"\"host\"\"}\"\r\n" +
          period +
          ",,\"odd,host\",unallocated,1,host-hours,0.05,EUR,none,"
          "\"{\"\"resource\"\":\"\"host\"\"}\"\r\n" +
          period +
          ",,\"odd,host\",idle,1,core-hours,0.04,EUR,none,"
          "\"{\"\"resource\"\":\"\"cpu\"\"}\"\r\n");
}

}  // namespace
}  // namespace plumbline::collector

namespace plumbline::collector {
namespace {

TEST(Cost, DailySpendAllocatesEachDayOnItsOwn) {
  // web-1 as in SharedHostsSplitByWeightEvenlyAndByDriver, on Nov 1 and 2:
  // each day checkout, search and reports get 1.32 each (even split), so
  // retail (checkout + search) spends 2.64 a day and wholesale 1.32.
  Catalog c = TestCatalog();
  c.rate_card = std::make_shared<RateCard>(MustParseCard(kCard));
  HostUsage web = Host("web-1", 4, 36, 144, 3, 30);
  UsageSlice second = web.slices[0];
  second.start_ms += kDay;
  second.end_ms += kDay;
  web.slices.push_back(second);
  web.services = ClaimingServices(c, web.host);
  auto daily = DailySpend(c, {web}, {kNov, kNov + 2 * kDay});
  ASSERT_TRUE(daily.ok()) << daily.status();
  EXPECT_EQ((*daily)["retail"], std::vector<double>({2.64, 2.64}));
  EXPECT_EQ((*daily)["wholesale"], std::vector<double>({1.32, 1.32}));
}

}  // namespace
}  // namespace plumbline::collector
