// Chargeback end to end: a real agent measures this host; the collector
// prices what it stored by the catalog's rate card and splits it between two
// services. The expected figures apply the same rate card by hand to the raw
// samples read back over the query API.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <cmath>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "plumbline/v1/query.grpc.pb.h"
#include "tests/integration/process.h"

namespace plumbline::testing {
namespace {

using namespace std::chrono_literals;
constexpr int64_t kMinute = 60000;
constexpr int64_t kHour = 60 * kMinute;
constexpr double kGiB = 1024.0 * 1024 * 1024;

// Prices large enough that a minute of one host is worth whole cents.
constexpr double kCpu = 120, kMemory = 10, kDisk = 1000, kNetwork = 100, kHost = 30;

constexpr const char* kCatalog = R"(
business_units: [{id: retail}, {id: analytics}]
services:
  - id: web
    business_unit: retail
    components: [{id: all, hosts: ["*"]}]
  - id: batch
    business_unit: analytics
    components: [{id: all, hosts: ["*"]}]
costs:
  currency: EUR
  rates:
    - {from: 2020-01-01T00:00:00Z, cpu_core_hour: 120, memory_gb_hour: 10, disk_gb_month: 1000,
       network_gb: 100, host_hour: 30}
  hosts:
    - {host: "*", split: weight, weights: {web: 0.75, batch: 0.25}}
)";

TEST(Chargeback, MeasuredUsageTimesTheRateCardSplitByWeightAddsUpToTheCent) {
  TempDir dir("chargeback");
  // A budget for retail this month so small that any usage is over it.
  char month[8];
  const std::time_t now_s = std::time(nullptr);
  std::strftime(month, sizeof month, "%Y-%m", std::gmtime(&now_s));
  WriteFile(dir.File("catalog.yaml"),
            std::string(kCatalog) + "  budgets:\n    - {business_unit: retail, month: " + month +
                ", amount: 0.01}\n");
  std::string address;
  auto collector =
      StartCollector(dir, &address, "127.0.0.1:0", {"--catalog", dir.File("catalog.yaml")});
  ASSERT_TRUE(collector.ok()) << collector.status();
  // The window starts a minute before the agent does: no earlier samples.
  const int64_t from = NowMs() / kMinute * kMinute - kMinute;
  WriteFile(dir.File("agent.yaml"),
            "agent_id: cost-host\ninterval: 2s\nstate_dir: " + dir.File("state") +
                "\ncollector:\n  addresses: [\"" + address + "\"]\n");
  auto agent = Process::Start({PLUMBLINE_AGENT_BIN, "--config", dir.File("agent.yaml")},
                              dir.File("agent.log"));
  ASSERT_TRUE(agent.ok()) << agent.status();
  // Up to the second minute boundary after the start: at least ~30 samples.
  const int64_t to = (NowMs() / kMinute + 2) * kMinute;
  while (NowMs() < to + 3000) std::this_thread::sleep_for(200ms);

  auto stub = v1::Query::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  auto points = [&](const std::string& name) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    v1::QuerySeriesRequest q;
    q.set_name(name);
    q.set_from_ms(from);
    q.set_to_ms(to - 1);  // inclusive
    q.set_limit(100000);
    v1::QuerySeriesResponse r;
    EXPECT_TRUE(stub->QuerySeries(&ctx, q, &r).ok());
    return r;
  };
  auto label = [](const v1::SeriesPoints& s, const std::string& name) {
    for (const auto& l : s.labels()) {
      if (l.name() == name) return l.value();
    }
    return std::string();
  };
  // Reset-aware increase of a counter's points within the window.
  auto increase = [](const v1::SeriesPoints& s) {
    double inc = 0;
    for (int i = 1; i < s.values_size(); ++i) {
      double d = s.values(i) - s.values(i - 1);
      inc += d >= 0 ? d : s.values(i);
    }
    return inc;
  };

  // By hand, in the collector's hour buckets (from, from + 1h, ...).
  struct Bucket {
    int64_t first = INT64_MAX, last = 0;
    int count = 0;
    double cores = 0, busy = 0, memory_sum = 0, disk = 0, net = 0;
    int memory_n = 0;
    std::map<std::string, std::pair<double, int>> mounts;
  };
  std::map<int64_t, Bucket> buckets;
  auto bucket_of = [&](int64_t ts) -> Bucket& {
    return buckets[from + (ts - from) / kHour * kHour];
  };
  std::string host;
  const v1::QuerySeriesResponse counts = points("host_cpu_count");
  for (const auto& s : counts.series()) {
    host = label(s, "host");
    for (int i = 0; i < s.timestamps_ms_size(); ++i) {
      Bucket& b = bucket_of(s.timestamps_ms(i));
      b.first = std::min(b.first, s.timestamps_ms(i));
      b.last = std::max(b.last, s.timestamps_ms(i));
      b.count += 1;
      b.cores = std::max(b.cores, s.values(i));
    }
  }
  ASSERT_FALSE(host.empty());
  ASSERT_EQ(buckets.size(), 1u) << "the window is under an hour";
  Bucket& b = buckets.begin()->second;
  ASSERT_GE(b.count, 20);
  const v1::QuerySeriesResponse cpu = points("host_cpu_seconds_total");
  for (const auto& s : cpu.series()) {
    const std::string mode = label(s, "mode");
    if (mode == "idle" || mode == "iowait" || !label(s, "cpu").empty()) continue;
    b.busy += increase(s);
  }
  const v1::QuerySeriesResponse memory = points("host_memory_used_bytes");
  for (const auto& s : memory.series()) {
    for (double v : s.values()) {
      b.memory_sum += v;
      b.memory_n += 1;
    }
  }
  const v1::QuerySeriesResponse disk = points("host_filesystem_used_bytes");
  for (const auto& s : disk.series()) {
    double sum = 0;
    for (double v : s.values()) sum += v;
    b.disk += s.values_size() > 0 ? sum / s.values_size() : 0;  // mean per mount, summed
  }
  for (const char* name :
       {"host_network_receive_bytes_total", "host_network_transmit_bytes_total"}) {
    const v1::QuerySeriesResponse net = points(name);
    for (const auto& s : net.series()) b.net += increase(s);
  }
  const double hours = std::min(static_cast<double>(b.last - b.first) * b.count / (b.count - 1),
                                static_cast<double>(to - from)) /
                       kHour;
  const double used = b.busy / 3600;
  const double memory_gb_hours = b.memory_sum / b.memory_n / kGiB * hours;
  const double disk_gb_months = b.disk / kGiB * hours / 730;
  const double net_gb = b.net / kGiB;
  const double usage =
      used * kCpu + memory_gb_hours * kMemory + disk_gb_months * kDisk + net_gb * kNetwork;
  const double fixed = hours * kHost;
  const double idle = std::max(0.0, b.cores * hours - used) * kCpu;
  const double total = usage + fixed + idle;

  int rc = -1;
  std::string out = Plumb("--collector " + address + " chargeback --json --from " +
                              std::to_string((NowMs() - from) / 1000) + "s --to " +
                              std::to_string((NowMs() - to) / 1000) + "s",
                          &rc);
  // Relative times drift with the clock; ask for the exact window instead.
  grpc::ClientContext ctx;
  v1::GetChargebackRequest q;
  q.set_from_ms(from);
  q.set_to_ms(to);
  q.set_focus_csv(true);
  v1::GetChargebackResponse r;
  grpc::Status st = stub->GetChargeback(&ctx, q, &r);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(r.currency(), "EUR");
  EXPECT_EQ(r.total_cents(), std::llround(total * 100)) << "by hand: " << total;
  ASSERT_EQ(r.hosts_size(), 1);
  EXPECT_EQ(r.hosts(0).host(), host);
  EXPECT_NEAR(r.hosts(0).hours(), hours, 1e-9);
  EXPECT_NEAR(r.hosts(0).core_hours_used(), used, 1e-9);
  EXPECT_EQ(r.hosts(0).cpu_cores(), b.cores);

  // web 75 %, batch 25 % of usage and fixed cost; idle on its own line.
  std::map<std::string, int64_t> service_cents;
  for (const auto& x : r.services()) service_cents[x.service()] = x.cents();
  EXPECT_LE(std::abs(service_cents["web"] - std::llround(0.75 * (usage + fixed) * 100)), 1);
  EXPECT_LE(std::abs(service_cents["batch"] - std::llround(0.25 * (usage + fixed) * 100)), 1);
  int64_t idle_cents = 0, line_cents = 0;
  for (const auto& l : r.lines()) {
    line_cents += l.cents();
    if (l.category() == "idle") idle_cents += l.cents();
    EXPECT_GE(l.cents(), 0);
  }
  EXPECT_LE(std::abs(idle_cents - std::llround(idle * 100)), 1);
  // Every line, service and business unit adds up exactly to the total.
  EXPECT_EQ(line_cents, r.total_cents());
  EXPECT_EQ(service_cents["web"] + service_cents["batch"] + idle_cents, r.total_cents());
  int64_t unit_cents = 0;
  for (const auto& u : r.business_units()) unit_cents += u.cents();
  EXPECT_EQ(unit_cents + idle_cents, r.total_cents());

  // The FOCUS export carries the same lines.
  ASSERT_FALSE(r.focus_csv().empty());
  EXPECT_EQ(r.focus_csv().rfind("BillingPeriodStart,BillingPeriodEnd,BusinessUnit,Service,", 0),
            0u);
  size_t rows = 0;
  for (char c : r.focus_csv()) rows += c == '\n';
  EXPECT_EQ(rows, static_cast<size_t>(r.lines_size()) + 1);

  // And plumb answers (over the relative window) with the same shape.
  EXPECT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_EQ(j["currency"], "EUR");
  // The showback statement of one business unit: its services and lines only.
  std::string statement =
      Plumb("--collector " + address + " chargeback --from 10m --unit retail", &rc);
  EXPECT_EQ(rc, 0) << statement;
  EXPECT_NE(statement.find("showback statement: retail"), std::string::npos) << statement;
  EXPECT_NE(statement.find("web"), std::string::npos) << statement;
  EXPECT_EQ(statement.find("batch"), std::string::npos) << statement;
  // Budgets: retail is over its tiny one, analytics has none.
  auto budgets = nlohmann::json::parse(Plumb("--collector " + address + " budget --json", &rc),
                                       nullptr, false);
  ASSERT_EQ(rc, 0);
  ASSERT_FALSE(budgets.is_discarded());
  EXPECT_EQ(budgets["month"], month);
  ASSERT_EQ(budgets["business_units"].size(), 2u) << budgets.dump();
  for (const auto& u : budgets["business_units"]) {
    if (u["business_unit"] == "retail") {
      EXPECT_EQ(u["budget"], 0.01);
      EXPECT_TRUE(u["budget_alert"].get<bool>()) << u.dump();
      EXPECT_GT(u["projected"].get<double>(), 0.01);
    } else {
      EXPECT_TRUE(u["budget"].is_null()) << u.dump();
      EXPECT_FALSE(u["budget_alert"].get<bool>());
    }
  }
  std::string table = Plumb("--collector " + address + " budget", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(table.find("1 over budget"), std::string::npos) << table;
  EXPECT_NE(table.find("no budget"), std::string::npos) << table;
  // Maturity: data arrives for web's hosts, but it has no SLO yet.
  auto maturity = nlohmann::json::parse(Plumb("--collector " + address + " maturity --json", &rc),
                                        nullptr, false);
  ASSERT_EQ(rc, 0);
  ASSERT_FALSE(maturity.is_discarded());
  EXPECT_EQ(maturity["services"][0]["service"], "web");
  EXPECT_EQ(maturity["services"][0]["level"], 1);
  EXPECT_EQ(maturity["services"][0]["next_step"], "define an SLO");
  // Without a rate card, a clear error.
  EXPECT_NE(Plumb("--collector " + address + " chargeback --month 2026-13", &rc)
                .find("\"2026-13\" is not a month (YYYY-MM)"),
            std::string::npos);
  EXPECT_EQ(rc, 1);

  stub.reset();
  EXPECT_EQ(agent->Stop(SIGTERM, 20s), 0) << agent->Log();
  EXPECT_EQ(collector->Stop(SIGTERM, 20s), 0) << collector->Log();
}

TEST(Chargeback, WithoutARateCardTheAnswerSaysWhatIsMissing) {
  TempDir dir("chargeback_none");
  WriteFile(dir.File("catalog.yaml"),
            "business_units: [{id: r}]\nservices: [{id: s, business_unit: r}]\n");
  std::string address;
  auto collector =
      StartCollector(dir, &address, "127.0.0.1:0", {"--catalog", dir.File("catalog.yaml")});
  ASSERT_TRUE(collector.ok()) << collector.status();
  int rc = -1;
  EXPECT_EQ(Plumb("--collector " + address + " chargeback --month 2026-11", &rc),
            "plumb: the catalog has no costs: section (a rate card); see docs/cost.md\n");
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(collector->Stop(SIGTERM, 20s), 0);
}

}  // namespace
}  // namespace plumbline::testing
