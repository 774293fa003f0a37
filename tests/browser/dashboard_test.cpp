// The web dashboard against the real collector.
//
// DashboardServing: the page and its bundles are served with the right
// content types and cache headers (or, in a collector built without the
// dashboard, a short page says so). No browser needed; runs in every preset.
//
// DashboardBrowser (only where Debian's chromium and node exist, see
// tests/CMakeLists.txt): a real agent probes a real HTTP service that goes
// down for a while and measures this host; then dashboard_test.mjs drives
// headless Chromium through every page and compares each figure with the
// JSON API for the same window, checks navigation, the time range picker,
// deep links, the CSV download and the console, and saves screenshots.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/time/time.h"
#include "collector/auth.h"
#include "tests/integration/flaky_server.h"
#include "tests/integration/process.h"

namespace plumbline::testing {
namespace {

using namespace std::chrono_literals;

// The collector's HTTP address ("127.0.0.1:port") from its ready file.
std::string HttpAddress(const TempDir& dir) {
  return nlohmann::json::parse(ReadFile(dir.File("collector.ready")))["http"].get<std::string>();
}

TEST(DashboardServing, ThePageAndItsBundlesAreServedWithTypesAndCacheHeaders) {
  TempDir dir("dashboard_serving");
  std::string grpc;
  auto collector = StartCollector(dir, &grpc);
  ASSERT_TRUE(collector.ok()) << collector.status();
  httplib::Client http("http://" + HttpAddress(dir));
  auto index = http.Get("/");
  ASSERT_TRUE(index);
#if PLUMBLINE_DASHBOARD_BUILT
  ASSERT_EQ(index->status, 200);
  EXPECT_EQ(index->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(index->get_header_value("Cache-Control"), "no-cache");
  EXPECT_NE(index->get_header_value("Content-Security-Policy").find("default-src 'self'"),
            std::string::npos);
  const std::string etag = index->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  // Revalidation: the same ETag answers 304 without a body.
  auto again = http.Get("/", {{"If-None-Match", etag}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());
  // No link leaves the collector: the page works on a closed network.
  EXPECT_EQ(index->body.find("http://"), std::string::npos);
  EXPECT_EQ(index->body.find("https://"), std::string::npos);

  // Every bundle the page names, by its hashed name.
  std::smatch m;
  std::string rest = index->body;
  int bundles = 0;
  const std::regex asset(R"re((/assets/main-[A-Za-z0-9]+\.(js|css)))re");
  while (std::regex_search(rest, m, asset)) {
    const std::string path = m[1];
    const std::string kind = m[2];
    rest = m.suffix();
    auto res = http.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 200) << path;
    EXPECT_EQ(res->get_header_value("Content-Type"),
              kind == "js" ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8");
    EXPECT_EQ(res->get_header_value("Cache-Control"), "public, max-age=31536000, immutable");
    EXPECT_GT(res->body.size(), 1000u) << path;
    ++bundles;
  }
  EXPECT_EQ(bundles, 2) << index->body;
  auto missing = http.Get("/assets/main-NOPE.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->body, "no such dashboard file: /assets/main-NOPE.js\n");
#else
  EXPECT_EQ(index->status, 404);
  EXPECT_NE(index->body.find("built without the web dashboard"), std::string::npos) << index->body;
#endif
  // The API is not shadowed by the dashboard's routes.
  auto api = http.Get("/api/v1/services");
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 200);
  EXPECT_EQ(collector->Stop(SIGTERM, 20s), 0) << collector->Log();
}

#if PLUMBLINE_BROWSER_TESTS

// Runs the browser script against `base_url`; returns its exit code and
// prints its output (the figures it measured are in there).
int RunBrowserScript(const std::string& base_url, const std::string& args, const std::string& token,
                     std::string* output) {
  std::ostringstream cmd;
  cmd << "PLUMBLINE_BROWSER_NODE_MODULES='" << PLUMBLINE_BROWSER_NODE_MODULES << "' "
      << "PLUMBLINE_SCREENSHOTS='" << PLUMBLINE_SCREENSHOTS << "' "
      << "PLUMBLINE_CHROMIUM='" << PLUMBLINE_CHROMIUM << "' "
      << "PLUMBLINE_TOKEN='" << token << "' "
      << "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1 "
      << "'" << PLUMBLINE_NODE << "' '" << PLUMBLINE_BROWSER_SCRIPT << "' '" << base_url << "' "
      << args;
  int rc = -1;
  *output = RunShell(cmd.str(), &rc);
  std::cout << *output << std::flush;
  return rc;
}

std::string Catalog(const std::string& month) {
  return R"(
business_units: [{id: retail, name: Retail, owner: cfo-retail}, {id: marketing, name: Marketing}]
services:
  - id: payments
    name: Payments
    business_unit: retail
    owner: team-pay
    tier: 1
    revenue_per_hour: 3600
    users: 1000
    components: [{id: api, probe: pay-http}]
    slis: [{id: up, kind: probe, probe: pay-http}]
    slos: [{id: availability, sli: up, target: 99, importance: 8, critical: true}]
  - id: checkout
    name: Checkout
    business_unit: retail
    tier: 1
    revenue_per_hour: 7200
    users: 5000
    components: [{id: web, hosts: ["*"]}]
    dependencies: [{service: payments, kind: hard, weight: 1}]
  - id: newsletter
    name: Newsletter
    business_unit: marketing
    revenue_per_hour: 600
    users: 20000
    components: [{id: mail, probe: mail-http}]
    slis: [{id: up, kind: probe, probe: mail-http}]
    slos: [{id: availability, sli: up, target: 99}]
    dependencies: [{service: checkout, kind: soft, weight: 0.5}]
  - id: analytics
    name: Analytics
    business_unit: marketing
    revenue_per_hour: 100
    components: [{id: web, probe: stats-http}, {id: batch, hosts: ["*"]}]
    slis: [{id: up, kind: probe, probe: stats-http}]
    slos: [{id: availability, sli: up, target: 99.5}]
costs:
  currency: EUR
  rates:
    - {from: 2020-01-01T00:00:00Z, cpu_core_hour: 120, memory_gb_hour: 10, disk_gb_month: 1000,
       network_gb: 100, host_hour: 30}
  hosts:
    - {host: "*", split: weight, weights: {checkout: 0.75, analytics: 0.25}}
  budgets:
    - {business_unit: retail, month: )" +
         month + R"(, amount: 1000}
)";
}

TEST(DashboardBrowser, EveryPageShowsTheApiFiguresInHeadlessChromium) {
  TempDir dir("dashboard_browser");
  FlakyServer service;
  const std::string month =
      absl::FormatTime("%Y-%m", absl::FromUnixMillis(NowMs()), absl::UTCTimeZone());
  WriteFile(dir.File("catalog.yaml"), Catalog(month));
  WriteFile(dir.File("collector.yaml"),
            "incidents: {open_after: 1m, close_after: 1m}\n"
            "storage: {durability: relaxed}\n"
            "auth:\n  tokens:\n"
            "    - {name: dashboard, role: viewer, sha256: " +
                collector::Sha256Hex("view-secret") +
                "}\n"
                "    - {name: oncall, role: sre, sha256: " +
                collector::Sha256Hex("sre-secret") + "}\n");
  std::string grpc;
  auto collector = StartCollector(
      dir, &grpc, "127.0.0.1:0",
      {"--config", dir.File("collector.yaml"), "--catalog", dir.File("catalog.yaml")});
  ASSERT_TRUE(collector.ok()) << collector.status();
  const std::string http_address = HttpAddress(dir);
  httplib::Client http("http://" + http_address);
  http.set_read_timeout(30, 0);
  const httplib::Headers sre = {{"Authorization", "Bearer sre-secret"}};

  WriteFile(dir.File("agent.yaml"),
            "agent_id: dashboard-host\ninterval: 2s\nstate_dir: " + dir.File("state") +
                "\ncollector:\n  addresses: [\"" + grpc +
                "\"]\nsources:\n"
                "  probes:\n    http:\n"
                "      - {name: pay-http, url: \"" +
                service.Url("/pay") +
                "\", interval: 2s, timeout: 1s}\n"
                "      - {name: mail-http, url: \"" +
                service.Url("/ok") +
                "\", interval: 2s, timeout: 1s}\n"
                "      - {name: stats-http, url: \"" +
                service.Url("/ok") + "\", interval: 2s, timeout: 1s}\n");
  auto agent = Process::Start({PLUMBLINE_AGENT_BIN, "--config", dir.File("agent.yaml")},
                              dir.File("agent.log"));
  ASSERT_TRUE(agent.ok()) << agent.status();

  auto probes = [&] {
    auto res = http.Get("/api/v1/series?name=probe_success&match=probe%3Dpay-http&from=-1h", sre);
    if (!res || res->status != 200) return size_t{0};
    auto j = nlohmann::json::parse(res->body);
    return j["series"].empty() ? size_t{0} : j["series"][0]["values"].size();
  };
  ASSERT_TRUE(WaitFor([&] { return probes() >= 4; }, 60s)) << agent->Log();

  // Payments fails for 16 s: a breaching minute, a detected incident.
  const int64_t down_at = NowMs();
  service.SetDown(true);
  std::this_thread::sleep_for(16s);
  service.SetDown(false);
  const int64_t up_at = NowMs();
  std::this_thread::sleep_for(6s);

  // The agent stops (and flushes), so every figure holds still while the
  // browser compares the pages with the API; the detected incident closes.
  EXPECT_EQ(agent->Stop(SIGTERM, 20s), 0) << agent->Log();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto res = http.Get("/api/v1/incidents?from=-1h", sre);
        if (!res || res->status != 200) return false;
        auto j = nlohmann::json::parse(res->body);
        bool any_detected = false;
        for (const auto& inc : j["incidents"]) {
          if (inc["open"].get<bool>()) return false;
          any_detected = any_detected || !inc["declared"].get<bool>();
        }
        return any_detected;
      },
      180s))
      << "the detected incident did not close";

  // The SRE declares it and adds a note (the sre token; the page uses a
  // viewer's). The window is widened by a minute each way: windows are
  // counted in whole minutes, aligned down.
  nlohmann::json declare = {{"title", "PSP outage"},
                            {"services", {"payments"}},
                            {"from", down_at - 60000},
                            {"to", up_at + 60000},
                            {"declared_by", "oncall"}};
  auto declared = http.Post("/api/v1/incidents", sre, declare.dump(), "application/json");
  ASSERT_TRUE(declared);
  ASSERT_EQ(declared->status, 200) << declared->body;
  const std::string id = nlohmann::json::parse(declared->body)["incident"]["id"];
  auto note = http.Post("/api/v1/incidents/" + id + "/notes", sre,
                        R"({"text": "PSP answered 503; failed over to the backup acquirer",
                            "author": "oncall"})",
                        "application/json");
  ASSERT_TRUE(note);
  ASSERT_EQ(note->status, 200) << note->body;

  std::string output;
  const auto started = std::chrono::steady_clock::now();
  int rc = RunBrowserScript("http://" + http_address, "", "view-secret", &output);
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started);
  EXPECT_EQ(rc, 0) << output;
  RecordProperty("browser_seconds", static_cast<int>(seconds.count()));
  EXPECT_EQ(collector->Stop(SIGTERM, 20s), 0) << collector->Log();
}

TEST(DashboardBrowser, TheOverviewOfAThousandServicesStaysResponsive) {
  constexpr int kUnits = 50, kPerUnit = 20;
  TempDir dir("dashboard_scale");
  std::ostringstream catalog;
  catalog << "business_units:\n";
  for (int u = 0; u < kUnits; ++u)
    catalog << "  - {id: unit-" << u << ", name: Unit " << u << "}\n";
  catalog << "services:\n";
  for (int i = 0; i < kUnits * kPerUnit; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "svc-%04d", i);
    catalog << "  - id: " << name << "\n    business_unit: unit-" << i / kPerUnit
            << "\n    revenue_per_hour: " << 100 + i << "\n    components: [{id: p, probe: p-" << i
            << "}]\n    slis: [{id: up, kind: probe, probe: p-" << i
            << "}]\n    slos: [{id: availability, sli: up, target: 99.9}]\n";
    if (i % kPerUnit != 0) {
      char dep[16];
      std::snprintf(dep, sizeof dep, "svc-%04d", i - 1);
      catalog << "    dependencies: [{service: " << dep << ", kind: soft, weight: 0.2}]\n";
    }
  }
  catalog
      << "costs:\n  currency: EUR\n  rates:\n    - {from: 2020-01-01T00:00:00Z, host_hour: 1}\n";
  WriteFile(dir.File("catalog.yaml"), catalog.str());
  std::string grpc;
  auto collector =
      StartCollector(dir, &grpc, "127.0.0.1:0", {"--catalog", dir.File("catalog.yaml")});
  ASSERT_TRUE(collector.ok()) << collector.status();
  std::string output;
  int rc = RunBrowserScript("http://" + HttpAddress(dir),
                            "--scale " + std::to_string(kUnits * kPerUnit), "", &output);
  EXPECT_EQ(rc, 0) << output;
  EXPECT_NE(output.find("SCALE {"), std::string::npos) << output;
  EXPECT_EQ(collector->Stop(SIGTERM, 20s), 0) << collector->Log();
}

#endif  // PLUMBLINE_BROWSER_TESTS

}  // namespace
}  // namespace plumbline::testing
