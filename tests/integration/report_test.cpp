// plumb report against a real collector: known requests, latencies, probes
// and host usage are sent over the ingest API; the report's attainment is
// good / valid of what was sent, its cost what `plumb chargeback` charges for
// the same window, to the cent, and both are the rate card applied by hand.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <nlohmann/json.hpp>

#include "plumbline/v1/ingest.grpc.pb.h"
#include "tests/integration/process.h"

namespace plumbline::testing {
namespace {

using namespace std::chrono_literals;
constexpr int64_t kMinute = 60000;

// shop and search share the host rep-web (split evenly); psp is a probe.
constexpr const char* kCatalog = R"(
business_units: [{id: retail}, {id: finance}]
services:
  - id: shop
    name: Web shop
    business_unit: retail
    value_per_transaction: 0.5
    components: [{id: web, hosts: ["rep-*"], log: shop}]
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
  - id: search
    business_unit: retail
    components: [{id: web, hosts: ["rep-*"]}]
  - id: psp
    business_unit: finance
    components: [{id: api, probe: psp}]
    slis: [{id: up, kind: probe, probe: psp}]
    slos: [{id: availability, sli: up, target: 99}]
)";

constexpr const char* kCosts = R"(costs:
  currency: EUR
  rates: [{from: 2020-01-01T00:00:00Z, cpu_core_hour: 120, host_hour: 30}]
)";

// One batch of known samples in [from - 1 minute, from + 15 minutes), a
// sample a minute: shop 100 requests a minute, 2 failed, 97 under 300 ms;
// psp's probe failing in 2 of 15 minutes; rep-web with 4 cores busy 30 s a
// minute.
void SendSamples(const std::string& address, int64_t from) {
  auto stub = v1::Ingest::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 30s);
  auto stream = stub->Stream(&ctx);
  v1::IngestRequest hello;
  hello.mutable_hello()->set_agent_id("report-host");
  ASSERT_TRUE(stream->Write(hello));
  v1::IngestRequest request;
  v1::Batch* batch = request.mutable_batch();
  batch->set_agent_id("report-host");
  batch->set_epoch(1);
  batch->set_sequence(1);
  auto series = [&](const std::string& name, v1::MetricType type,
                    const std::map<std::string, std::string>& labels, auto value) {
    v1::Series* s = batch->add_series();
    s->set_name(name);
    s->set_type(type);
    for (const auto& [k, v] : labels) {
      v1::Label* l = s->add_labels();
      l->set_name(k);
      l->set_value(v);
    }
    for (int m = -1; m < 15; ++m) {
      v1::Point* p = s->add_points();
      p->set_timestamp_ms(from + m * kMinute + 1000);
      p->set_number(value(m));
    }
  };
  constexpr auto kCounter = v1::METRIC_TYPE_COUNTER;
  constexpr auto kGauge = v1::METRIC_TYPE_GAUGE;
  series("http_requests_total", kCounter, {{"log", "shop"}, {"status_class", "2xx"}},
         [](int m) { return 98.0 * (m + 1); });
  series("http_requests_total", kCounter, {{"log", "shop"}, {"status_class", "5xx"}},
         [](int m) { return 2.0 * (m + 1); });
  series("http_request_duration_seconds_count", kCounter, {{"log", "shop"}},
         [](int m) { return 100.0 * (m + 1); });
  series("http_request_duration_seconds_bucket", kCounter, {{"log", "shop"}, {"le", "0.3"}},
         [](int m) { return 97.0 * (m + 1); });
  series("host_cpu_seconds_total", kCounter, {{"host", "rep-web"}, {"mode", "user"}},
         [](int m) { return 30.0 * (m + 1); });
  // Gauges from the window's first minute on (the counters need one before).
  series("host_cpu_count", kGauge, {{"host", "rep-web"}}, [](int) { return 4.0; });
  series("probe_success", kGauge, {{"probe", "psp"}},
         [](int m) { return m == 3 || m == 4 ? 0 : 1; });
  for (int i = 0; i < batch->series_size(); ++i) {
    v1::Series* s = batch->mutable_series(i);
    if (s->type() == kGauge) s->mutable_points()->DeleteSubrange(0, 1);
  }
  ASSERT_TRUE(stream->Write(request));
  v1::IngestResponse response;
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_EQ(response.ack().result(), v1::ACK_STORED) << response.ack().message();
  stream->WritesDone();
  ASSERT_TRUE(stream->Finish().ok());
}

std::map<std::string, nlohmann::json> ByService(const nlohmann::json& list) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& x : list) out[x["service"]] = x;
  return out;
}

TEST(Report, AttainmentIsWhatWasSentAndCostIsTheChargebacksToTheCent) {
  TempDir dir("report");
  WriteFile(dir.File("catalog.yaml"), std::string(kCatalog) + kCosts);
  std::string address;
  auto collector =
      StartCollector(dir, &address, "127.0.0.1:0", {"--catalog", dir.File("catalog.yaml")});
  ASSERT_TRUE(collector.ok()) << collector.status();
  const int64_t from = NowMs() / kMinute * kMinute - 20 * kMinute;
  const int64_t to = from + 15 * kMinute;
  SendSamples(address, from);
  const std::string window = "--from " + std::to_string(from) + " --to " + std::to_string(to);

  // By hand. shop: 1500 requests, 30 failed, 1455 fast. psp: 13 of 15.
  // rep-web: 15 minutes observed (0.25 h) x 30 = 7.50 fixed; 450 busy
  // core-seconds (0.125 core-hours) x 120 = 15.00 usage; split evenly:
  // 11.25 each for shop and search; its idle, (4 x 0.25 - 0.125) x 120 =
  // 105.00, is nobody's.
  constexpr int64_t kShopCents = 1125;
  constexpr int64_t kTotalCents = 750 + 1500 + 10500;
  // Minutes the collector rolled up before the samples came are recomputed
  // by its maintenance (late data): wait until all of it is counted.
  nlohmann::json report, chargeback;
  WaitFor(
      [&] {
        report = PlumbJson(address, "report " + window);
        chargeback = PlumbJson(address, "chargeback " + window);
        if (!report.is_object() || !chargeback.is_object()) return false;
        auto rows = ByService(report["services"]);
        return rows["shop"]["objectives"][0]["valid"] == 1500 &&
               rows["shop"]["objectives"][1]["valid"] == 1500 &&
               rows["psp"]["objectives"][0]["valid"] == 15 &&
               chargeback["total_cents"] == std::to_string(kTotalCents);
      },
      60s);
  EXPECT_EQ(report["from_ms"], from);
  EXPECT_EQ(report["to_ms"], to);
  EXPECT_EQ(report["currency"], "EUR");
  EXPECT_EQ(report["has_cost"], true);
  EXPECT_EQ(report["note"], "");
  ASSERT_EQ(report["services"].size(), 3u) << report.dump(2);
  auto rows = ByService(report["services"]);

  const nlohmann::json& shop = rows["shop"];
  EXPECT_EQ(shop["name"], "Web shop");
  EXPECT_EQ(shop["business_unit"], "retail");
  EXPECT_EQ(shop["requests"], 1500);
  ASSERT_EQ(shop["objectives"].size(), 2u) << shop.dump(2);
  const nlohmann::json& availability = shop["objectives"][0];
  EXPECT_EQ(availability["slo"], "availability");
  EXPECT_EQ(availability["kind"], "availability");
  EXPECT_EQ(availability["good"], 1470);
  EXPECT_EQ(availability["valid"], 1500);
  EXPECT_NEAR(availability["attainment"].get<double>(), 1470.0 / 1500, 1e-12);
  EXPECT_NEAR(availability["target"].get<double>(), 0.99, 1e-12);
  EXPECT_EQ(availability["met"], false);
  const nlohmann::json& latency = shop["objectives"][1];
  EXPECT_EQ(latency["kind"], "latency");
  EXPECT_EQ(latency["good"], 1455);
  EXPECT_NEAR(latency["attainment"].get<double>(), 1455.0 / 1500, 1e-12);
  EXPECT_NEAR(latency["target"].get<double>(), 0.95, 1e-12);
  EXPECT_EQ(latency["met"], true);
  EXPECT_EQ(shop["cents"], kShopCents);
  EXPECT_EQ(shop["cost"], "11.25");
  EXPECT_NEAR(shop["cost_per_1000_requests"].get<double>(), 11.25 * 1000 / 1500, 1e-9);
  EXPECT_NEAR(shop["revenue"].get<double>(), 0.5 * 1500, 1e-9);

  EXPECT_EQ(rows["search"]["cents"], kShopCents);
  EXPECT_EQ(rows["search"]["requests"], 0);
  EXPECT_TRUE(rows["search"]["cost_per_1000_requests"].is_null());
  EXPECT_TRUE(rows["search"]["objectives"].empty());
  EXPECT_TRUE(rows["search"]["revenue"].is_null());  // the catalog gives no value

  const nlohmann::json& psp = rows["psp"];
  EXPECT_EQ(psp["objectives"][0]["kind"], "availability");
  EXPECT_NEAR(psp["objectives"][0]["attainment"].get<double>(), 13.0 / 15, 1e-12);
  EXPECT_EQ(psp["objectives"][0]["met"], false);
  EXPECT_EQ(psp["cents"], 0);

  // Every service's cost is the chargeback's for the same window, to the cent.
  EXPECT_EQ(chargeback["total_cents"], std::to_string(kTotalCents)) << chargeback.dump(2);
  std::map<std::string, int64_t> charged;
  for (const auto& x : chargeback["services"]) {
    charged[x["service"]] = std::stoll(x["cents"].get<std::string>());
  }
  for (const auto& [id, row] : rows) {
    EXPECT_EQ(row["cents"].get<int64_t>(), charged[id]) << id;
  }

  // The table for people.
  int rc = -1;
  std::string table = Plumb("--collector " + address + " report " + window, &rc);
  EXPECT_EQ(rc, 0) << table;
  EXPECT_NE(table.find("98.000% / 99.000% MISSED"), std::string::npos) << table;
  EXPECT_NE(table.find("97.000% / 95.000%"), std::string::npos) << table;
  EXPECT_NE(table.find("COST (EUR)"), std::string::npos) << table;
  EXPECT_NE(table.find("11.25"), std::string::npos) << table;
  EXPECT_NE(table.find("7.5000"), std::string::npos) << table;  // per 1,000 requests

  // One business unit; the same over the HTTP API.
  auto finance = PlumbJson(address, "report --unit finance " + window);
  ASSERT_EQ(finance["services"].size(), 1u);
  EXPECT_EQ(finance["services"][0]["service"], "psp");
  std::string http = nlohmann::json::parse(ReadFile(dir.File("collector.ready")))["http"];
  httplib::Client client("http://" + http);
  client.set_read_timeout(30, 0);
  auto res = client.Get("/api/v1/report?unit=retail&from=" + std::to_string(from) +
                        "&to=" + std::to_string(to));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto j = nlohmann::json::parse(res->body, nullptr, false);
  ASSERT_EQ(j["services"].size(), 2u) << res->body;
  EXPECT_EQ(j["services"][0]["service"], "shop");
  EXPECT_EQ(j["services"][0]["cents"], std::to_string(kShopCents));  // int64: a JSON string
  EXPECT_EQ(j["services"][0]["objectives"][1]["kind"], "latency");
  EXPECT_EQ(client.Get("/api/v1/report?unit=nope")->status, 404);
  EXPECT_EQ(client.Get("/api/v1/report?from=yesterday")->status, 400);

  EXPECT_EQ(collector->Stop(SIGTERM, 20s), 0) << collector->Log();
}

TEST(Report, WithoutARateCardItStillReportsTheSlosAndSaysWhyCostIsMissing) {
  TempDir dir("report_no_costs");
  WriteFile(dir.File("catalog.yaml"), kCatalog);
  std::string address;
  auto collector =
      StartCollector(dir, &address, "127.0.0.1:0", {"--catalog", dir.File("catalog.yaml")});
  ASSERT_TRUE(collector.ok()) << collector.status();
  auto report = PlumbJson(address, "report");
  EXPECT_EQ(report["has_cost"], false);
  EXPECT_NE(report["note"].get<std::string>().find("no costs: section"), std::string::npos);
  // The default window: the last 30 whole UTC days.
  EXPECT_EQ(report["to_ms"].get<int64_t>() % (1440 * kMinute), 0);
  EXPECT_EQ(report["to_ms"].get<int64_t>() - report["from_ms"].get<int64_t>(), 30 * 1440 * kMinute);
  EXPECT_LE(report["to_ms"].get<int64_t>(), NowMs());
  EXPECT_GT(report["to_ms"].get<int64_t>(), NowMs() - 1440 * kMinute);
  ASSERT_EQ(report["services"].size(), 3u);
  EXPECT_TRUE(report["services"][0]["cents"].is_null());
  EXPECT_EQ(report["services"][0]["objectives"][0]["has_data"], false);
  int rc = -1;
  std::string table = Plumb("--collector " + address + " report", &rc);
  EXPECT_EQ(rc, 0) << table;
  EXPECT_NE(table.find("note: the catalog has no costs: section"), std::string::npos) << table;
  EXPECT_NE(table.find("no data / 99.000%"), std::string::npos) << table;
  EXPECT_EQ(collector->Stop(SIGTERM, 20s), 0) << collector->Log();
}

}  // namespace
}  // namespace plumbline::testing
