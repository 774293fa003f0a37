// plumb: the SRE's command line for a Plumbline collector.
//
// Exit codes: 0 success; 1 the collector answered with an error; 2 usage
// error; 3 the collector could not be reached.
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/time/time.h"
#include "cli/client.h"
#include "cli/completion.h"
#include "cli/table.h"
#include "cli/value_commands.h"
#include "collector/catalog/catalog.h"
#include "collector/catalog/openslo.h"
#include "plumbline/v1/query.grpc.pb.h"
#include "plumbline/version.h"

namespace {

using plumbline::cli::Connect;
using plumbline::cli::Fail;
using plumbline::cli::Global;
using plumbline::cli::kOk;
using plumbline::cli::kServerError;
using plumbline::cli::kUsage;
using plumbline::cli::Rfc3339;
using plumbline::cli::SetDeadline;

const plumbline::v1::LatestValue* Find(const plumbline::v1::AgentStatus& a, const char* name) {
  for (const auto& v : a.latest()) {
    if (v.name() == name) return &v;
  }
  return nullptr;
}

int Agents(const Global& g) {
  plumbline::v1::ListAgentsResponse response;
  grpc::Status status = Call(g, &plumbline::v1::Query::Stub::ListAgents, {}, &response);
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
        j["latest"][v.name()] = {{"value", v.value()},
                                 {"timestamp", Rfc3339(v.timestamp_ms())},
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

  plumbline::cli::Table table(
      {"AGENT", "HOST", "VERSION", "STATUS", "LAST SEEN", "CPU", "MEMORY", "MEM USED"});
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
  plumbline::v1::GetStatsResponse response;
  grpc::Status status = Call(g, &plumbline::v1::Query::Stub::GetStats, {}, &response);
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

std::string Percent(double ratio, int decimals = 3) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f%%", decimals, ratio * 100);
  return buf;
}

int Services(const Global& g) {
  plumbline::v1::ListServicesResponse response;
  grpc::Status status = Call(g, &plumbline::v1::Query::Stub::ListServices, {}, &response);
  if (!status.ok()) return Fail(status, g);
  if (g.json) {
    nlohmann::json out = {{"catalog", response.catalog_source()},
                          {"business_units", nlohmann::json::array()},
                          {"services", nlohmann::json::array()}};
    for (const auto& b : response.business_units()) {
      out["business_units"].push_back({{"id", b.id()}, {"name", b.name()}, {"owner", b.owner()}});
    }
    for (const auto& s : response.services()) {
      out["services"].push_back({{"id", s.id()},
                                 {"name", s.name()},
                                 {"business_unit", s.business_unit()},
                                 {"owner", s.owner()},
                                 {"tier", s.tier()},
                                 {"external", s.external()},
                                 {"revenue_per_hour", s.revenue_per_hour()},
                                 {"users", s.users()},
                                 {"depends_on", s.depends_on()},
                                 {"slos", s.slos()}});
    }
    out["maintenance"] = nlohmann::json::array();
    for (const auto& m : response.maintenance()) {
      out["maintenance"].push_back({{"id", m.id()},
                                    {"kind", m.kind()},
                                    {"services", m.services()},
                                    {"from", Rfc3339(m.from_ms())},
                                    {"to", Rfc3339(m.to_ms())},
                                    {"reason", m.reason()},
                                    {"by", m.by()},
                                    {"recorded", Rfc3339(m.recorded_ms())}});
    }
    std::cout << out.dump(2) << "\n";
    return kOk;
  }
  plumbline::cli::Table table(
      {"SERVICE", "NAME", "UNIT", "TIER", "REVENUE/H", "USERS", "DEPENDS ON", "SLOS"});
  for (const auto& s : response.services()) {
    std::string deps, slos;
    for (const auto& d : s.depends_on()) deps += (deps.empty() ? "" : ",") + d;
    for (const auto& o : s.slos()) slos += (slos.empty() ? "" : ",") + o;
    char revenue[32], users[32];
    std::snprintf(revenue, sizeof revenue, "%.0f", s.revenue_per_hour());
    std::snprintf(users, sizeof users, "%.0f", s.users());
    table.AddRow({s.id(), s.name(), s.external() ? "(external)" : s.business_unit(),
                  std::to_string(s.tier()), revenue, users, deps.empty() ? "-" : deps,
                  slos.empty() ? "-" : slos});
  }
  if (response.services_size() == 0 && !g.csv) {
    std::cout << "no catalog loaded (set `catalog:` in the collector config)\n";
    return kOk;
  }
  g.csv ? table.PrintCsv(std::cout) : table.PrintText(std::cout);
  return kOk;
}

int Slo(const Global& g, const std::string& service) {
  plumbline::v1::GetSloStatusRequest request;
  request.set_service(service);
  plumbline::v1::GetSloStatusResponse response;
  grpc::Status status = Call(g, &plumbline::v1::Query::Stub::GetSloStatus, request, &response);
  if (!status.ok()) return Fail(status, g);
  if (g.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : response.slos()) {
      nlohmann::json alerts = nlohmann::json::array();
      for (const auto& a : s.alerts()) {
        alerts.push_back({{"severity", a.severity()},
                          {"long_window_ms", a.long_window_ms()},
                          {"short_window_ms", a.short_window_ms()},
                          {"threshold", a.threshold()},
                          {"long_burn", a.long_burn()},
                          {"short_burn", a.short_burn()},
                          {"gated", a.gated()},
                          {"firing", a.firing()},
                          {"message", a.message()}});
      }
      out.push_back({{"service", s.service()},
                     {"slo", s.slo()},
                     {"sli", s.sli()},
                     {"target", s.target()},
                     {"from", Rfc3339(s.from_ms())},
                     {"to", Rfc3339(s.to_ms())},
                     {"has_data", s.has_data()},
                     {"good", s.good()},
                     {"valid", s.valid()},
                     {"attainment", s.attainment()},
                     {"budget_total", s.budget_total()},
                     {"budget_remaining", s.budget_remaining()},
                     {"budget_remaining_ratio", s.budget_remaining_ratio()},
                     {"budget_minutes_total", s.budget_minutes_total()},
                     {"budget_minutes_remaining", s.budget_minutes_remaining()},
                     {"burn_rate", s.burn_rate()},
                     {"hours_to_exhaustion", s.hours_to_exhaustion()},
                     {"breached", s.breached()},
                     {"alerts", alerts}});
    }
    std::cout << out.dump(2) << "\n";
    return kOk;
  }
  plumbline::cli::Table table(
      {"SERVICE", "SLO", "TARGET", "ATTAINED", "BUDGET LEFT", "MINUTES LEFT", "BURN", "STATUS"});
  std::vector<std::string> messages;
  for (const auto& s : response.slos()) {
    std::string state = !s.has_data() ? "no data" : s.breached() ? "BREACHED" : "ok";
    for (const auto& a : s.alerts()) {
      if (a.firing()) {
        state = a.severity() == "page" ? "PAGE" : "TICKET";
        messages.push_back(s.service() + "/" + s.slo() + ": " + a.message());
        break;
      }
    }
    char minutes[32], burn[32];
    std::snprintf(minutes, sizeof minutes, "%.1f", s.budget_minutes_remaining());
    std::snprintf(burn, sizeof burn, "%.2f", s.burn_rate());
    table.AddRow({s.service(), s.slo(), Percent(s.target()),
                  s.has_data() ? Percent(s.attainment()) : "-",
                  Percent(s.budget_remaining_ratio(), 1), minutes, burn, state});
  }
  if (g.csv) {
    table.PrintCsv(std::cout);
    return kOk;
  }
  table.PrintText(std::cout);
  for (const auto& m : messages) std::cout << "\n" << m;
  if (!messages.empty()) std::cout << "\n";
  return kOk;
}

int CatalogCheck(const Global& g, const std::string& file) {
  auto catalog = plumbline::collector::LoadCatalog(file);
  if (!catalog.ok()) {
    std::cerr << catalog.status().message() << "\n";
    return kServerError;
  }
  size_t slos = 0;
  for (const auto& s : catalog->services) slos += s.slos.size();
  if (g.json) {
    std::cout << nlohmann::json{{"file", file},
                                {"valid", true},
                                {"business_units", catalog->business_units.size()},
                                {"services", catalog->services.size()},
                                {"slos", slos}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << file << ": ok (" << catalog->business_units.size() << " business units, "
              << catalog->services.size() << " services, " << slos << " SLOs)\n";
  }
  return kOk;
}

// plumb catalog import-openslo FILE...: catalog YAML on stdout, dropped
// content as warnings on stderr.
int CatalogImportOpenSlo(const std::vector<std::string>& files, const std::string& business_unit) {
  std::vector<plumbline::collector::OpenSloFile> inputs;
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << file << ": cannot read\n";
      return kServerError;
    }
    std::ostringstream text;
    text << in.rdbuf();
    inputs.push_back({file, text.str()});
  }
  auto imported = plumbline::collector::ImportOpenSlo(inputs, {business_unit});
  if (!imported.ok()) {
    std::cerr << imported.status().message() << "\n";
    return kServerError;
  }
  for (const auto& w : imported->warnings) std::cerr << "warning: " << w << "\n";
  std::cout << imported->catalog_yaml;
  return kOk;
}

// plumb catalog export-openslo CATALOG: OpenSLO documents on stdout.
int CatalogExportOpenSlo(const std::string& file) {
  auto catalog = plumbline::collector::LoadCatalog(file);
  if (!catalog.ok()) {
    std::cerr << catalog.status().message() << "\n";
    return kServerError;
  }
  auto exported = plumbline::collector::ExportOpenSlo(*catalog);
  for (const auto& w : exported.warnings) std::cerr << "warning: " << w << "\n";
  std::cout << exported.yaml;
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
  app.add_option("--timeout", g.timeout_s, "seconds to wait for an answer")
      ->check(CLI::Range(0.1, 3600.0));
  if (const char* env = std::getenv("PLUMB_TOKEN")) g.token = env;
  app.add_option("--token", g.token,
                 "bearer token for the collector's query API (default $PLUMB_TOKEN)");
  if (const char* env = std::getenv("PLUMB_TLS_CA")) g.tls_ca = env;
  app.add_option("--tls-ca", g.tls_ca,
                 "connect with TLS, trusting this PEM CA bundle (default $PLUMB_TLS_CA)")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-server-name", g.tls_server_name,
                 "name expected in the collector's certificate (default: the host)");
  std::string token_file;
  app.add_option("--token-file", token_file, "read the bearer token from this file (first line)");
  auto* json = app.add_flag("--json", g.json, "print JSON instead of a table");
  app.add_flag("--csv", g.csv, "print CSV instead of a table")->excludes(json);

  int rc = kOk;
  app.add_subcommand("agents", "list agents with last-seen time and latest CPU and memory")
      ->callback([&] { rc = Agents(g); });
  app.add_subcommand("stats", "the collector's own counters (ingest, rejections, queries)")
      ->callback([&] { rc = Stats(g); });
  app.add_subcommand("services", "business units and services of the catalog in force")
      ->callback([&] { rc = Services(g); });
  std::string slo_service;
  auto* slo = app.add_subcommand(
      "slo", "SLO attainment, error budget, burn rate and firing alerts (all services or one)");
  slo->add_option("SERVICE", slo_service, "service id");
  slo->callback([&] { rc = Slo(g, slo_service); });
  plumbline::cli::AddValueCommands(app, g, &rc);
  auto* catalog = app.add_subcommand("catalog", "work with catalog files");
  catalog->require_subcommand(1);
  std::string catalog_file;
  auto* check = catalog->add_subcommand(
      "check", "validate a catalog file; exit 0 if valid, 1 with file:line: field: reason if not");
  check->add_option("FILE", catalog_file, "catalog YAML")->required();
  check->callback([&] { rc = CatalogCheck(g, catalog_file); });
  std::vector<std::string> openslo_files;
  std::string business_unit = "imported";
  auto* import_openslo = catalog->add_subcommand(
      "import-openslo", "convert OpenSLO v1 documents to a catalog (YAML on stdout)");
  import_openslo->add_option("FILE", openslo_files, "OpenSLO YAML files")->required();
  import_openslo->add_option("--business-unit", business_unit,
                             "business unit of imported services that name none");
  import_openslo->callback([&] { rc = CatalogImportOpenSlo(openslo_files, business_unit); });
  auto* export_openslo = catalog->add_subcommand(
      "export-openslo", "convert a catalog's services and SLOs to OpenSLO v1 (YAML on stdout)");
  export_openslo->add_option("CATALOG", catalog_file, "catalog YAML")->required();
  export_openslo->callback([&] { rc = CatalogExportOpenSlo(catalog_file); });
  std::string shell;
  auto* completion = app.add_subcommand(
      "completion", "print a shell completion script: source <(plumb completion bash)");
  completion
      ->add_option("SHELL", shell, "bash (zsh: run `autoload bashcompinit; bashcompinit` first)")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));
  completion->callback([&] { std::cout << plumbline::cli::BashCompletion(app, "plumb"); });
  app.footer(
      "Times: RFC 3339 (2026-11-27T08:00:00Z), now, or a duration ago (-2h, 2h, 90m, 7d).\n"
      "Exit codes: 0 success, 1 the collector answered with an error (unknown service, bad "
      "window, denied), 2 usage error, 3 collector unreachable or too slow.");
  // The token file is read before any command runs (callbacks run in parse).
  app.parse_complete_callback([&] {
    if (token_file.empty()) return;
    std::ifstream in(token_file);
    if (!in || !std::getline(in, g.token) || g.token.empty()) {
      throw CLI::ValidationError("--token-file", "cannot read a token from " + token_file);
    }
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kOk : kUsage;
  }
  return rc;
}
