// The collector with a business catalog: served over the query API and
// plumb, hot-reloaded on SIGHUP, and kept when a reload is broken.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include "plumbline/v1/query.grpc.pb.h"
#include "tests/integration/process.h"

namespace plumbline::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kCatalog = R"(
maintenance:
  - id: psp-switch
    services: [checkout]
    from: 2026-11-20T22:00:00Z
    to: 2026-11-20T23:00:00Z
    reason: moving to the new PSP
    by: alice@example.com
business_units: [{id: retail, name: Retail}]
services:
  - id: checkout
    business_unit: retail
    revenue_per_hour: 1000
    slis: [{id: up, kind: probe, probe: checkout-http}]
    slos: [{id: availability, sli: up, target: 99.9, window: 30d}]
)";

TEST(CatalogReload, ServesTheCatalogAndKeepsTheLastGoodOneOnABrokenReload) {
  TempDir dir("catalog");
  WriteFile(dir.File("catalog.yaml"), kCatalog);
  std::string address;
  auto collector =
      StartCollector(dir, &address, "127.0.0.1:0", {"--catalog", dir.File("catalog.yaml")});
  ASSERT_TRUE(collector.ok()) << collector.status();

  int rc = -1;
  auto services = nlohmann::json::parse(Plumb("--collector " + address + " services --json", &rc));
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(services["services"].size(), 1u);
  EXPECT_EQ(services["services"][0]["id"], "checkout");
  EXPECT_EQ(services["services"][0]["revenue_per_hour"], 1000);
  // Maintenance windows are served with their audit trail.
  ASSERT_EQ(services["maintenance"].size(), 1u) << services.dump(2);
  EXPECT_EQ(services["maintenance"][0]["id"], "psp-switch");
  EXPECT_EQ(services["maintenance"][0]["kind"], "maintenance");
  EXPECT_EQ(services["maintenance"][0]["from"], "2026-11-20T22:00:00Z");
  EXPECT_EQ(services["maintenance"][0]["by"], "alice@example.com");
  EXPECT_EQ(services["maintenance"][0]["reason"], "moving to the new PSP");

  auto slo = nlohmann::json::parse(Plumb("--collector " + address + " slo checkout --json", &rc));
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(slo.size(), 1u);
  EXPECT_EQ(slo[0]["slo"], "availability");
  EXPECT_EQ(slo[0]["has_data"], false);
  EXPECT_EQ(slo[0]["budget_remaining_ratio"], 1);

  std::string unknown = Plumb("--collector " + address + " slo nope", &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(unknown, "plumb: unknown service \"nope\"\n");

  // A good reload adds a service.
  WriteFile(dir.File("catalog.yaml"),
            std::string(kCatalog) + "  - {id: search, business_unit: retail}\n");
  kill(collector->pid(), SIGHUP);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto j = nlohmann::json::parse(Plumb("--collector " + address + " services --json", &rc));
        return j["services"].size() == 2u;
      },
      10s));

  // A broken reload (dependency cycle) is refused; the last good catalog stays.
  WriteFile(dir.File("catalog.yaml"),
            "business_units: [{id: r}]\nservices:\n"
            "  - {id: a, business_unit: r, dependencies: [{service: b}]}\n"
            "  - {id: b, business_unit: r, dependencies: [{service: a}]}\n");
  kill(collector->pid(), SIGHUP);
  ASSERT_TRUE(WaitFor(
      [&] { return collector->Log().find("catalog not reloaded") != std::string::npos; }, 10s));
  EXPECT_NE(collector->Log().find("dependency cycle: a -> b -> a"), std::string::npos);
  auto kept = nlohmann::json::parse(Plumb("--collector " + address + " services --json", &rc));
  EXPECT_EQ(kept["services"].size(), 2u);
  std::string stats = Plumb("--collector " + address + " stats --json", &rc);
  auto counters = nlohmann::json::parse(stats);
  EXPECT_EQ(counters["plumbline_catalog_last_reload_ok"], 0);
  EXPECT_EQ(counters["plumbline_catalog_reloads_total{result=\"error\"}"], 1);
  EXPECT_TRUE(collector->Running());
  EXPECT_EQ(collector->Stop(SIGTERM, 10s), 0);
}

TEST(CatalogReload, ABrokenCatalogAtStartIsAClearErrorAndExitCode) {
  TempDir dir("catalog_bad");
  WriteFile(dir.File("catalog.yaml"), "services:\n  - {id: a, business_unit: ghost}\n");
  auto p = Process::Start({PLUMBLINE_COLLECTOR_BIN, "--listen", "127.0.0.1:0", "--db",
                           dir.File("c.db"), "--catalog", dir.File("catalog.yaml")},
                          dir.File("out.log"));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(WaitFor([&] { return !p->Running(); }, 10s));
  EXPECT_EQ(p->Stop(SIGTERM, 1s), 1);
  EXPECT_NE(p->Log().find(dir.File("catalog.yaml") +
                          ":2: services[0].business_unit: unknown business unit \"ghost\""),
            std::string::npos)
      << p->Log();
}

}  // namespace
}  // namespace plumbline::testing
