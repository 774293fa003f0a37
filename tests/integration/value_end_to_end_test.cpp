// The value chain end to end: a real agent probes a real HTTP service that
// goes down for a while; the collector opens and closes an incident on the
// service that depends on it, scores health through the dependencies, and
// reports the incident's business impact. The expected figures are computed
// here from the raw probe samples, independently of the engine's rollups.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "absl/time/time.h"
#include "plumbline/v1/query.grpc.pb.h"
#include "tests/integration/flaky_server.h"
#include "tests/integration/process.h"

namespace plumbline::testing {
namespace {

using namespace std::chrono_literals;
constexpr int64_t kMinute = 60000;

constexpr const char* kCatalog = R"(
business_units: [{id: retail, name: Retail}, {id: marketing, name: Marketing}]
services:
  - id: payments
    business_unit: retail
    revenue_per_hour: 3600
    users: 1000
    components: [{id: api, probe: pay-http}]
    slis: [{id: up, kind: probe, probe: pay-http}]
    slos: [{id: availability, sli: up, target: 99, importance: 8, critical: true}]
  - id: checkout
    business_unit: retail
    revenue_per_hour: 7200
    users: 5000
    components: [{id: web, hosts: ["e2e-*"]}]
    dependencies: [{service: payments, kind: hard, weight: 1}]
  - id: newsletter
    business_unit: marketing
    revenue_per_hour: 600
    users: 20000
    components: [{id: mail, probe: mail-http}]
    slis: [{id: up, kind: probe, probe: mail-http}]
    slos: [{id: availability, sli: up, target: 99}]
    dependencies: [{service: checkout, kind: soft, weight: 0.5}]
  - id: analytics
    business_unit: marketing
    revenue_per_hour: 100
    components: [{id: web, probe: stats-http}]
    slis: [{id: up, kind: probe, probe: stats-http}]
    slos: [{id: availability, sli: up, target: 99}]
)";

TEST(ValueEndToEnd, AnOutageOpensAndClosesAnIncidentWhoseImpactMatchesTheRawSamples) {
  TempDir dir("value_e2e");
  FlakyServer http;
  WriteFile(dir.File("catalog.yaml"), kCatalog);
  WriteFile(dir.File("collector.yaml"),
            "incidents: {open_after: 1m, close_after: 1m}\n"
            "storage: {durability: relaxed}\n");
  std::string address;
  auto collector = StartCollector(
      dir, &address, "127.0.0.1:0",
      {"--config", dir.File("collector.yaml"), "--catalog", dir.File("catalog.yaml")});
  ASSERT_TRUE(collector.ok()) << collector.status();
  WriteFile(dir.File("agent.yaml"),
            "agent_id: e2e-host\ninterval: 5s\nstate_dir: " + dir.File("state") +
                "\ncollector:\n  addresses: [\"" + address +
                "\"]\nsources:\n  host: {enabled: false}\n"
                "  probes:\n    http:\n"
                "      - {name: pay-http, url: \"" +
                http.Url("/pay") +
                "\", interval: 5s, timeout: 2s}\n"
                "      - {name: mail-http, url: \"" +
                http.Url("/ok") +
                "\", interval: 5s, timeout: 2s}\n"
                "      - {name: stats-http, url: \"" +
                http.Url("/ok") + "\", interval: 5s, timeout: 2s}\n");
  auto agent = Process::Start({PLUMBLINE_AGENT_BIN, "--config", dir.File("agent.yaml")},
                              dir.File("agent.log"));
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto stub = v1::Query::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));

  auto probe_points = [&](const std::string& probe) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    v1::QuerySeriesRequest request;
    request.set_name("probe_success");
    v1::Label* l = request.add_match();
    l->set_name("probe");
    l->set_value(probe);
    request.set_from_ms(NowMs() - 3600 * 1000);
    request.set_to_ms(NowMs() + 1000);
    v1::QuerySeriesResponse response;
    std::map<int64_t, double> points;
    if (stub->QuerySeries(&ctx, request, &response).ok() && response.series_size() == 1) {
      for (int i = 0; i < response.series(0).timestamps_ms_size(); ++i) {
        points[response.series(0).timestamps_ms(i)] = response.series(0).values(i);
      }
    }
    return points;
  };

  // Healthy first: probes arrive.
  ASSERT_TRUE(WaitFor([&] { return probe_points("pay-http").size() >= 3; }, 60s)) << agent->Log();

  // Payments goes down for 100 s: at least one whole minute and parts of others.
  http.SetDown(true);
  const auto down_since = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(50s);

  // During the outage: an open incident, health through the dependencies.
  // Detection needs a breaching minute that has ended; on a busy machine the
  // agent's probes may land late, so this waits (within the outage) for it.
  nlohmann::json open;
  WaitFor(
      [&] {
        open = PlumbJson(address, "incidents --since 1h");
        return open.size() == 1;
      },
      40s);
  ASSERT_EQ(open.size(), 1u) << open.dump(2);
  EXPECT_EQ(open[0]["kind"], "detected");
  EXPECT_TRUE(open[0]["open"].get<bool>()) << open.dump(2);
  auto health = PlumbJson(address, "health");
  std::map<std::string, nlohmann::json> by_service;
  for (const auto& h : health["services"]) by_service[h["service"]] = h;
  // payments fails (nearly) every probe: burn rate far above 14.4 -> 0.
  EXPECT_EQ(by_service["payments"]["score"], 0) << health.dump(2);
  EXPECT_EQ(by_service["payments"]["status"], "critical");
  // checkout has no indicators; its hard dependency caps it at payments' 0.
  EXPECT_EQ(by_service["checkout"]["score"], 0);
  // newsletter: own 100 (importance 5) blended with the soft dependency
  // (importance 10 x 0.5 = 5, score 0): 50.
  EXPECT_NEAR(by_service["newsletter"]["score"].get<double>(), 50, 1e-9);
  EXPECT_EQ(by_service["analytics"]["score"], 100);
  EXPECT_EQ(by_service["analytics"]["status"], "healthy");

  std::this_thread::sleep_until(down_since + 100s);  // 100 s down in all
  http.SetDown(false);

  // Closed once a quiet minute has passed after the last breaching one.
  nlohmann::json incidents;
  ASSERT_TRUE(WaitFor(
      [&] {
        incidents = PlumbJson(address, "incidents --since 1h");
        return incidents.size() == 1 && !incidents[0]["open"].get<bool>();
      },
      150s))
      << incidents.dump(2);
  const nlohmann::json& inc = incidents[0];
  const std::string id = inc["id"];
  EXPECT_EQ(id.rfind("auto-payments-", 0), 0u) << id;
  EXPECT_EQ(inc["detected_services"], nlohmann::json({"payments"}));
  EXPECT_EQ(inc["affected_services"], nlohmann::json({"payments", "checkout", "newsletter"}));
  const int64_t from = inc["from_ms"], to = inc["to_ms"];
  EXPECT_GE(to - from, 2 * kMinute);  // 100 s down touches at least two minutes
  EXPECT_LE(to - from, 3 * kMinute);

  // A note from the SRE on call, kept with the incident.
  int rc = -1;
  Plumb("--collector " + address + " incident note " + id +
            " \"PSP answered 503; failed over to the backup acquirer\" --by oncall",
        &rc);
  EXPECT_EQ(rc, 0);

  // The expected impact, from the raw samples: failed share per minute.
  std::map<int64_t, std::pair<double, double>> per_minute;  // failed, total
  double bad_in_incident = 0, valid_before_end = 0, bad_before_end = 0;
  for (const auto& [ts, v] : probe_points("pay-http")) {
    if (ts >= to) continue;
    valid_before_end += 1;
    bad_before_end += 1 - v;
    if (ts < from) continue;
    auto& m = per_minute[ts - ts % kMinute];
    m.first += 1 - v;
    m.second += 1;
    bad_in_incident += 1 - v;
  }
  double share_sum = 0;
  for (const auto& [minute, m] : per_minute) share_sum += m.first / m.second;
  const double minutes = static_cast<double>(to - from) / kMinute;
  ASSERT_GT(share_sum, 1);

  auto impact = PlumbJson(address, "impact " + id);
  EXPECT_EQ(impact["incident"], id);
  std::map<std::string, nlohmann::json> svc;
  for (const auto& x : impact["services"]) svc[x["service"]] = x;
  ASSERT_EQ(svc.size(), 3u) << impact.dump(2);  // analytics was not affected
  EXPECT_NEAR(svc["payments"]["revenue_at_risk"].get<double>(), 3600 * share_sum / 60, 1e-6);
  EXPECT_NEAR(svc["payments"]["users_affected"].get<double>(), 1000 * share_sum / minutes, 1e-6);
  EXPECT_EQ(svc["payments"]["propagated_only"], false);
  EXPECT_NEAR(svc["checkout"]["revenue_at_risk"].get<double>(), 7200 * share_sum / 60, 1e-6);
  EXPECT_NEAR(svc["checkout"]["revenue_at_risk_propagated"].get<double>(), 7200 * share_sum / 60,
              1e-6);
  EXPECT_EQ(svc["checkout"]["propagated_only"], true);
  EXPECT_EQ(svc["checkout"]["via"], "payments");
  EXPECT_NEAR(svc["newsletter"]["revenue_at_risk"].get<double>(), 600 * 0.5 * share_sum / 60, 1e-6);
  EXPECT_NEAR(svc["newsletter"]["users_affected"].get<double>(), 20000 * 0.5 * share_sum / minutes,
              1e-6);

  // Error budget: failed probes in the incident over 1% of every probe in
  // the 30-day period up to its end; the SLA is breached.
  ASSERT_EQ(svc["payments"]["slos"].size(), 1u);
  const auto& slo = svc["payments"]["slos"][0];
  EXPECT_NEAR(slo["bad"].get<double>(), bad_in_incident, 1e-9);
  EXPECT_NEAR(slo["budget_burned"].get<double>(), bad_in_incident / (0.01 * valid_before_end),
              1e-9);
  EXPECT_NEAR(slo["attainment"].get<double>(), 1 - bad_before_end / valid_before_end, 1e-9);
  EXPECT_EQ(slo["sla_breached"], true);

  // Per business unit, each service once.
  std::map<std::string, double> unit_revenue;
  for (const auto& u : impact["business_units"])
    unit_revenue[u["business_unit"]] = u["revenue_at_risk"];
  EXPECT_NEAR(unit_revenue["retail"], (3600 + 7200) * share_sum / 60, 1e-6);
  EXPECT_NEAR(unit_revenue["marketing"], 300 * share_sum / 60, 1e-6);
  EXPECT_NEAR(impact["revenue_at_risk"].get<double>(), (3600 + 7200 + 300) * share_sum / 60, 1e-6);

  // A declared incident for the same window gets the same figures.
  auto rfc3339 = [](int64_t ms) {
    return absl::FormatTime(absl::RFC3339_full, absl::FromUnixMillis(ms), absl::UTCTimeZone());
  };
  std::string declared = Plumb("--collector " + address +
                                   " incident declare --title \"PSP outage\" --service payments"
                                   " --by oncall --from " +
                                   rfc3339(from) + " --to " + rfc3339(to),
                               &rc);
  ASSERT_EQ(rc, 0) << declared;
  while (!declared.empty() && declared.back() == '\n') declared.pop_back();
  EXPECT_EQ(declared.rfind("decl-payments-", 0), 0u) << declared;
  auto declared_impact = PlumbJson(address, "impact " + declared);
  EXPECT_NEAR(declared_impact["revenue_at_risk"].get<double>(),
              impact["revenue_at_risk"].get<double>(), 1e-6);
  auto listed = PlumbJson(address, "incidents --since 1h");
  ASSERT_EQ(listed.size(), 2u) << listed.dump(2);
  for (const auto& i : listed) {
    if (i["id"] == id) {
      ASSERT_EQ(i["notes"].size(), 1u);
      EXPECT_EQ(i["notes"][0]["author"], "oncall");
    } else {
      EXPECT_EQ(i["kind"], "declared");
      EXPECT_EQ(i["declared_by"], "oncall");
    }
  }
  stub.reset();
  EXPECT_EQ(agent->Stop(SIGTERM, 20s), 0) << agent->Log();
  EXPECT_EQ(collector->Stop(SIGTERM, 20s), 0) << collector->Log();
}

}  // namespace
}  // namespace plumbline::testing
