// The collector's HTTP surface against the real binary: the JSON API answers
// with the Query service's content, bad requests get a clear error and
// status, and /metrics is valid exposition text with the business KPIs.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>
#include <tuple>

#include "agent/exposition_parser.h"
#include "plumbline/v1/ingest.grpc.pb.h"
#include "tests/integration/process.h"

namespace plumbline::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kCatalog = R"(
business_units: [{id: retail, name: Retail}, {id: finance, name: Finance}]
services:
  - id: payments
    business_unit: retail
    revenue_per_hour: 3600
    slis: [{id: up, kind: probe, probe: pay-http}]
    slos: [{id: availability, sli: up, target: 99.9}]
  - id: checkout
    name: "Checkout \"EU\""
    business_unit: retail
    dependencies: [{service: payments}]
  - id: ledger
    business_unit: finance
costs:
  currency: EUR
  rates: [{from: 2020-01-01T00:00:00Z, cpu_core_hour: 0.04, host_hour: 0.01}]
)";

class HttpApi : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.File("catalog.yaml"), kCatalog);
    auto c = StartCollector(dir_, &grpc_, "127.0.0.1:0", {"--catalog", dir_.File("catalog.yaml")});
    ASSERT_TRUE(c.ok()) << c.status();
    collector_ = std::make_unique<Process>(std::move(*c));
    std::string http = nlohmann::json::parse(ReadFile(dir_.File("collector.ready")))["http"];
    ASSERT_FALSE(http.empty());
    client_ = std::make_unique<httplib::Client>("http://" + http);
    client_->set_read_timeout(30, 0);
  }
  void TearDown() override {
    if (collector_) {
      EXPECT_EQ(collector_->Stop(SIGTERM, 20s), 0) << collector_->Log();
    }
  }

  // GET or POST; returns status and parsed JSON body (discarded if not JSON).
  std::pair<int, nlohmann::json> Get(const std::string& path) {
    auto res = client_->Get(path);
    if (!res) return {0, {}};
    return {res->status, nlohmann::json::parse(res->body, nullptr, false)};
  }
  std::pair<int, nlohmann::json> Post(const std::string& path, const std::string& body) {
    auto res = client_->Post(path, body, "application/json");
    if (!res) return {0, {}};
    return {res->status, nlohmann::json::parse(res->body, nullptr, false)};
  }

  TempDir dir_{"http_api"};
  std::string grpc_;
  std::unique_ptr<Process> collector_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpApi, HealthAndReadinessProbes) {
  auto healthz = client_->Get("/healthz");
  ASSERT_TRUE(healthz);
  EXPECT_EQ(healthz->status, 200);
  EXPECT_EQ(healthz->body, "ok\n");
  auto readyz = client_->Get("/readyz");
  ASSERT_TRUE(readyz);
  EXPECT_EQ(readyz->status, 200);
}

TEST_F(HttpApi, ServesTheCatalogHealthAndSlosWithTheirContent) {
  auto [status, services] = Get("/api/v1/services");
  ASSERT_EQ(status, 200) << services.dump();
  ASSERT_EQ(services["services"].size(), 3u);
  EXPECT_EQ(services["services"][0]["id"], "payments");
  EXPECT_EQ(services["services"][0]["revenue_per_hour"], 3600);
  EXPECT_EQ(services["services"][1]["name"], "Checkout \"EU\"");
  EXPECT_EQ(services["services"][1]["depends_on"], nlohmann::json({"payments"}));

  auto [hs, health] = Get("/api/v1/health?service=payments");
  ASSERT_EQ(hs, 200) << health.dump();
  ASSERT_EQ(health["services"].size(), 1u);
  EXPECT_EQ(health["services"][0]["status"], "no data");
  EXPECT_EQ(health["services"][0]["indicators"][0]["slo"], "availability");

  // Series by label, written plainly and percent-encoded alike.
  for (const char* match : {"probe=pay-http", "probe%3Dpay-http"}) {
    auto [qs, series] =
        Get(std::string("/api/v1/series?name=probe_success&from=-1h&match=") + match);
    EXPECT_EQ(qs, 200) << match << ": " << series.dump();
  }
  EXPECT_EQ(Get("/api/v1/series?name=probe_success&match=probe").first, 400);

  auto [ss, slo] = Get("/api/v1/slo?service=payments");
  ASSERT_EQ(ss, 200);
  EXPECT_NEAR(slo["slos"][0]["target"].get<double>(), 0.999, 1e-12);
  EXPECT_EQ(slo["slos"][0]["budget_remaining_ratio"], 1);
}

// The SLI per step from known probe results: 20 probes 30 s apart, every
// fourth one failing (i = 3, 7, 11, 15, 19): the first 5 minutes 8 of 10
// good, the next 7 of 10.
TEST_F(HttpApi, TheSliSeriesCountsEachStepFromTheStoredSamples) {
  constexpr int64_t kFiveMinutes = 300000;
  const int64_t t0 = (NowMs() - 40 * 60000) / kFiveMinutes * kFiveMinutes;
  {
    auto stub = v1::Ingest::NewStub(grpc::CreateChannel(grpc_, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    auto stream = stub->Stream(&ctx);
    v1::IngestRequest hello;
    hello.mutable_hello()->set_agent_id("probe-host");
    ASSERT_TRUE(stream->Write(hello));
    v1::IngestRequest request;
    v1::Batch* batch = request.mutable_batch();
    batch->set_agent_id("probe-host");
    batch->set_epoch(1);
    batch->set_sequence(1);
    v1::Series* s = batch->add_series();
    s->set_name("probe_success");
    s->set_type(v1::METRIC_TYPE_GAUGE);
    v1::Label* l = s->add_labels();
    l->set_name("probe");
    l->set_value("pay-http");
    for (int i = 0; i < 20; ++i) {
      v1::Point* p = s->add_points();
      p->set_timestamp_ms(t0 + i * 30000);
      p->set_number(i % 4 == 3 ? 0 : 1);
    }
    ASSERT_TRUE(stream->Write(request));
    v1::IngestResponse response;
    ASSERT_TRUE(stream->Read(&response));
    ASSERT_EQ(response.ack().result(), v1::ACK_STORED) << response.ack().message();
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
  }
  const std::string window =
      "&from=" + std::to_string(t0) + "&to=" + std::to_string(t0 + 2 * kFiveMinutes);
  // Late data (the minutes were settled before it came) is counted once the
  // collector has rolled its minutes up again: within a maintenance interval.
  int status = 0;
  nlohmann::json sli;
  WaitFor(
      [&] {
        std::tie(status, sli) =
            Get("/api/v1/sli?service=payments&slo=availability&step=5m" + window);
        return status != 200 || sli["points"].size() == 2;
      },
      30s);
  ASSERT_EQ(status, 200) << sli.dump();
  EXPECT_EQ(sli["sli"], "up");
  EXPECT_EQ(sli["step_ms"], std::to_string(kFiveMinutes));
  ASSERT_EQ(sli["points"].size(), 2u) << sli.dump();
  EXPECT_EQ(sli["points"][0]["from_ms"], std::to_string(t0));
  EXPECT_EQ(sli["points"][0]["good"], 8);
  EXPECT_EQ(sli["points"][0]["valid"], 10);
  EXPECT_NEAR(sli["points"][0]["ratio"].get<double>(), 0.8, 1e-12);
  EXPECT_EQ(sli["points"][1]["good"], 7);
  EXPECT_NEAR(sli["points"][1]["ratio"].get<double>(), 0.7, 1e-12);
  // Without a step: 10 minutes in 1-minute steps, 2 probes each; the SLO
  // defaults to the service's first.
  auto [auto_status, fine] = Get("/api/v1/sli?service=payments" + window);
  ASSERT_EQ(auto_status, 200) << fine.dump();
  EXPECT_EQ(fine["step_ms"], "60000");
  ASSERT_EQ(fine["points"].size(), 10u);
  EXPECT_EQ(fine["points"][1]["good"], 1);  // probes 2 and 3
  EXPECT_EQ(fine["points"][1]["valid"], 2);
  // Errors say what is wrong.
  EXPECT_EQ(Get("/api/v1/sli?service=payments&slo=nope" + window).first, 404);
  EXPECT_EQ(Get("/api/v1/sli?service=checkout" + window).first, 404);  // no SLO
  EXPECT_EQ(Get("/api/v1/sli?service=payments&step=90s" + window).first, 400);
  EXPECT_EQ(Get("/api/v1/sli?service=payments&from=-30d&step=1m").first, 400);  // > 2,000 steps
}

TEST_F(HttpApi, IncidentsAreDeclaredAnnotatedListedAndTheirImpactReported) {
  auto [ds, declared] = Post("/api/v1/incidents",
                             R"({"title": "PSP outage", "services": ["payments"],
                                 "from": "-30m", "to": "-10m", "declared_by": "alice"})");
  ASSERT_EQ(ds, 200) << declared.dump();
  const std::string id = declared["incident"]["id"];
  EXPECT_EQ(id.rfind("decl-payments-", 0), 0u);
  EXPECT_EQ(declared["incident"]["affected_services"], nlohmann::json({"payments", "checkout"}));

  auto [ns, note] =
      Post("/api/v1/incidents/" + id + "/notes", R"({"text": "rolled back", "author": "bob"})");
  ASSERT_EQ(ns, 200) << note.dump();

  auto [ls, list] = Get("/api/v1/incidents?from=-1h");
  ASSERT_EQ(ls, 200);
  ASSERT_EQ(list["incidents"].size(), 1u);
  EXPECT_EQ(list["incidents"][0]["declared_by"], "alice");
  EXPECT_EQ(list["incidents"][0]["notes"][0]["text"], "rolled back");

  auto [is, impact] = Get("/api/v1/impact?incident=" + id);
  ASSERT_EQ(is, 200) << impact.dump();
  EXPECT_EQ(impact["services"].size(), 2u);
  EXPECT_EQ(impact["revenue_at_risk"], 0);  // no failures measured: nothing at risk

  // A note on an incident that does not exist.
  auto [ms, missing] = Post("/api/v1/incidents/decl-nope/notes", R"({"text": "x", "author": "y"})");
  EXPECT_EQ(ms, 404);
  EXPECT_EQ(missing["error"], "no incident \"decl-nope\"");
}

TEST_F(HttpApi, IncidentsAreShownAndClosedAndImpactIsLimitedToABusinessUnit) {
  auto [ds, declared] = Post("/api/v1/incidents",
                             R"({"title": "ledger stuck", "services": ["ledger", "payments"],
                                 "from": "-20m", "declared_by": "alice", "id": "inc-42"})");
  ASSERT_EQ(ds, 200) << declared.dump();
  EXPECT_TRUE(declared["incident"]["open"].get<bool>());

  auto [gs, shown] = Get("/api/v1/incidents/inc-42");
  ASSERT_EQ(gs, 200) << shown.dump();
  EXPECT_EQ(shown["incident"]["title"], "ledger stuck");
  EXPECT_TRUE(shown["incident"]["open"].get<bool>());

  // Only the Finance part of it: the ledger, not payments or checkout.
  auto [us, unit] = Get("/api/v1/impact?incident=inc-42&unit=finance");
  ASSERT_EQ(us, 200) << unit.dump();
  ASSERT_EQ(unit["services"].size(), 1u);
  EXPECT_EQ(unit["services"][0]["service"], "ledger");
  auto [ws, window] = Get("/api/v1/impact?from=-1h&unit=retail");
  ASSERT_EQ(ws, 200) << window.dump();
  EXPECT_EQ(window["services"].size(), 2u);
  EXPECT_EQ(Get("/api/v1/impact?from=-1h&unit=nope").first, 404);
  EXPECT_EQ(Get("/api/v1/impact?from=-1h&unit=finance&service=payments").first, 400);

  auto [cs, closed] =
      Post("/api/v1/incidents/inc-42/close", R"({"closed_by": "bob", "reason": "restarted"})");
  ASSERT_EQ(cs, 200) << closed.dump();
  EXPECT_FALSE(closed["incident"]["open"].get<bool>());
  const int64_t ended = std::stoll(closed["incident"]["to_ms"].get<std::string>());
  EXPECT_NEAR(static_cast<double>(ended), static_cast<double>(NowMs()), 60000);
  ASSERT_EQ(closed["incident"]["notes"].size(), 1u);
  EXPECT_EQ(closed["incident"]["notes"][0]["author"], "bob");
  EXPECT_NE(closed["incident"]["notes"][0]["text"].get<std::string>().find("restarted"),
            std::string::npos);

  // Closing twice, closing a detected incident, unknown ids, a missing closer.
  auto [again, twice] = Post("/api/v1/incidents/inc-42/close", R"({"closed_by": "bob"})");
  EXPECT_EQ(again, 409);
  EXPECT_EQ(twice["code"], "conflict");
  EXPECT_NE(twice["error"].get<std::string>().find("already closed"), std::string::npos);
  auto [as, detected] =
      Post("/api/v1/incidents/auto-ledger-20261127T0800Z/close", R"({"closed_by": "bob"})");
  EXPECT_EQ(as, 409) << detected.dump();
  EXPECT_EQ(Post("/api/v1/incidents/inc-43/close", R"({"closed_by": "bob"})").first, 404);
  EXPECT_EQ(Post("/api/v1/incidents/inc-42/close", R"({"reason": "x"})").first, 400);
  EXPECT_EQ(Get("/api/v1/incidents/inc-43").first, 404);
}

// Every series the Grafana dashboard in packaging/ charts is one /metrics
// exposes (the collector's counters once they count something).
TEST_F(HttpApi, TheGrafanaDashboardChartsSeriesTheCollectorExposes) {
  nlohmann::json dashboard = nlohmann::json::parse(
      ReadFile(PLUMBLINE_SOURCE_DIR "/packaging/grafana/plumbline-dashboard.json"), nullptr, false);
  ASSERT_FALSE(dashboard.is_discarded());
  std::set<std::string> charted;
  size_t targets = 0;
  for (const auto& panel : dashboard["panels"]) {
    for (const auto& target : panel.value("targets", nlohmann::json::array())) {
      ++targets;
      const std::string expr = target["expr"];
      static const std::regex kName("plumbline_[a-z0-9_]+");
      for (std::sregex_iterator it(expr.begin(), expr.end(), kName), end; it != end; ++it) {
        charted.insert(it->str());
      }
    }
  }
  EXPECT_GE(targets, 20u);
  ASSERT_EQ(Post("/api/v1/incidents",
                 R"({"title": "x", "services": ["payments"], "from": "-5m", "declared_by": "a"})")
                .first,
            200);
  auto res = client_->Get("/metrics");
  ASSERT_TRUE(res && res->status == 200);
  std::string source;
  for (const auto& f :
       std::filesystem::recursive_directory_iterator(PLUMBLINE_SOURCE_DIR "/collector")) {
    if (f.path().extension() == ".cpp") source += ReadFile(f.path().string());
  }
  for (const std::string& name : charted) {
    const bool counter =
        name.find("_total") != std::string::npos || name.rfind("plumbline_ingest_", 0) == 0;
    if (counter) {  // exposed once it counts something: a name the collector counts
      EXPECT_NE(source.find("\"" + name + "\""), std::string::npos) << name;
      continue;
    }
    EXPECT_NE(res->body.find("# TYPE " + name + " "), std::string::npos)
        << name << " is charted but not exposed:\n"
        << res->body;
  }
}

TEST_F(HttpApi, BadRequestsGetAClearErrorAndStatus) {
  struct Case {
    std::string path;
    int status;
    std::string error;
  };
  const Case cases[] = {
      {"/api/v1/impact?from=-1h&to=-2h", 400, "to must be after from"},
      {"/api/v1/impact?from=last%20tuesday", 400,
       "from: \"last tuesday\" is not a time (RFC 3339, \"now\", \"-2h\" or milliseconds since the "
       "epoch)"},
      {"/api/v1/impact?from=-100d", 400, "the window must be non-empty and at most 40 days"},
      {"/api/v1/impact?from=-1h&service=nope", 404, "unknown service \"nope\""},
      {"/api/v1/impact", 400,
       "give incident=ID or from=TIME (and optionally to=TIME, service=ID, unit=ID)"},
      {"/api/v1/impact?incident=auto-nope-20261127T0800Z", 404,
       "no incident \"auto-nope-20261127T0800Z\""},
      {"/api/v1/health?service=nope", 404, "unknown service \"nope\""},
      {"/api/v1/incidents?from=-60d", 400, "the window must be non-empty and at most 40 days"},
      {"/api/v1/series?name=x&limit=lots", 400, "limit: expected a number of points"},
      {"/api/v1/nothing", 404, "no such endpoint: /api/v1/nothing"},
  };
  for (const Case& c : cases) {
    auto [status, body] = Get(c.path);
    EXPECT_EQ(status, c.status) << c.path << " " << body.dump();
    EXPECT_EQ(body["error"], c.error) << c.path;
  }
  auto [bs, bad_json] = Post("/api/v1/incidents", "{not json");
  EXPECT_EQ(bs, 400);
  EXPECT_EQ(bad_json["error"], "the body must be a JSON object");
  auto [us, unknown] =
      Post("/api/v1/incidents",
           R"({"title": "x", "services": ["ghost"], "from": "-1h", "declared_by": "a"})");
  EXPECT_EQ(us, 400);
  EXPECT_EQ(unknown["error"], "unknown service \"ghost\"");
  auto big = client_->Post("/api/v1/incidents", std::string(200 * 1024, 'x'), "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  // Still serving.
  EXPECT_EQ(Get("/api/v1/services").first, 200);
}

TEST_F(HttpApi, MetricsIsValidExpositionWithTheBusinessKpis) {
  // An open declared incident, so its gauges appear.
  ASSERT_EQ(
      Post("/api/v1/incidents",
           R"({"title": "slow", "services": ["payments"], "from": "-5m", "declared_by": "a"})")
          .first,
      200);
  auto res = client_->Get("/metrics");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  agent::ExpositionResult parsed = agent::ParseExposition(res->body);
  EXPECT_EQ(parsed.errors, 0u) << (parsed.messages.empty() ? "" : parsed.messages[0]) << "\n"
                               << res->body;
  std::map<std::string, double> values;
  for (const auto& s : parsed.series) {
    std::string key = s.name;
    for (const auto& [k, v] : s.labels) key += "," + k + "=" + v;
    values[key] = s.number;
  }
  EXPECT_EQ(values["plumbline_slo_target_ratio,service=payments,slo=availability"], 0.999);
  EXPECT_EQ(values["plumbline_slo_error_budget_remaining_ratio,service=payments,slo=availability"],
            1);
  EXPECT_EQ(values["plumbline_service_health_status,service=checkout,status=no data"], 1);
  EXPECT_EQ(values["plumbline_incidents_open,service=payments"], 1);
  EXPECT_EQ(values["plumbline_incidents_open,service=checkout"], 1);
  EXPECT_EQ(values.count("plumbline_slo_alert_firing,long_window=1h,service=payments,severity=page,"
                         "slo=availability") +
                values.count("plumbline_slo_alert_firing,service=payments,slo=availability,"
                             "severity=page,long_window=1h"),
            1u);
  EXPECT_GE(values["plumbline_http_requests_total,code=200"], 1);
  // promtool, where installed, agrees.
  if (std::filesystem::exists("/usr/bin/promtool")) {
    WriteFile(dir_.File("metrics.txt"), res->body);
    int rc = std::system(("/usr/bin/promtool check metrics < " + dir_.File("metrics.txt") + " > " +
                          dir_.File("promtool.txt") + " 2>&1")
                             .c_str());
    // 1 is a parse failure, 3 a lint problem (Prometheus' naming rules,
    // such as base units): neither may happen.
    EXPECT_EQ(WEXITSTATUS(rc), 0) << ReadFile(dir_.File("promtool.txt"));
  }
}

// The collector's own upkeep shows in /metrics once maintenance has run:
// memory handed back to the system, the log checkpointed, the day cache.
TEST_F(HttpApi, MaintenanceReportsItsUpkeep) {
  std::map<std::string, double> values;
  for (int i = 0; i < 100 && values.count("plumbline_collector_memory_trims_total") == 0; ++i) {
    if (i > 0) std::this_thread::sleep_for(100ms);
    auto res = client_->Get("/metrics");
    ASSERT_TRUE(res);
    values.clear();
    for (const auto& s : agent::ParseExposition(res->body).series) values[s.name] = s.number;
  }
  EXPECT_GE(values["plumbline_collector_memory_trims_total"], 1);
  EXPECT_GE(values["plumbline_collector_memory_trim_seconds_total"], 0);
  EXPECT_EQ(values.count("plumbline_store_wal_frames_pending"), 1u);
  EXPECT_EQ(values.count("plumbline_query_day_cache_entries"), 1u);
}

}  // namespace
}  // namespace plumbline::testing
