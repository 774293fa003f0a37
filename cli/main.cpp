// plumb: the SRE's command line for a Plumbline collector.
//
// Exit codes: 0 success; 1 the collector answered with an error; 2 usage
// error; 3 the collector could not be reached.
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "absl/time/time.h"
#include "cli/table.h"
#include "plumbline/v1/query.grpc.pb.h"
#include "plumbline/version.h"

namespace {

enum ExitCode { kOk = 0, kServerError = 1, kUsage = 2, kUnreachable = 3 };

struct Global {
  std::string collector = "127.0.0.1:7070";
  double timeout_s = 10;
  bool json = false;
  bool csv = false;
};

std::string Rfc3339(int64_t ms) {
  if (ms <= 0) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

int Fail(const grpc::Status& status, const Global& g) {
  bool unreachable = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                     status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
  std::cerr << "plumb: " << (unreachable ? "cannot reach collector at " + g.collector + ": " : "")
            << status.error_message() << "\n";
  return unreachable ? kUnreachable : kServerError;
}

std::unique_ptr<plumbline::v1::Query::Stub> Connect(const Global& g) {
  return plumbline::v1::Query::NewStub(
      grpc::CreateChannel(g.collector, grpc::InsecureChannelCredentials()));
}

void SetDeadline(grpc::ClientContext* ctx, const Global& g) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(g.timeout_s * 1000)));
}

const plumbline::v1::LatestValue* Find(const plumbline::v1::AgentStatus& a, const char* name) {
  for (const auto& v : a.latest()) {
    if (v.name() == name) return &v;
  }
  return nullptr;
}

int Agents(const Global& g) {
  auto stub = Connect(g);
  grpc::ClientContext ctx;
  SetDeadline(&ctx, g);
  plumbline::v1::ListAgentsResponse response;
  grpc::Status status = stub->ListAgents(&ctx, {}, &response);
  if (!status.ok()) return Fail(status, g);
  const int64_t now = response.now_ms();

  if (g.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& a : response.agents()) {
      nlohmann::json j = {{"agent_id", a.agent_id()},
                          {"hostname", a.hostname()},
                          {"version", a.version()},
                          {"os", a.os()},
                          {"connected", a.connected()},
                          {"first_seen", Rfc3339(a.first_seen_ms())},
                          {"last_seen", Rfc3339(a.last_seen_ms())},
                          {"last_seen_ms", a.last_seen_ms()},
                          {"batches", a.batches()},
                          {"samples", a.samples()},
                          {"cpu_count", a.cpu_count()},
                          {"labels", nlohmann::json::object()},
                          {"latest", nlohmann::json::object()}};
      for (const auto& l : a.labels()) j["labels"][l.name()] = l.value();
      for (const auto& v : a.latest()) {
        j["latest"][v.name()] = {{"value", v.value()}, {"timestamp", Rfc3339(v.timestamp_ms())},
                                 {"timestamp_ms", v.timestamp_ms()}};
      }
      out.push_back(std::move(j));
    }
    std::cout << out.dump(2) << "\n";
    return kOk;
  }

  if (g.csv) {
    // Scripts get raw numbers and RFC 3339 times.
    plumbline::cli::Table csv({"agent_id", "hostname", "version", "status", "last_seen",
                               "cpu_utilization", "memory_used_bytes", "memory_total_bytes"});
    for (const auto& a : response.agents()) {
      const auto* cpu = Find(a, "host_cpu_utilization");
      const auto* used = Find(a, "host_memory_used_bytes");
      const auto* total = Find(a, "host_memory_total_bytes");
      csv.AddRow({a.agent_id(), a.hostname(), a.version(),
                  a.connected() ? "connected" : "disconnected", Rfc3339(a.last_seen_ms()),
                  cpu ? std::to_string(cpu->value()) : "",
                  used ? std::to_string(static_cast<uint64_t>(used->value())) : "",
                  total ? std::to_string(static_cast<uint64_t>(total->value())) : ""});
    }
    csv.PrintCsv(std::cout);
    return kOk;
  }

  plumbline::cli::Table table({"AGENT", "HOST", "VERSION", "STATUS", "LAST SEEN", "CPU", "MEMORY",
                               "MEM USED"});
  for (const auto& a : response.agents()) {
    char cpu[32] = "-", mem_ratio[32] = "-";
    if (const auto* v = Find(a, "host_cpu_utilization")) {
      std::snprintf(cpu, sizeof cpu, "%.1f%%", v->value() * 100);
    }
    std::string memory = "-";
    const auto* used = Find(a, "host_memory_used_bytes");
    const auto* total = Find(a, "host_memory_total_bytes");
    if (used && total) {
      memory = plumbline::cli::HumanBytes(used->value()) + " / " +
               plumbline::cli::HumanBytes(total->value());
    }
    if (const auto* v = Find(a, "host_memory_used_ratio")) {
      std::snprintf(mem_ratio, sizeof mem_ratio, "%.1f%%", v->value() * 100);
    }
    std::string state = a.connected() ? "connected" : "disconnected";
    table.AddRow({a.agent_id(), a.hostname(), a.version(), state,
                  plumbline::cli::Ago(now, a.last_seen_ms()), cpu, memory, mem_ratio});
  }
  if (response.agents_size() == 0) {
    std::cout << "no agents have reported to " << g.collector << " yet\n";
    return kOk;
  }
  table.PrintText(std::cout);
  return kOk;
}

int Stats(const Global& g) {
  auto stub = Connect(g);
  grpc::ClientContext ctx;
  SetDeadline(&ctx, g);
  plumbline::v1::GetStatsResponse response;
  grpc::Status status = stub->GetStats(&ctx, {}, &response);
  if (!status.ok()) return Fail(status, g);
  auto key = [](const plumbline::v1::Counter& c) {
    std::string labels;
    for (const auto& l : c.labels()) {
      labels += (labels.empty() ? "" : ",") + l.name() + "=\"" + l.value() + "\"";
    }
    return labels.empty() ? c.name() : c.name() + "{" + labels + "}";
  };
  if (g.json) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& c : response.counters()) out[key(c)] = c.value();
    std::cout << out.dump(2) << "\n";
    return kOk;
  }
  plumbline::cli::Table table({"COUNTER", "VALUE"});
  for (const auto& c : response.counters()) {
    char v[64];
    std::snprintf(v, sizeof v, "%.15g", c.value());
    table.AddRow({key(c), v});
  }
  g.csv ? table.PrintCsv(std::cout) : table.PrintText(std::cout);
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"plumb: ask a Plumbline collector about agents, services and their value."};
  app.set_version_flag("--version", std::string("plumb ") + plumbline::kVersion);
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the subcommand: plumb agents --json
  Global g;
  if (const char* env = std::getenv("PLUMB_COLLECTOR")) g.collector = env;
  app.add_option("--collector", g.collector,
                 "collector gRPC address host:port (default $PLUMB_COLLECTOR or 127.0.0.1:7070)");
  app.add_option("--timeout", g.timeout_s, "seconds to wait for an answer")->check(
      CLI::Range(0.1, 3600.0));
  auto* json = app.add_flag("--json", g.json, "print JSON instead of a table");
  app.add_flag("--csv", g.csv, "print CSV instead of a table")->excludes(json);

  int rc = kOk;
  app.add_subcommand("agents", "list agents with last-seen time and latest CPU and memory")
      ->callback([&] { rc = Agents(g); });
  app.add_subcommand("stats", "the collector's own counters (ingest, rejections, queries)")
      ->callback([&] { rc = Stats(g); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kOk : kUsage;
  }
  return rc;
}
