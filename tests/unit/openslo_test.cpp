#include "collector/catalog/openslo.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "collector/catalog/rate_card.h"

namespace plumbline::collector {
namespace {

using ::testing::HasSubstr;

// Every SLI kind, every window kind, both budgetings, and every SLO and
// service field OpenSLO has no place for.
constexpr const char* kCatalog = R"(
business_units:
  - {id: retail}
  - {id: platform}
services:
  - id: checkout
    name: Checkout
    business_unit: retail
    owner: team-payments
    tier: 1
    revenue_per_hour: 12000
    users: 50000
    timezone: Europe/Amsterdam
    metadata: {pager: payments-oncall, description: "Takes the money"}
    slis:
      - id: requests
        kind: ratio
        valid: {metric: http_requests_total, match: {log: checkout, host: "web-*"}}
        bad: {metric: http_requests_total, match: {log: checkout, status_class: 5xx, method: "!OPTIONS"}}
      - id: orders
        kind: ratio
        valid: {metric: statsd_orders_total}
        good: {metric: statsd_orders_ok_total, match: {shop: "eu-[ab]?"}}
      - id: fast
        kind: latency
        histogram: {metric: http_request_duration_seconds, match: {log: checkout}}
        threshold: 300ms
      - id: unused
        kind: threshold
        gauge: {metric: queue_depth}
        op: "<="
        bound: 1000
    slos:
      - {id: availability, sli: requests, target: 99.9, window: 30d, min_events: 50, critical: true}
      - {id: orders, sli: orders, target: 99, window: 28d, budgeting: timeslices, timeslice: 5m}
      - {id: latency, sli: fast, target: 95, window: month, importance: 3}
    dependencies:
      - {service: payments, kind: hard}
      - {service: search, kind: soft, weight: 0.5}
  - id: search
    business_unit: platform
    slis:
      - id: disk
        kind: threshold
        gauge: {metric: host_filesystem_free_ratio, match: {mountpoint: /}}
        op: ">"
        bound: 0.1
    slos:
      - {id: disk, sli: disk, target: 99.5, window: week, budgeting: timeslices}
      - {id: disk-quarter, sli: disk, target: 90, window: quarter}
  - id: payments
    external: true
    slis:
      - {id: up, kind: probe, probe: psp-http}
    slos:
      - {id: up, sli: up, target: 99.5, window: 7d, budgeting: timeslices, timeslice: 1h}
)";

Catalog MustParse(const std::string& text) {
  auto c = ParseCatalog(text, "catalog.yaml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : Catalog{};
}

OpenSloImport MustImport(const std::vector<OpenSloFile>& files,
                         const OpenSloImportOptions& options = {}) {
  auto imported = ImportOpenSlo(files, options);
  EXPECT_TRUE(imported.ok()) << imported.status();
  return imported.ok() ? *imported : OpenSloImport{};
}

std::string ImportError(const std::string& text, const std::string& name = "slo.yaml") {
  auto imported = ImportOpenSlo({{name, text}});
  EXPECT_FALSE(imported.ok());
  return imported.ok() ? "" : std::string(imported.status().message());
}

bool HasWarning(const OpenSloImport& i, const std::string& part) {
  return std::any_of(i.warnings.begin(), i.warnings.end(),
                     [&](const std::string& w) { return w.find(part) != std::string::npos; });
}

// The round trip catalog -> OpenSLO -> catalog loses components and business
// units' names, owners and metadata (and units no service uses); nothing else.
TEST(OpenSloRoundTrip, CatalogExportImportKeepsEveryObjectiveField) {
  Catalog original = MustParse(kCatalog);
  OpenSloExport exported = ExportOpenSlo(original);
  OpenSloImport imported = MustImport({{"export.yaml", exported.yaml}});
  EXPECT_TRUE(imported.warnings.empty()) << imported.warnings[0];

  // Equal on every field the catalog writes: compare the catalog text.
  EXPECT_EQ(CatalogToYaml(imported.catalog), CatalogToYaml(original));

  // And spelled out for the objectives.
  const Service* checkout = imported.catalog.FindService("checkout");
  ASSERT_NE(checkout, nullptr);
  ASSERT_EQ(checkout->slos.size(), 3u);
  EXPECT_EQ(checkout->slos[0].target_percent, 99.9);
  EXPECT_EQ(checkout->slos[0].window, std::chrono::hours(24 * 30));
  EXPECT_EQ(checkout->slos[0].min_events, 50);
  EXPECT_TRUE(checkout->slos[0].critical);
  EXPECT_TRUE(checkout->slos[1].timeslices);
  EXPECT_EQ(checkout->slos[1].timeslice, std::chrono::minutes(5));
  EXPECT_EQ(checkout->slos[2].period, Slo::Period::kMonth);
  EXPECT_EQ(checkout->slos[2].importance, 3);
  const Sli* requests = checkout->FindSli("requests");
  ASSERT_NE(requests, nullptr);
  EXPECT_EQ(requests->kind, Sli::Kind::kRatio);
  EXPECT_EQ(requests->bad.match[1].op, LabelMatcher::Op::kNotEqual);
  EXPECT_EQ(checkout->FindSli("requests")->valid.match[0].op, LabelMatcher::Op::kGlob);
  EXPECT_EQ(checkout->FindSli("fast")->kind, Sli::Kind::kLatency);
  EXPECT_EQ(checkout->FindSli("fast")->threshold_seconds, 0.3);
  EXPECT_EQ(checkout->FindSli("unused")->bound, 1000);
  EXPECT_EQ(checkout->dependencies.size(), 2u);
  EXPECT_EQ(imported.catalog.FindService("payments")->FindSli("up")->kind, Sli::Kind::kProbe);
  EXPECT_EQ(imported.catalog.FindService("search")->slos[0].period, Slo::Period::kWeek);
  EXPECT_EQ(imported.catalog.FindService("search")->slos[1].period, Slo::Period::kQuarter);
}

TEST(OpenSloRoundTrip, LossesAreComponentsAndBusinessUnitDetailsAndExportSaysSo) {
  Catalog original = MustParse(R"(
business_units:
  - {id: retail, name: Retail, owner: cfo@example.com, metadata: {cost_centre: "4711"}}
services:
  - id: checkout
    business_unit: retail
    components:
      - {id: web, hosts: ["web-*"], log: checkout}
    slis:
      - {id: up, kind: probe, probe: checkout-http}
    slos:
      - {id: up, sli: up, target: 99, window: 30d}
)");
  OpenSloExport exported = ExportOpenSlo(original);
  ASSERT_EQ(exported.warnings.size(), 2u);
  EXPECT_THAT(exported.warnings[0],
              HasSubstr("business unit \"retail\": name, owner and metadata"));
  EXPECT_THAT(exported.warnings[1], HasSubstr("service \"checkout\": 1 component(s) not exported"));
  OpenSloImport imported = MustImport({{"export.yaml", exported.yaml}});
  EXPECT_TRUE(imported.catalog.services[0].components.empty());
  ASSERT_EQ(imported.catalog.business_units.size(), 1u);
  EXPECT_EQ(imported.catalog.business_units[0].name, "retail");
  EXPECT_TRUE(imported.catalog.business_units[0].owner.empty());
}

// Business hours, the revenue currency and the costs section have no
// OpenSLO field and no annotation: export says so for each.
TEST(OpenSloRoundTrip, ExportWarnsOfBusinessHoursCurrencyAndCosts) {
  const char* service = R"(
business_units:
  - {id: retail}
services:
  - id: checkout
    business_unit: retail
    revenue_per_hour: 100
    business_hours: ["Mon-Fri 08:00-20:00", "Sat 09:00-17:00"]
    slis:
      - {id: up, kind: probe, probe: checkout-http}
    slos:
      - {id: up, sli: up, target: 99, window: 30d}
)";
  OpenSloExport revenue = ExportOpenSlo(MustParse(std::string("currency: EUR\n") + service));
  ASSERT_EQ(revenue.warnings.size(), 2u);
  EXPECT_THAT(revenue.warnings[0], HasSubstr("currency \"EUR\" not exported"));
  EXPECT_THAT(revenue.warnings[1],
              HasSubstr("service \"checkout\": 2 business-hours period(s) not exported"));
  OpenSloImport imported = MustImport({{"export.yaml", revenue.yaml}});
  EXPECT_TRUE(imported.catalog.services[0].business_hours.empty());
  EXPECT_TRUE(imported.catalog.currency.empty());

  OpenSloExport costs = ExportOpenSlo(MustParse(std::string(R"(
costs:
  currency: EUR
  rates:
    - {from: 2026-11-01T00:00:00Z, cpu_core_hour: 0.031}
)") + service));
  ASSERT_EQ(costs.warnings.size(), 2u);
  EXPECT_THAT(costs.warnings[0], HasSubstr("costs (rate card, host classes, budgets, suppliers)"));
  imported = MustImport({{"export.yaml", costs.yaml}});
  EXPECT_FALSE(imported.catalog.rate_card->defined);

  // Without them, none of these warnings.
  EXPECT_TRUE(ExportOpenSlo(MustParse(R"(
business_units:
  - {id: retail}
services:
  - id: checkout
    business_unit: retail
    slis:
      - {id: up, kind: probe, probe: checkout-http}
    slos:
      - {id: up, sli: up, target: 99, window: 30d}
)"))
                  .warnings.empty());
}

TEST(OpenSloExport, WritesStandardDocumentsWithPlumblineAnnotations) {
  OpenSloExport exported = ExportOpenSlo(MustParse(kCatalog));
  const std::string& y = exported.yaml;
  EXPECT_THAT(y, HasSubstr("apiVersion: openslo/v1\nkind: Service\nmetadata:\n  name: checkout\n"));
  EXPECT_THAT(y, HasSubstr("plumbline.dev/business-unit: \"retail\""));
  EXPECT_THAT(y, HasSubstr("name: checkout-availability"));
  EXPECT_THAT(y, HasSubstr("plumbline.dev/critical: \"true\""));
  EXPECT_THAT(
      y, HasSubstr(
             "query: "
             "'http_requests_total{log=\"checkout\",method!=\"OPTIONS\",status_class=\"5xx\"}'"));
  EXPECT_THAT(y, HasSubstr("query: 'http_requests_total{host=~\"web-.*\",log=\"checkout\"}'"));
  EXPECT_THAT(
      y, HasSubstr("query: 'http_request_duration_seconds_bucket{le=\"0.3\",log=\"checkout\"}'"));
  EXPECT_THAT(y, HasSubstr("query: 'sum_over_time(probe_success{probe=\"psp-http\"}[1m])'"));
  EXPECT_THAT(y, HasSubstr("duration: 1M\n      isRolling: false\n      calendar:"));
  EXPECT_THAT(y, HasSubstr("budgetingMethod: Timeslices"));
  EXPECT_THAT(y, HasSubstr("timeSliceTarget: 0.99\n      timeSliceWindow: 5m"));
  EXPECT_THAT(y, HasSubstr("op: gt\n      value: 0.1\n      target: 0.995"));
  // The SLI no SLO uses is its own document naming its service.
  EXPECT_THAT(y, HasSubstr("kind: SLI\nmetadata:\n  name: checkout-unused"));
}

// Modelled on the examples on openslo.com and in the OpenSLO repository.
constexpr const char* kHandWritten = R"(# web shop SLOs
apiVersion: openslo/v1
kind: Service
metadata:
  name: web-shop
  displayName: Web shop
  labels:
    team: storefront
spec:
  description: Where customers buy things
---
apiVersion: openslo/v1
kind: SLI
metadata:
  name: search-errors
  displayName: Search errors
spec:
  ratioMetric:
    counter: true
    bad:
      metricSource:
        type: Prometheus
        spec:
          query: http_requests_total{handler="/search", code=~"5.."}
    total:
      metricSource:
        type: Prometheus
        spec:
          query: http_requests_total{handler="/search"}
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: search-availability
  displayName: Search availability
spec:
  description: Searches that do not fail
  service: web-shop
  indicatorRef: search-errors
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: Good
      target: 0.995
  alertPolicies:
    - alertPolicyRef: page-on-fast-burn
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: search-latency
spec:
  service: web-shop
  indicator:
    metadata:
      name: search-latency
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: Prometheus
            spec:
              query: http_request_duration_seconds_bucket{handler="/search",le="0.5"}
        total:
          metricSource:
            type: Prometheus
            spec:
              query: http_request_duration_seconds_count{handler="/search"}
  timeWindow:
    - duration: 1M
      isRolling: false
      calendar:
        startTime: 2022-01-01 00:00:00
        timeZone: UTC
  budgetingMethod: Timeslices
  objectives:
    - target: 0.99
      timeSliceTarget: 0.99
      timeSliceWindow: 1m
---
apiVersion: openslo/v1
kind: AlertPolicy
metadata:
  name: page-on-fast-burn
spec:
  alertWhenBreaching: true
  conditions:
    - conditionRef: fast-burn
  notificationTargets:
    - targetRef: pagerduty
)";

TEST(OpenSloImport, ReadsAHandWrittenFileLikeTheOpenSloExamples) {
  OpenSloImport imported = MustImport({{"shop.yaml", kHandWritten}});
  const Catalog& c = imported.catalog;
  ASSERT_EQ(c.business_units.size(), 1u);
  EXPECT_EQ(c.business_units[0].id, "imported");
  ASSERT_EQ(c.services.size(), 1u);
  const Service& shop = c.services[0];
  EXPECT_EQ(shop.id, "web-shop");
  EXPECT_EQ(shop.name, "Web shop");
  EXPECT_EQ(shop.business_unit, "imported");
  EXPECT_FALSE(shop.external);
  EXPECT_EQ(shop.metadata.at("team"), "storefront");
  EXPECT_EQ(shop.metadata.at("description"), "Where customers buy things");
  EXPECT_EQ(shop.metadata.at("openslo.alert_policies"), "page-on-fast-burn");

  ASSERT_EQ(shop.slos.size(), 2u);
  EXPECT_EQ(shop.slos[0].id, "search-availability");
  EXPECT_EQ(shop.slos[0].sli, "search-errors");
  EXPECT_EQ(shop.slos[0].target_percent, 99.5);
  EXPECT_EQ(shop.slos[0].window, std::chrono::hours(24 * 28));
  EXPECT_FALSE(shop.slos[0].timeslices);
  const Sli* errors = shop.FindSli("search-errors");
  ASSERT_NE(errors, nullptr);
  EXPECT_EQ(errors->kind, Sli::Kind::kRatio);
  EXPECT_EQ(errors->bad.metric, "http_requests_total");
  ASSERT_EQ(errors->bad.match.size(), 2u);
  EXPECT_EQ(errors->bad.match[0].name, "code");
  EXPECT_EQ(errors->bad.match[0].op, LabelMatcher::Op::kGlob);
  EXPECT_EQ(errors->bad.match[0].value, "5??");

  EXPECT_EQ(shop.slos[1].period, Slo::Period::kMonth);
  EXPECT_TRUE(shop.slos[1].timeslices);
  EXPECT_EQ(shop.slos[1].timeslice, std::chrono::minutes(1));
  const Sli* latency = shop.FindSli("search-latency");
  ASSERT_NE(latency, nullptr);
  EXPECT_EQ(latency->kind, Sli::Kind::kLatency);
  EXPECT_EQ(latency->histogram.metric, "http_request_duration_seconds");
  EXPECT_EQ(latency->threshold_seconds, 0.5);

  // Dropped, and said so.
  EXPECT_TRUE(HasWarning(imported, "document 3 (SLO search-availability): metadata.displayName"));
  EXPECT_TRUE(HasWarning(imported, "spec.objectives[0].displayName: not imported"));
  EXPECT_TRUE(HasWarning(imported, "(AlertPolicy page-on-fast-burn): recorded by name"));
  EXPECT_FALSE(HasWarning(imported, "startTime"));  // 1 January is a month start

  // The output is a valid catalog.
  EXPECT_TRUE(ParseCatalog(imported.catalog_yaml, "out.yaml").ok());
}

TEST(OpenSloRoundTrip, ImportExportImportOfAHandWrittenFileIsEquivalent) {
  OpenSloImport first = MustImport({{"shop.yaml", kHandWritten}});
  OpenSloExport exported = ExportOpenSlo(first.catalog);
  EXPECT_TRUE(exported.warnings.empty());
  OpenSloImport second = MustImport({{"export.yaml", exported.yaml}});
  EXPECT_TRUE(second.warnings.empty()) << second.warnings[0];
  EXPECT_EQ(second.catalog_yaml, first.catalog_yaml);
}

constexpr const char* kSlo = R"(apiVersion: openslo/v1
kind: Service
metadata: {name: checkout}
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-availability
spec:
  service: checkout
  indicator:
    metadata: {name: requests}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: Prometheus, spec: {query: 'GOOD'}}}
        total: {metricSource: {type: Prometheus, spec: {query: 'http_requests_total'}}}
  timeWindow:
    - {duration: WINDOW, isRolling: ROLLING}
  budgetingMethod: BUDGETING
  objectives:
    - {target: TARGET, timeSliceWindow: 1m}
)";

std::string Slo(std::string good = "http_requests_total{code=\"200\"}",
                std::string target = "0.999", std::string window = "28d",
                std::string rolling = "true", std::string budgeting = "Occurrences") {
  std::string text = kSlo;
  auto replace = [&](const std::string& from, const std::string& to) {
    text.replace(text.find(from), from.size(), to);
  };
  replace("GOOD", good);
  replace("TARGET", target);
  replace("WINDOW", window);
  replace("ROLLING", rolling);
  replace("BUDGETING", budgeting);
  return text;
}

TEST(OpenSloImport, TemplateImports) {
  OpenSloImport imported = MustImport({{"slo.yaml", Slo()}});
  EXPECT_EQ(imported.catalog.services[0].slos[0].target_percent, 99.9);
  EXPECT_TRUE(HasWarning(imported, "timeSliceWindow: ignored with Occurrences budgeting"));
}

TEST(OpenSloImport, TargetOutsideZeroToOneNamesFileDocumentAndField) {
  EXPECT_EQ(ImportError(Slo("http_requests_total", "1.5")),
            "slo.yaml: document 2 (SLO checkout-availability): spec.objectives[0].target: "
            "must be in (0, 1], got 1.5");
  EXPECT_THAT(ImportError(Slo("http_requests_total", "0")), HasSubstr("got 0"));
}

TEST(OpenSloImport, RejectsQueriesThatAreNotSeriesSelectors) {
  EXPECT_THAT(ImportError(Slo("sum(rate(http_requests_total[5m]))")),
              HasSubstr("spec.indicator.spec.ratioMetric.good.metricSource.spec.query: "
                        "function \"sum\" is not supported"));
  EXPECT_THAT(ImportError(Slo("http_requests_total{code=\"200\"")),
              HasSubstr("expected \",\" or \"}\" at offset 30"));
  EXPECT_THAT(ImportError(Slo("http_requests_total{code!~\"5..\"}")),
              HasSubstr("negative regex matchers (!~) have no catalog equivalent"));
  EXPECT_THAT(ImportError(Slo("http_requests_total{code=~\"5(00|03)\"}")),
              HasSubstr("\"(\" has no glob form"));
  EXPECT_THAT(ImportError(Slo("http_requests_total{code=\"5*\"}")),
              HasSubstr("would read as a glob or a not-equal"));
  EXPECT_THAT(ImportError(Slo("http_requests_total{code=\"1\",code=\"2\"}")),
              HasSubstr("label \"code\" is matched twice"));
}

// Found by fuzz_openslo: yaml-cpp 0.7's LoadAll kept allocating on this
// 91-byte stream (past 4 GB). Documents are now read one by one.
TEST(OpenSloImport, AStreamThatMakesYamlCppLoadAllRunAwayIsAnError) {
  const std::string text =
      ",\n-a-ipVersion: openslo/v1\nkind: Service\nmetadata:\n  name: c\"retabusinesil\"\n"
      "    plumbline.d";
  absl::StatusOr<OpenSloImport> imported = ImportOpenSlo({{"x.yaml", text}});
  EXPECT_TRUE(!imported.ok() || imported->catalog.services.empty());
}

// A YAML error names the line in the file, whichever document it is in;
// the documents before and after a "---" are read apart.
TEST(OpenSloImport, DocumentsAreReadApartAndErrorsNameTheirLineInTheFile) {
  EXPECT_THAT(ImportError("# a comment\n%YAML 1.2\n---\nkind: Service\n---\nspec: [1,\n"),
              HasSubstr("slo.yaml:7:1: "));
  EXPECT_THAT(ImportError("kind: Service\n--- \n\nspec: {a\n"), HasSubstr("slo.yaml:5:1: "));
}

TEST(OpenSloImport, RejectsLabelValuesNoSeriesCanCarry) {
  // Found by fuzz_openslo: such a value imported, and its export stopped at a NUL, dropping the
  // rest of the document, so the export did not import again.
  EXPECT_THAT(ImportError(Slo(std::string("http_requests_total{code=\"2\0\"}", 30))),
              HasSubstr("spec.indicator.spec.ratioMetric.good.metricSource.spec.query: label "
                        "\"code\": control character in label value \"2\\x00\" (no series has "
                        "it)"));
  EXPECT_THAT(ImportError(Slo("http_requests_total{code=\"2\\n\"}")),
              HasSubstr("control character in label value \"2\\x0a\""));
  EXPECT_THAT(ImportError(Slo("http_requests_total{code=~\"\x01.*\"}")),
              HasSubstr("control character in label value \"\\x01*\""));
  MustImport({{"slo.yaml", Slo("http_requests_total{code=\"2\t0\"}")}});
}

TEST(OpenSloImport, RejectsWindowsThePlumblineEngineCannotHonour) {
  EXPECT_THAT(ImportError(Slo("http_requests_total", "0.99", "1M")),
              HasSubstr("spec.timeWindow[0].duration: a rolling window of 1M has no fixed length"));
  EXPECT_THAT(ImportError(Slo("http_requests_total", "0.99", "30m")),
              HasSubstr("must be between 1h and 400d, got 30m"));
  EXPECT_THAT(ImportError(Slo("http_requests_total", "0.99", "1m", "false")),
              HasSubstr("a calendar window must be 1w, 1M or 1Q (m is minutes, M months), got 1m"));
  EXPECT_THAT(ImportError(Slo("http_requests_total", "0.99", "28 days")),
              HasSubstr("expected a duration such as 28d"));
}

TEST(OpenSloImport, CalendarWindowsMapToPeriods) {
  for (auto [text, period] : {std::pair{"1w", Slo::Period::kWeek},
                              {"1M", Slo::Period::kMonth},
                              {"1Q", Slo::Period::kQuarter}}) {
    OpenSloImport i = MustImport({{"slo.yaml", Slo("http_requests_total", "0.99", text, "false")}});
    ASSERT_EQ(i.catalog.services.size(), 1u);
    EXPECT_EQ(i.catalog.services[0].slos[0].period, period) << text;
  }
}

TEST(OpenSloImport, BudgetingMethods) {
  OpenSloImport t =
      MustImport({{"slo.yaml", Slo("http_requests_total", "0.99", "7d", "true", "Timeslices")}});
  EXPECT_TRUE(t.catalog.services[0].slos[0].timeslices);
  EXPECT_THAT(ImportError(Slo("http_requests_total", "0.99", "7d", "true", "RatioTimeslices")),
              HasSubstr("spec.budgetingMethod: RatioTimeslices is not supported"));
  EXPECT_THAT(ImportError(Slo("http_requests_total", "0.99", "7d", "true", "Weekly")),
              HasSubstr("expected Occurrences or Timeslices, got \"Weekly\""));
}

TEST(OpenSloImport, TimeslicesNeedAWholeMinuteWindowAndWarnAboutASliceTarget) {
  std::string text = Slo("http_requests_total", "0.99", "7d", "true", "Timeslices");
  text.replace(text.find("timeSliceWindow: 1m"), 19, "timeSliceWindow: 30s");
  EXPECT_THAT(ImportError(text), HasSubstr("spec.objectives[0].timeSliceWindow: must be a whole "
                                           "number of minutes (at least 1m), got \"30s\""));
  text.replace(text.find("timeSliceWindow: 30s"), 20, "timeSliceTarget: 0.9");
  EXPECT_THAT(ImportError(text),
              HasSubstr("spec.objectives[0].timeSliceWindow: required with Timeslices"));
  text.replace(text.find("timeSliceTarget: 0.9"), 20, "timeSliceTarget: 0.9, timeSliceWindow: 2m");
  OpenSloImport i = MustImport({{"slo.yaml", text}});
  EXPECT_EQ(i.catalog.services[0].slos[0].timeslice, std::chrono::minutes(2));
  EXPECT_TRUE(HasWarning(i, "timeSliceTarget: 0.9 dropped"));
}

TEST(OpenSloImport, MultipleObjectivesBecomeOneSloEach) {
  std::string text = Slo();
  text.replace(text.find("    - {target: 0.999, timeSliceWindow: 1m}"), 42,
               "    - {target: 0.999}\n    - {targetPercent: 99}");
  OpenSloImport i = MustImport({{"slo.yaml", text}});
  const Service& s = i.catalog.services[0];
  ASSERT_EQ(s.slos.size(), 2u);
  EXPECT_EQ(s.slos[0].id, "checkout-availability-0");
  EXPECT_EQ(s.slos[0].target_percent, 99.9);
  EXPECT_EQ(s.slos[1].id, "checkout-availability-1");
  EXPECT_EQ(s.slos[1].target_percent, 99);
  EXPECT_EQ(s.slos[0].sli, s.slos[1].sli);
}

constexpr const char* kThreshold = R"(apiVersion: openslo/v1
kind: SLO
metadata: {name: search-slo}
spec:
  service: web-shop
  indicator:
    metadata: {name: search-latency}
    spec:
      thresholdMetric:
        metricSource: {type: Prometheus, spec: {query: search_latency_ms}}
  timeWindow: [{duration: 2w, isRolling: true}]
  budgetingMethod: Occurrences
  objectives:
    - {op: lt, value: 500, target: 0.99}
    - {op: lte, value: 2000, target: 0.999}
)";

TEST(OpenSloImport, ThresholdObjectivesCarryOpAndBoundIntoOneSliEach) {
  OpenSloImport i = MustImport({{"slo.yaml", kThreshold}});
  const Service& s = i.catalog.services[0];
  ASSERT_EQ(s.slis.size(), 2u);
  EXPECT_EQ(s.slis[0].id, "search-latency-0");
  EXPECT_EQ(s.slis[0].kind, Sli::Kind::kThreshold);
  EXPECT_EQ(s.slis[0].op, "<");
  EXPECT_EQ(s.slis[0].bound, 500);
  EXPECT_EQ(s.slis[1].op, "<=");
  EXPECT_EQ(s.slis[1].bound, 2000);
  EXPECT_EQ(s.slos[1].sli, "search-latency-1");
  EXPECT_EQ(s.slos[0].window, std::chrono::hours(24 * 14));

  std::string no_op = kThreshold;
  no_op.replace(no_op.find("op: lt, "), 8, "");
  EXPECT_THAT(ImportError(no_op),
              HasSubstr("document 1 (SLO search-slo): spec.objectives[0].op: required"));
}

TEST(OpenSloImport, DocumentErrorsNameTheirDocument) {
  EXPECT_EQ(
      ImportError("apiVersion: openslo/v1alpha\nkind: SLO\nmetadata: {name: x}\n"),
      "slo.yaml: document 1 (SLO x): apiVersion: expected openslo/v1, got \"openslo/v1alpha\"");
  EXPECT_EQ(ImportError("apiVersion: openslo/v1\nkind: Dashboard\nmetadata: {name: x}\n"),
            "slo.yaml: document 1 (Dashboard x): kind: expected Service, SLI, SLO or AlertPolicy, "
            "got \"Dashboard\"");
  EXPECT_EQ(ImportError("apiVersion: openslo/v1\nkind: Service\nmetadata: {name: [x\n"),
            "slo.yaml:4:1: end of sequence flow not found");
  EXPECT_THAT(ImportError("- just a list\n"),
              HasSubstr("slo.yaml: document 1: expected a mapping"));
  EXPECT_THAT(ImportError(std::string(kSlo).substr(0, std::string(kSlo).find("spec:"))),
              HasSubstr("document 2 (SLO checkout-availability): spec: required"));
}

TEST(OpenSloImport, IndicatorErrors) {
  std::string both = Slo();
  both.replace(both.find("        total:"), 0,
               "        bad: {metricSource: {spec: {query: x_total}}}\n");
  EXPECT_THAT(ImportError(both), HasSubstr("spec.indicator.spec.ratioMetric: needs exactly one of "
                                           "good and bad"));
  std::string no_total = Slo();
  size_t total = no_total.find("        total:");
  no_total.erase(total, no_total.find('\n', total) + 1 - total);
  EXPECT_THAT(ImportError(no_total), HasSubstr("spec.indicator.spec.ratioMetric.total: required"));
  std::string ref = Slo();
  ref.replace(ref.find("  indicator:"), 0, "  indicatorRef: requests\n");
  EXPECT_THAT(ImportError(ref), HasSubstr("spec: needs exactly one of indicator and indicatorRef"));
  std::string gauge = Slo();
  gauge.replace(gauge.find("counter: true"), 13, "counter: false");
  EXPECT_THAT(ImportError(gauge), HasSubstr("the catalog reads good, bad and total as counters"));
  EXPECT_THAT(ImportError(R"(apiVersion: openslo/v1
kind: SLO
metadata: {name: a}
spec:
  service: s
  indicatorRef: missing
  timeWindow: [{duration: 1d}]
  objectives: [{target: 0.9}]
)"),
              HasSubstr("spec.indicatorRef: unknown SLI \"missing\""));
  std::string composite = Slo();
  composite.replace(composite.find("{target: 0.999"), 1, "{indicatorRef: x, ");
  EXPECT_THAT(ImportError(composite), HasSubstr("composite SLOs"));
}

TEST(OpenSloImport, DuplicateSloIsAnError) {
  std::string text = Slo();
  text += "---\n" + text.substr(text.find("apiVersion: openslo/v1\nkind: SLO"));
  EXPECT_THAT(ImportError(text), HasSubstr("document 3 (SLO checkout-availability): "
                                           "metadata.name: duplicate SLO"));
}

TEST(OpenSloImport, SlisAndSlosMayComeFromDifferentFiles) {
  std::string sli = R"(apiVersion: openslo/v1
kind: SLI
metadata: {name: psp-up}
spec:
  ratioMetric:
    counter: false
    good: {metricSource: {spec: {query: 'sum_over_time(probe_success{probe="psp"}[1m])'}}}
    total: {metricSource: {spec: {query: 'count_over_time(probe_success{probe="psp"}[1m])'}}}
)";
  std::string slo = R"(apiVersion: openslo/v1
kind: SLO
metadata: {name: psp}
spec:
  service: payments
  indicatorRef: psp-up
  timeWindow: [{duration: 1w, calendar: {startTime: "2024-01-03 00:00:00", timeZone: Europe/Berlin}}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.995}]
)";
  OpenSloImport i = MustImport({{"sli.yaml", sli}, {"slo.yaml", slo}}, {"suppliers"});
  ASSERT_EQ(i.catalog.services.size(), 1u);
  const Service& s = i.catalog.services[0];
  EXPECT_EQ(s.business_unit, "suppliers");
  EXPECT_EQ(i.catalog.business_units[0].id, "suppliers");
  EXPECT_EQ(s.FindSli("psp-up")->kind, Sli::Kind::kProbe);
  EXPECT_EQ(s.FindSli("psp-up")->probe, "psp");
  EXPECT_EQ(s.slos[0].period, Slo::Period::kWeek);
  EXPECT_EQ(s.timezone, "Europe/Berlin");
  EXPECT_TRUE(HasWarning(i,
                         "slo.yaml: document 1 (SLO psp): spec.timeWindow[0].calendar.startTime: "
                         "\"2024-01-03 00:00:00\" ignored"));
  EXPECT_TRUE(HasWarning(i, "computes calendar periods in UTC"));
}

TEST(OpenSloImport, WarnsAboutEverythingItDrops) {
  std::string text = Slo();
  text.replace(text.find("  budgetingMethod"), 0, "  sloCategory: gold\n");
  text += R"(---
apiVersion: openslo/v1
kind: AlertPolicy
metadata: {name: lonely}
spec: {}
---
apiVersion: openslo/v1
kind: DataSource
metadata: {name: prom}
spec: {}
)";
  OpenSloImport i = MustImport({{"slo.yaml", text}});
  EXPECT_TRUE(
      HasWarning(i, "document 2 (SLO checkout-availability): spec.sloCategory: unknown field"));
  EXPECT_TRUE(HasWarning(i, "document 3 (AlertPolicy lonely): not referenced by any SLO"));
  EXPECT_TRUE(HasWarning(i, "document 4 (DataSource prom): DataSource documents are not imported"));
}

TEST(OpenSloImport, BusinessUnitOptionMustBeAValidId) {
  auto imported = ImportOpenSlo({{"slo.yaml", Slo()}}, {"not a unit"});
  ASSERT_FALSE(imported.ok());
  EXPECT_THAT(std::string(imported.status().message()),
              HasSubstr("business unit \"not a unit\" is not a valid id"));
}

TEST(OpenSloImport, EmptyInputGivesAnEmptyValidCatalog) {
  OpenSloImport i = MustImport({{"empty.yaml", "---\n"}});
  EXPECT_TRUE(i.catalog.services.empty());
  EXPECT_TRUE(ParseCatalog(i.catalog_yaml, "out.yaml").ok());
}

}  // namespace
}  // namespace plumbline::collector
