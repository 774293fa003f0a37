#include "collector/catalog/catalog.h"

#include <gtest/gtest.h>

namespace plumbline::collector {
namespace {

constexpr const char* kGood = R"(
business_units:
  - id: retail
    name: Retail
    owner: cfo@example.com
services:
  - id: checkout
    name: Checkout
    business_unit: retail
    tier: 1
    revenue_per_hour: 12000
    users: 50000
    components:
      - id: web
        hosts: ["web-*"]
        log: checkout
    slis:
      - id: requests
        kind: ratio
        valid: {metric: http_requests_total, match: {log: checkout}}
        bad: {metric: http_requests_total, match: {log: checkout, status_class: 5xx}}
      - id: fast
        kind: latency
        histogram: {metric: http_request_duration_seconds}
        threshold: 300ms
    slos:
      - {id: availability, sli: requests, target: 99.9, window: 30d}
      - {id: latency, sli: fast, target: 95, window: month, importance: 3}
    dependencies:
      - {service: payments, kind: hard}
  - id: payments
    external: true
    slis:
      - {id: up, kind: probe, probe: psp-http}
    slos:
      - {id: up, sli: up, target: 99.5, window: 7d, budgeting: timeslices}
)";

TEST(Catalog, LoadsUnitsServicesSlisSlosAndDependencies) {
  auto c = ParseCatalog(kGood, "catalog.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->business_units.size(), 1u);
  ASSERT_EQ(c->services.size(), 2u);
  const Service* checkout = c->FindService("checkout");
  ASSERT_NE(checkout, nullptr);
  EXPECT_EQ(checkout->revenue_per_hour, 12000);
  EXPECT_EQ(checkout->components[0].hosts, std::vector<std::string>{"web-*"});
  const Sli* requests = checkout->FindSli("requests");
  ASSERT_NE(requests, nullptr);
  EXPECT_EQ(requests->kind, Sli::Kind::kRatio);
  ASSERT_EQ(requests->bad.match.size(), 2u);
  EXPECT_EQ(checkout->FindSli("fast")->threshold_seconds, 0.3);
  EXPECT_DOUBLE_EQ(checkout->slos[0].target(), 0.999);
  EXPECT_EQ(checkout->slos[0].window.count(), 30LL * 86400 * 1000);
  EXPECT_EQ(checkout->slos[1].period, Slo::Period::kMonth);
  EXPECT_TRUE(c->FindService("payments")->slos[0].timeslices);
  ASSERT_EQ(c->Dependents("payments").size(), 1u);
  EXPECT_EQ(c->Dependents("payments")[0]->id, "checkout");
}

std::string ErrorOf(const std::string& yaml) {
  auto c = ParseCatalog(yaml, "catalog.yaml");
  return c.ok() ? "" : std::string(c.status().message());
}

TEST(Catalog, UnknownServiceInADependencyIsNamed) {
  EXPECT_EQ(ErrorOf("business_units: [{id: bu}]\nservices:\n  - id: a\n    business_unit: bu\n"
                    "    dependencies:\n      - service: nope\n"),
            "catalog.yaml:6: services[0].dependencies[0].service: unknown service \"nope\"");
}

TEST(Catalog, RevenueIsInTheCatalogCurrencyOrElseTheRateCards) {
  const std::string units = "business_units: [{id: bu}]\n";
  const std::string card =
      "costs:\n  currency: EUR\n  rates: [{from: 2026-01-01T00:00:00Z, host_hour: 1}]\n";
  auto none = ParseCatalog(units, "catalog.yaml");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->currency, "");
  auto own = ParseCatalog("currency: USD\n" + units, "catalog.yaml");
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(own->currency, "USD");
  auto from_card = ParseCatalog(units + card, "catalog.yaml");
  ASSERT_TRUE(from_card.ok()) << from_card.status();
  EXPECT_EQ(from_card->currency, "EUR");
  auto both = ParseCatalog("currency: EUR\n" + units + card, "catalog.yaml");
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ(both->currency, "EUR");
  EXPECT_EQ(ErrorOf("currency: USD\n" + units + card),
            "catalog.yaml:1: currency: revenue in USD but costs.currency is EUR: use one currency");
  EXPECT_EQ(ErrorOf("currency: EUX\n" + units),
            "catalog.yaml:1: currency: unknown currency \"EUX\" (an ISO 4217 code such as EUR, "
            "USD or GBP)");
}

TEST(Catalog, DependencyCyclesAreRejected) {
  EXPECT_EQ(ErrorOf("business_units: [{id: bu}]\nservices:\n"
                    "  - {id: a, business_unit: bu, dependencies: [{service: b}]}\n"
                    "  - {id: b, business_unit: bu, dependencies: [{service: c}]}\n"
                    "  - {id: c, business_unit: bu, dependencies: [{service: a}]}\n"),
            "catalog.yaml:5: services[2].dependencies: dependency cycle: a -> b -> c -> a");
}

TEST(Catalog, TargetsOutsideZeroToHundredAreRejected) {
  std::string base =
      "business_units: [{id: bu}]\nservices:\n  - id: a\n    business_unit: bu\n"
      "    slis: [{id: p, kind: probe, probe: x}]\n    slos:\n      - {id: o, sli: p, target: ";
  EXPECT_EQ(ErrorOf(base + "120}\n"),
            "catalog.yaml:7: services[0].slos[0].target: must be in (0, 100] (percent), got 120");
  EXPECT_NE(ErrorOf(base + "0}\n"), "");
  EXPECT_EQ(ErrorOf(base + "100}\n"), "");
}

TEST(Catalog, UnknownSelectorFieldIsRejected) {
  EXPECT_EQ(ErrorOf("business_units: [{id: bu}]\nservices:\n  - id: a\n    business_unit: bu\n"
                    "    components:\n      - {id: web, hostz: [x]}\n"),
            "catalog.yaml:6: services[0].components[0]: a component needs at least one of hosts, "
            "process, probe, log, metrics\n"
            "catalog.yaml:6: services[0].components[0].hostz: unknown key");
}

TEST(Catalog, DuplicateIdsAreRejected) {
  EXPECT_EQ(ErrorOf("business_units: [{id: bu}]\nservices:\n  - {id: a, business_unit: bu}\n"
                    "  - {id: a, business_unit: bu}\n"),
            "catalog.yaml:4: services[1].id: duplicate service id \"a\"");
}

TEST(Catalog, SloMustNameAnSliOfItsService) {
  EXPECT_EQ(ErrorOf("business_units: [{id: bu}]\nservices:\n  - id: a\n    business_unit: bu\n"
                    "    slos: [{id: o, sli: missing, target: 99}]\n"),
            "catalog.yaml:5: services[0].slos[0].sli: unknown SLI \"missing\" in service \"a\"");
}

TEST(Catalog, RatioSliNeedsExactlyOneOfGoodAndBad) {
  EXPECT_NE(ErrorOf("business_units: [{id: bu}]\nservices:\n  - id: a\n    business_unit: bu\n"
                    "    slis: [{id: r, kind: ratio, valid: {metric: x_total}}]\n")
                .find("exactly one of \"good\" and \"bad\""),
            std::string::npos);
}

TEST(Catalog, MatchValuesNoSeriesCanCarryAreRejected) {
  // Found by fuzz_openslo: a NUL in a match value was accepted, and the OpenSLO export of the
  // catalog stopped at it, dropping the rest of the document.
  auto sli = [](const std::string& value) {
    return "business_units: [{id: bu}]\nservices:\n  - id: a\n    business_unit: bu\n    slis:\n"
           "      - {id: s, kind: ratio, valid: {metric: m, match: {host: \"" +
           value + "\"}}, bad: {metric: b}}\n";
  };
  EXPECT_EQ(ErrorOf(sli(std::string("w\0*", 3))),
            "catalog.yaml:6: services[0].slis[0].valid.match: label \"host\": control character "
            "in label value \"w\\x00*\" (no series has it)");
  EXPECT_NE(ErrorOf(sli("!\x01")).find("control character in label value \"\\x01\""),
            std::string::npos);
  EXPECT_NE(ErrorOf(sli("\xff")).find("label value is not UTF-8"), std::string::npos);
  EXPECT_NE(ErrorOf(sli(std::string(1025, 'x'))).find("label value longer than 1024 bytes"),
            std::string::npos);
  // What a series can carry is fine: a tab, UTF-8, the longest value.
  EXPECT_EQ(ErrorOf(sli("web\t1")), "");
  EXPECT_EQ(ErrorOf(sli("caf\xc3\xa9-*")), "");
  EXPECT_EQ(ErrorOf(sli(std::string(1024, 'x'))), "");
}

TEST(Catalog, BrokenYamlIsAnErrorNotACrash) {
  EXPECT_NE(ErrorOf("services: [ {id: a\n").find("YAML syntax error"), std::string::npos);
}

}  // namespace
}  // namespace plumbline::collector
