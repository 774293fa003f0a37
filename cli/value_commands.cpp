#include "cli/value_commands.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/table.h"
#include "common/yaml_config.h"

namespace plumbline::cli {

namespace {

namespace v1 = plumbline::v1;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// "1234.50 EUR"; without a currency, the amount alone.
std::string Money(double amount, const std::string& currency) {
  return currency.empty() ? Fixed(amount, 2) : Fixed(amount, 2) + " " + currency;
}

std::string Minutes(double minutes) {
  if (minutes < 120) return Fixed(minutes, 0) + " min";
  return Fixed(minutes / 60, 1) + " h";
}

std::string Who(const std::string& given) {
  if (!given.empty()) return given;
  const char* user = std::getenv("USER");
  return user != nullptr && *user != '\0' ? user : "unknown";
}

std::string Join(const google::protobuf::RepeatedPtrField<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out += ",";
    out += s;
  }
  return out;
}

int Usage(const std::string& message) {
  std::cerr << "plumb: " << message << "\n";
  return kUsage;
}

// --- health ------------------------------------------------------------------

int Health(const Global& g, const std::string& service, bool explain) {
  v1::GetHealthRequest request;
  request.set_service(service);
  v1::GetHealthResponse response;
  grpc::Status status = Call(g, &v1::Query::Stub::GetHealth, request, &response);
  if (!status.ok()) return Fail(status, g);

  if (g.json) {
    nlohmann::json out = {{"at", Rfc3339(response.at_ms())},
                          {"window_ms", response.window_ms()},
                          {"services", nlohmann::json::array()}};
    for (const auto& h : response.services()) {
      nlohmann::json j = {
          {"service", h.service()},
          {"score", h.has_score() ? nlohmann::json(h.score()) : nlohmann::json()},
          {"status", h.status()},
          {"own_score", h.has_own_score() ? nlohmann::json(h.own_score()) : nlohmann::json()},
          {"explanation", h.explanation()},
          {"indicators", nlohmann::json::array()},
          {"dependencies", nlohmann::json::array()}};
      for (const auto& i : h.indicators()) {
        j["indicators"].push_back({{"slo", i.slo()},
                                   {"sli", i.sli()},
                                   {"importance", i.importance()},
                                   {"critical", i.critical()},
                                   {"has_data", i.has_data()},
                                   {"valid", i.valid()},
                                   {"burn_rate", i.burn_rate()},
                                   {"score", i.score()}});
      }
      for (const auto& d : h.dependencies()) {
        j["dependencies"].push_back(
            {{"service", d.service()},
             {"kind", d.hard() ? "hard" : "soft"},
             {"weight", d.weight()},
             {"health", d.has_health() ? nlohmann::json(d.health()) : nlohmann::json()},
             {"effect", d.effect()}});
      }
      out["services"].push_back(std::move(j));
    }
    std::cout << out.dump(2) << "\n";
    return kOk;
  }
  Table table({"SERVICE", "HEALTH", "STATUS", "OWN", "INDICATORS", "DEPENDENCIES"});
  for (const auto& h : response.services()) {
    std::string indicators, deps;
    for (const auto& i : h.indicators()) {
      if (!indicators.empty()) indicators += " ";
      indicators += i.slo() + "=" + (i.has_data() ? Fixed(i.score(), 0) : "-");
    }
    for (const auto& d : h.dependencies()) {
      if (!deps.empty()) deps += " ";
      deps += d.service() + "=" + (d.has_health() ? Fixed(d.health(), 0) : "-");
    }
    table.AddRow({h.service(), h.has_score() ? Fixed(h.score(), 1) : "-", h.status(),
                  h.has_own_score() ? Fixed(h.own_score(), 1) : "-", indicators, deps});
  }
  if (g.csv) {
    table.PrintCsv(std::cout);
    return kOk;
  }
  table.PrintText(std::cout);
  if (explain) {
    for (const auto& h : response.services())
      std::cout << "\n" << h.service() << ": " << h.explanation() << "\n";
  }
  return kOk;
}

// --- incidents ---------------------------------------------------------------

nlohmann::json IncidentJson(const v1::Incident& inc) {
  nlohmann::json j = {{"id", inc.id()},
                      {"title", inc.title()},
                      {"kind", inc.declared() ? "declared" : "detected"},
                      {"open", inc.open()},
                      {"from", Rfc3339(inc.from_ms())},
                      {"to", Rfc3339(inc.to_ms())},
                      {"from_ms", inc.from_ms()},
                      {"to_ms", inc.to_ms()},
                      {"detected_services", inc.detected_services()},
                      {"affected_services", inc.affected_services()},
                      {"breaches", nlohmann::json::array()},
                      {"notes", nlohmann::json::array()}};
  if (inc.declared()) {
    j["declared_by"] = inc.declared_by();
    j["declared_at"] = Rfc3339(inc.declared_ms());
  }
  for (const auto& b : inc.breaches()) {
    j["breaches"].push_back({{"service", b.service()},
                             {"slo", b.slo()},
                             {"from", Rfc3339(b.from_ms())},
                             {"to", Rfc3339(b.to_ms())},
                             {"breaching_minutes", b.breaching_minutes()},
                             {"worst_ratio", b.worst_ratio()}});
  }
  for (const auto& n : inc.notes()) {
    j["notes"].push_back({{"at", Rfc3339(n.at_ms())}, {"author", n.author()}, {"text", n.text()}});
  }
  return j;
}

int Incidents(const Global& g, const std::string& from_text, const std::string& to_text) {
  const int64_t now = NowMs();
  int64_t from = 0, to = 0;
  if (!ParseWhen(from_text, now, &from))
    return Usage("--since: expected RFC 3339 time or a duration like 7d");
  if (!to_text.empty() && !ParseWhen(to_text, now, &to))
    return Usage("--until: expected RFC 3339 time or a duration");
  v1::ListIncidentsRequest request;
  request.set_from_ms(from);
  request.set_to_ms(to);
  v1::ListIncidentsResponse response;
  grpc::Status status = Call(g, &v1::Query::Stub::ListIncidents, request, &response);
  if (!status.ok()) return Fail(status, g);
  if (g.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& inc : response.incidents()) out.push_back(IncidentJson(inc));
    std::cout << out.dump(2) << "\n";
    return kOk;
  }
  Table table({"ID", "KIND", "STATE", "START", "DURATION", "DETECTED ON", "AFFECTED", "TITLE"});
  for (const auto& inc : response.incidents()) {
    table.AddRow({inc.id(), inc.declared() ? "declared" : "detected",
                  inc.open() ? "open" : "closed", Rfc3339(inc.from_ms()),
                  Minutes(static_cast<double>(inc.to_ms() - inc.from_ms()) / 60000),
                  Join(inc.detected_services()), Join(inc.affected_services()), inc.title()});
  }
  if (g.csv) {
    table.PrintCsv(std::cout);
  } else {
    table.PrintText(std::cout);
    for (const auto& inc : response.incidents()) {
      for (const auto& n : inc.notes()) {
        std::cout << inc.id() << " " << Rfc3339(n.at_ms()) << " " << n.author() << ": " << n.text()
                  << "\n";
      }
    }
  }
  return kOk;
}

struct DeclareArgs {
  std::string id, title, from, to, by;
  std::vector<std::string> services;
};

int Declare(const Global& g, const DeclareArgs& a) {
  const int64_t now = NowMs();
  v1::DeclareIncidentRequest request;
  int64_t from = 0, to = 0;
  if (!ParseWhen(a.from, now, &from))
    return Usage("--from: expected RFC 3339 time or a duration like 30m");
  if (!a.to.empty() && !ParseWhen(a.to, now, &to))
    return Usage("--to: expected RFC 3339 time or a duration");
  request.set_id(a.id);
  request.set_title(a.title);
  request.set_from_ms(from);
  request.set_to_ms(to);
  for (const std::string& s : a.services) request.add_services(s);
  request.set_declared_by(Who(a.by));
  v1::DeclareIncidentResponse response;
  grpc::Status status = Call(g, &v1::Query::Stub::DeclareIncident, request, &response);
  if (!status.ok()) return Fail(status, g);
  if (g.json) {
    std::cout << IncidentJson(response.incident()).dump(2) << "\n";
  } else {
    std::cout << response.incident().id() << "\n";
  }
  return kOk;
}

int Note(const Global& g, const std::string& id, const std::string& text, const std::string& by) {
  v1::AnnotateIncidentRequest request;
  request.set_incident_id(id);
  request.set_text(text);
  request.set_author(Who(by));
  v1::AnnotateIncidentResponse response;
  grpc::Status status = Call(g, &v1::Query::Stub::AnnotateIncident, request, &response);
  if (!status.ok()) return Fail(status, g);
  if (g.json) {
    std::cout << nlohmann::json{{"incident", id},
                                {"at", Rfc3339(response.note().at_ms())},
                                {"author", response.note().author()}}
                     .dump(2)
              << "\n";
  }
  return kOk;
}

int Close(const Global& g, const std::string& id, const std::string& at_text,
          const std::string& reason, const std::string& by) {
  v1::CloseIncidentRequest request;
  request.set_id(id);
  request.set_closed_by(Who(by));
  request.set_reason(reason);
  if (!at_text.empty()) {
    int64_t at = 0;
    if (!ParseWhen(at_text, NowMs(), &at))
      return Usage("--at: expected RFC 3339 time or a duration ago like -10m");
    request.set_at_ms(at);
  }
  v1::CloseIncidentResponse response;
  grpc::Status status = Call(g, &v1::Query::Stub::CloseIncident, request, &response);
  if (!status.ok()) return Fail(status, g);
  if (g.json) {
    std::cout << IncidentJson(response.incident()).dump(2) << "\n";
  } else {
    std::cout << id << " closed, ended " << Rfc3339(response.incident().to_ms()) << "\n";
  }
  return kOk;
}

// An incident with its breaches, notes (the timeline) and business impact.
int Show(const Global& g, const std::string& id) {
  v1::GetIncidentRequest request;
  request.set_id(id);
  v1::GetIncidentResponse response;
  grpc::Status status = Call(g, &v1::Query::Stub::GetIncident, request, &response);
  if (!status.ok()) return Fail(status, g);
  v1::GetImpactRequest impact_request;
  impact_request.set_incident_id(id);
  v1::GetImpactResponse impact;
  status = Call(g, &v1::Query::Stub::GetImpact, impact_request, &impact);
  if (!status.ok()) return Fail(status, g);
  const v1::Incident& inc = response.incident();
  if (g.json) {
    nlohmann::json out = IncidentJson(inc);
    out["impact"] = {{"revenue_at_risk", impact.revenue_at_risk()},
                     {"currency", impact.currency()},
                     {"failed_requests", impact.failed_requests()},
                     {"users_affected", impact.users_affected()}};
    std::cout << out.dump(2) << "\n";
    return kOk;
  }
  // The timeline: start, breaches, notes, end, in time order.
  std::vector<std::pair<int64_t, std::string>> events;
  events.emplace_back(
      inc.from_ms(),
      "started" + std::string(inc.declared() ? " (declared by " + inc.declared_by() + ")" : ""));
  for (const auto& b : inc.breaches()) {
    events.emplace_back(b.from_ms(),
                        "SLO " + b.service() + "/" + b.slo() + " breaching until " +
                            Rfc3339(b.to_ms()) + " (" + std::to_string(b.breaching_minutes()) +
                            " bad minutes, worst ratio " + Fixed(b.worst_ratio(), 4) + ")");
  }
  for (const auto& n : inc.notes()) events.emplace_back(n.at_ms(), n.author() + ": " + n.text());
  if (!inc.open()) events.emplace_back(inc.to_ms(), "ended");
  std::stable_sort(events.begin(), events.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  if (g.csv) {
    Table table({"AT", "EVENT"});
    for (const auto& [at, text] : events) table.AddRow({Rfc3339(at), text});
    table.PrintCsv(std::cout);
    return kOk;
  }
  std::cout << inc.id() << ": " << inc.title() << "\n"
            << (inc.declared() ? "declared" : "detected") << ", "
            << (inc.open() ? "open" : "closed") << ", " << Rfc3339(inc.from_ms()) << " .. "
            << (inc.open() ? "now" : Rfc3339(inc.to_ms())) << " ("
            << Minutes(static_cast<double>(inc.to_ms() - inc.from_ms()) / 60000) << ")\n"
            << "detected on: " << Join(inc.detected_services())
            << "\naffected: " << Join(inc.affected_services()) << "\n"
            << "impact: revenue at risk " << Money(impact.revenue_at_risk(), impact.currency())
            << ", failed requests " << Fixed(impact.failed_requests(), 0) << ", users affected "
            << Fixed(impact.users_affected(), 0) << " (plumb impact " << inc.id()
            << " for the detail)\n\n";
  Table table({"AT", "EVENT"});
  for (const auto& [at, text] : events) table.AddRow({Rfc3339(at), text});
  table.PrintText(std::cout);
  return kOk;
}

// --- impact ------------------------------------------------------------------

int Impact(const Global& g, const std::string& incident, const std::string& from_text,
           const std::string& to_text, const std::vector<std::string>& services,
           const std::string& unit) {
  const int64_t now = NowMs();
  v1::GetImpactRequest request;
  request.set_business_unit(unit);
  for (const std::string& s : services) request.add_services(s);
  if (!incident.empty()) {
    if (!from_text.empty() || !to_text.empty()) {
      return Usage("give an incident id or a window (--from, --to), not both");
    }
    request.set_incident_id(incident);
  } else {
    int64_t from = 0, to = 0;
    if (from_text.empty()) return Usage("give an incident id or --from");
    if (!ParseWhen(from_text, now, &from))
      return Usage("--from: expected RFC 3339 time or a duration like 2h");
    if (!to_text.empty() && !ParseWhen(to_text, now, &to))
      return Usage("--to: expected RFC 3339 time or a duration");
    request.set_from_ms(from);
    request.set_to_ms(to);
  }
  v1::GetImpactResponse r;
  grpc::Status status = Call(g, &v1::Query::Stub::GetImpact, request, &r);
  if (!status.ok()) return Fail(status, g);

  if (g.json) {
    nlohmann::json out = {{"incident", r.incident_id()},
                          {"from", Rfc3339(r.from_ms())},
                          {"to", Rfc3339(r.to_ms())},
                          {"revenue_at_risk", r.revenue_at_risk()},
                          {"currency", r.currency()},
                          {"failed_requests", r.failed_requests()},
                          {"users_affected", r.users_affected()},
                          {"services", nlohmann::json::array()},
                          {"business_units", nlohmann::json::array()}};
    for (const auto& x : r.services()) {
      nlohmann::json j = {{"service", x.service()},
                          {"name", x.name()},
                          {"business_unit", x.business_unit()},
                          {"propagated_only", x.propagated_only()},
                          {"via", x.via()},
                          {"window_minutes", x.window_minutes()},
                          {"degraded_minutes", x.degraded_minutes()},
                          {"failed_share", x.failed_share()},
                          {"requests", x.requests()},
                          {"failed_requests", x.failed_requests()},
                          {"failed_requests_propagated", x.failed_requests_propagated()},
                          {"users_affected", x.users_affected()},
                          {"revenue_at_risk", x.revenue_at_risk()},
                          {"revenue_at_risk_propagated", x.revenue_at_risk_propagated()},
                          {"slos", nlohmann::json::array()}};
      for (const auto& s : x.slos()) {
        j["slos"].push_back({{"slo", s.slo()},
                             {"bad", s.bad()},
                             {"budget_burned", s.budget_burned()},
                             {"budget_burned_minutes", s.budget_burned_minutes()},
                             {"attainment", s.attainment()},
                             {"target", s.target()},
                             {"sla_breached", s.sla_breached()}});
      }
      out["services"].push_back(std::move(j));
    }
    for (const auto& u : r.business_units()) {
      out["business_units"].push_back(
          {{"business_unit", u.business_unit()},
           {"failed_requests", u.failed_requests()},
           {"users_affected", u.users_affected()},
           {"revenue_at_risk", u.revenue_at_risk()},
           {"revenue_at_risk_propagated", u.revenue_at_risk_propagated()},
           {"degraded_minutes", u.degraded_minutes()},
           {"services", u.services()}});
    }
    std::cout << out.dump(2) << "\n";
    return kOk;
  }

  const std::string revenue_head =
      r.currency().empty() ? "REVENUE AT RISK" : "REVENUE AT RISK (" + r.currency() + ")";
  Table table({"SERVICE", "UNIT", "DEGRADED", "FAILED REQUESTS", "USERS", revenue_head,
               "OF WHICH VIA DEPS", "BUDGET BURNED", "SLA"});
  for (const auto& x : r.services()) {
    std::string budget = "-", sla = "-";
    for (const auto& s : x.slos()) {
      budget = (budget == "-" ? "" : budget + " ") + s.slo() + "=" +
               Fixed(s.budget_burned() * 100, 1) + "%";
      if (s.sla_breached()) {
        sla = "breached";
      } else if (sla == "-") {
        sla = "met";
      }
    }
    table.AddRow({x.service() + (x.propagated_only() ? " (via " + x.via() + ")" : ""),
                  x.business_unit().empty() ? "(external)" : x.business_unit(),
                  Minutes(x.degraded_minutes()), Fixed(x.failed_requests(), 0),
                  Fixed(x.users_affected(), 0), Fixed(x.revenue_at_risk(), 2),
                  Fixed(x.revenue_at_risk_propagated(), 2), budget, sla});
  }
  if (g.csv) {
    table.PrintCsv(std::cout);
    return kOk;
  }
  std::cout << (r.incident_id().empty() ? "window" : "incident " + r.incident_id()) << ": "
            << Rfc3339(r.from_ms()) << " .. " << Rfc3339(r.to_ms()) << "\n"
            << "revenue at risk " << Money(r.revenue_at_risk(), r.currency())
            << ", failed requests " << Fixed(r.failed_requests(), 0) << ", users affected "
            << Fixed(r.users_affected(), 0) << "\n\n";
  table.PrintText(std::cout);
  Table units(
      {"BUSINESS UNIT", "SERVICES", "FAILED REQUESTS", "USERS", revenue_head, "OF WHICH VIA DEPS"});
  for (const auto& u : r.business_units()) {
    units.AddRow({u.business_unit().empty() ? "(external)" : u.business_unit(),
                  std::to_string(u.services()), Fixed(u.failed_requests(), 0),
                  Fixed(u.users_affected(), 0), Fixed(u.revenue_at_risk(), 2),
                  Fixed(u.revenue_at_risk_propagated(), 2)});
  }
  std::cout << "\n";
  units.PrintText(std::cout);
  return kOk;
}

// --- chargeback --------------------------------------------------------------

// One business unit's showback statement: its cost, budget and forecast,
// its services and every line charged to it.
int Statement(const v1::GetChargebackResponse& r, const std::string& unit) {
  const v1::BusinessUnitCostLine* u = nullptr;
  for (const auto& x : r.business_units()) {
    if (x.business_unit() == unit) u = &x;
  }
  if (u == nullptr) {
    std::cerr << "plumb: no cost for business unit \"" << unit << "\" in this period\n";
    return kServerError;
  }
  std::cout << "showback statement: " << unit << ", " << Rfc3339(r.from_ms()) << " .. "
            << Rfc3339(r.to_ms()) << " (" << r.currency() << ")\ncost " << u->cost() << "\n";
  if (u->has_cost_per_1000()) {
    std::cout << "cost per 1,000 transactions " << Fixed(u->cost_per_1000_transactions(), 4) << " ("
              << Fixed(u->transactions(), 0) << " transactions)\n";
  }
  if (u->has_change()) {
    std::cout << "month over month " << Fixed(u->change_percent(), 1) << "% (was "
              << Fixed(u->previous_cost(), 2) << ")\n";
  }
  if (u->has_budget()) {
    std::cout << "budget " << Fixed(u->budget(), 2) << ", spent " << Fixed(u->spend_to_date(), 2)
              << ", projected " << Fixed(u->projected(), 2)
              << (u->budget_alert() ? " -- " + u->budget_message() : "") << "\n";
  }
  if (u->forecast_backtests() > 0) {
    std::cout << "forecast error on earlier months: mean "
              << Fixed(u->forecast_mean_absolute_percent_error(), 1) << "%, worst "
              << Fixed(u->forecast_max_absolute_percent_error(), 1) << "% ("
              << u->forecast_backtests() << " backtests)\n";
  }
  std::cout << "\n";
  Table services({"SERVICE", "COST", "TRANSACTIONS", "PER 1000", "VALUE/COST", "MoM"});
  for (const auto& x : r.services()) {
    if (x.business_unit() != unit) continue;
    services.AddRow({x.service(), x.cost(), Fixed(x.transactions(), 0),
                     x.has_cost_per_1000() ? Fixed(x.cost_per_1000_transactions(), 4) : "-",
                     x.has_value_per_cost() ? Fixed(x.value_per_cost(), 1) : "-",
                     x.has_change() ? Fixed(x.change_percent(), 1) + "%" : "-"});
  }
  services.PrintText(std::cout);
  std::cout << "\n";
  Table lines({"SERVICE", "HOST", "CHARGE", "RESOURCE", "QUANTITY", "UNIT", "COST", "ALLOCATION"});
  for (const auto& l : r.lines()) {
    if (l.business_unit() != unit) continue;
    lines.AddRow({l.service(), l.host(), l.category(), l.resource(), Fixed(l.quantity(), 4),
                  l.unit(), l.cost(), l.allocation_method()});
  }
  lines.PrintText(std::cout);
  return kOk;
}

int Chargeback(const Global& g, const std::string& month, const std::string& from_text,
               const std::string& to_text, const std::string& unit) {
  const int64_t now = NowMs();
  v1::GetChargebackRequest request;
  if (!month.empty()) {
    if (!from_text.empty() || !to_text.empty())
      return Usage("give --month or --from/--to, not both");
    request.set_month(month);
  } else {
    int64_t from = 0, to = 0;
    if (from_text.empty()) return Usage("give --month YYYY-MM or --from");
    if (!ParseWhen(from_text, now, &from))
      return Usage("--from: expected RFC 3339 time or a duration like 7d");
    if (!to_text.empty() && !ParseWhen(to_text, now, &to))
      return Usage("--to: expected RFC 3339 time or a duration");
    request.set_from_ms(from);
    request.set_to_ms(to);
  }
  request.set_focus_csv(g.csv);
  v1::GetChargebackResponse r;
  grpc::Status status = Call(g, &v1::Query::Stub::GetChargeback, request, &r);
  if (!status.ok()) return Fail(status, g);
  if (!unit.empty() && !g.json && !g.csv) return Statement(r, unit);
  if (g.csv) {  // FOCUS-style, for finance
    std::cout << r.focus_csv();
    return kOk;
  }
  if (g.json) {
    google::protobuf::util::JsonPrintOptions options;
    options.always_print_primitive_fields = true;
    options.preserve_proto_field_names = true;
    options.add_whitespace = true;
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(r, &json, options);
    std::cout << json;
    return kOk;
  }
  std::cout << "chargeback " << Rfc3339(r.from_ms()) << " .. " << Rfc3339(r.to_ms()) << " ("
            << r.currency() << ")\ntotal " << r.total() << " = allocated " << r.allocated()
            << " + idle " << r.idle() << " + unallocated " << r.unallocated() << "\n\n";
  Table units({"BUSINESS UNIT", "COST", "TRANSACTIONS", "PER 1000", "MoM", "BUDGET", "PROJECTED",
               "FORECAST ERR", "ALERT"});
  for (const auto& u : r.business_units()) {
    units.AddRow({u.business_unit(), u.cost(), Fixed(u.transactions(), 0),
                  u.has_cost_per_1000() ? Fixed(u.cost_per_1000_transactions(), 4) : "-",
                  u.has_change() ? Fixed(u.change_percent(), 1) + "%" : "-",
                  u.has_budget() ? Fixed(u.budget(), 2) : "-",
                  u.has_budget() ? Fixed(u.projected(), 2) : "-",
                  u.forecast_backtests() > 0
                      ? Fixed(u.forecast_mean_absolute_percent_error(), 1) + "%"
                      : "-",
                  u.budget_alert() ? u.budget_message() : "-"});
  }
  units.PrintText(std::cout);
  std::cout << "\n";
  Table services({"SERVICE", "UNIT", "COST", "TRANSACTIONS", "PER 1000", "VALUE/COST", "MoM"});
  for (const auto& x : r.services()) {
    services.AddRow({x.service(), x.business_unit().empty() ? "-" : x.business_unit(), x.cost(),
                     Fixed(x.transactions(), 0),
                     x.has_cost_per_1000() ? Fixed(x.cost_per_1000_transactions(), 4) : "-",
                     x.has_value_per_cost() ? Fixed(x.value_per_cost(), 1) : "-",
                     x.has_change() ? Fixed(x.change_percent(), 1) + "%" : "-"});
  }
  services.PrintText(std::cout);
  std::cout << "\n";
  Table hosts({"HOST", "CLASS", "HOURS", "CORES", "CORE-H USED", "IDLE CORE-H", "COST", ""});
  for (const auto& h : r.hosts()) {
    hosts.AddRow({h.host(), h.host_class().empty() ? "-" : h.host_class(), Fixed(h.hours(), 2),
                  Fixed(h.cpu_cores(), 0), Fixed(h.core_hours_used(), 3),
                  Fixed(h.idle_core_hours(), 3), h.cost(), h.unallocated() ? "unallocated" : ""});
  }
  hosts.PrintText(std::cout);
  if (r.suppliers_size() > 0) {
    std::cout << "\n";
    Table suppliers({"SUPPLIER", "ATTAINMENT", "SLA", "BREACHED", "CREDIT OWED"});
    for (const auto& x : r.suppliers()) {
      suppliers.AddRow({x.service(), Fixed(x.attainment() * 100, 3) + "%",
                        Fixed(x.sla_percent(), 3) + "%", x.breached() ? "yes" : "no",
                        Fixed(x.credit(), 2)});
    }
    suppliers.PrintText(std::cout);
  }
  return kOk;
}

// Cost budgets of the business units for a month: spent, projected, alert.
int Budget(const Global& g, const std::string& month) {
  v1::GetChargebackRequest request;
  if (month.empty()) {
    request.set_month(absl::FormatTime("%Y-%m", absl::Now(), absl::UTCTimeZone()));
  } else {
    request.set_month(month);
  }
  v1::GetChargebackResponse r;
  grpc::Status status = Call(g, &v1::Query::Stub::GetChargeback, request, &r);
  if (!status.ok()) return Fail(status, g);
  if (g.json) {
    nlohmann::json out = {{"month", request.month()},
                          {"currency", r.currency()},
                          {"business_units", nlohmann::json::array()}};
    for (const auto& u : r.business_units()) {
      out["business_units"].push_back(
          {{"business_unit", u.business_unit()},
           {"cost", u.cost()},
           {"budget", u.has_budget() ? nlohmann::json(u.budget()) : nlohmann::json()},
           {"spend_to_date", u.spend_to_date()},
           {"projected", u.projected()},
           {"budget_alert", u.budget_alert()},
           {"message", u.budget_message()},
           {"forecast_mean_absolute_percent_error",
            u.forecast_backtests() > 0 ? nlohmann::json(u.forecast_mean_absolute_percent_error())
                                       : nlohmann::json()}});
    }
    std::cout << out.dump(2) << "\n";
    return kOk;
  }
  Table table({"BUSINESS UNIT", "BUDGET", "SPENT", "PROJECTED", "USED", "FORECAST ERR", "STATUS"});
  int alerts = 0;
  for (const auto& u : r.business_units()) {
    alerts += u.budget_alert() ? 1 : 0;
    table.AddRow(
        {u.business_unit(), u.has_budget() ? Fixed(u.budget(), 2) : "-",
         Fixed(u.spend_to_date(), 2), Fixed(u.projected(), 2),
         u.has_budget() && u.budget() > 0 ? Fixed(u.projected() / u.budget() * 100, 1) + "%" : "-",
         u.forecast_backtests() > 0 ? Fixed(u.forecast_mean_absolute_percent_error(), 1) + "%"
                                    : "-",
         !u.has_budget()    ? "no budget"
         : u.budget_alert() ? u.budget_message()
                            : "within budget"});
  }
  if (g.csv) {
    table.PrintCsv(std::cout);
    return kOk;
  }
  std::cout << "budgets " << request.month() << " (" << r.currency() << "), "
            << r.business_units_size() << " business units, " << alerts << " over budget\n\n";
  table.PrintText(std::cout);
  return kOk;
}

// --- report ------------------------------------------------------------------

// One kind's SLOs in a table cell: "99.950% / 99.900%", MISSED when below
// target, "no data" without any; several SLOs of the kind side by side.
std::string Objectives(const v1::ServiceReportRow& x, const std::string& kind) {
  std::string out;
  for (const auto& o : x.objectives()) {
    if (o.kind() != kind) continue;
    if (!out.empty()) out += ", ";
    if (!o.has_data()) {
      out += "no data / " + Fixed(o.target() * 100, 3) + "%";
      continue;
    }
    out += Fixed(o.attainment() * 100, 3) + "% / " + Fixed(o.target() * 100, 3) + "%" +
           (o.met() ? "" : " MISSED");
  }
  return out.empty() ? "-" : out;
}

int Report(const Global& g, const std::string& month, const std::string& from_text,
           const std::string& to_text, const std::string& unit) {
  const int64_t now = NowMs();
  v1::GetServiceReportRequest request;
  request.set_business_unit(unit);
  if (!month.empty()) {
    if (!from_text.empty() || !to_text.empty())
      return Usage("give --month or --from/--to, not both");
    request.set_month(month);
  } else {
    int64_t from = 0, to = 0;  // from 0: the collector takes the 30 days before to
    if (!from_text.empty() && !ParseWhen(from_text, now, &from))
      return Usage("--from: expected RFC 3339 time or a duration like 30d");
    if (!to_text.empty() && !ParseWhen(to_text, now, &to))
      return Usage("--to: expected RFC 3339 time or a duration");
    request.set_from_ms(from);
    request.set_to_ms(to);
  }
  v1::GetServiceReportResponse r;
  grpc::Status status = Call(g, &v1::Query::Stub::GetServiceReport, request, &r);
  if (!status.ok()) return Fail(status, g);
  if (g.json) {
    nlohmann::json out = {{"from", Rfc3339(r.from_ms())},
                          {"to", Rfc3339(r.to_ms())},
                          {"from_ms", r.from_ms()},
                          {"to_ms", r.to_ms()},
                          {"currency", r.currency()},
                          {"has_cost", r.has_cost()},
                          {"note", r.note()},
                          {"services", nlohmann::json::array()}};
    for (const auto& x : r.services()) {
      nlohmann::json j = {
          {"service", x.service()},
          {"name", x.name()},
          {"business_unit", x.business_unit()},
          {"requests", x.requests()},
          {"objectives", nlohmann::json::array()},
          {"cents", x.has_cost() ? nlohmann::json(x.cents()) : nlohmann::json()},
          {"cost", x.has_cost() ? nlohmann::json(x.cost()) : nlohmann::json()},
          {"cost_per_1000_requests",
           x.has_cost_per_1000() ? nlohmann::json(x.cost_per_1000_requests()) : nlohmann::json()},
          {"revenue", x.has_revenue() ? nlohmann::json(x.revenue()) : nlohmann::json()}};
      for (const auto& o : x.objectives()) {
        j["objectives"].push_back({{"slo", o.slo()},
                                   {"sli", o.sli()},
                                   {"kind", o.kind()},
                                   {"has_data", o.has_data()},
                                   {"good", o.good()},
                                   {"valid", o.valid()},
                                   {"attainment", o.attainment()},
                                   {"target", o.target()},
                                   {"met", o.met()}});
      }
      out["services"].push_back(std::move(j));
    }
    std::cout << out.dump(2) << "\n";
    return kOk;
  }
  const std::string cost_head = r.currency().empty() ? "COST" : "COST (" + r.currency() + ")";
  Table table({"SERVICE", "UNIT", "REQUESTS", "AVAILABILITY / TARGET", "LATENCY / TARGET",
               cost_head, "PER 1000 REQ"});
  for (const auto& x : r.services()) {
    table.AddRow({x.service(), x.business_unit().empty() ? "(external)" : x.business_unit(),
                  Fixed(x.requests(), 0), Objectives(x, "availability"), Objectives(x, "latency"),
                  x.has_cost() ? x.cost() : "-",
                  x.has_cost_per_1000() ? Fixed(x.cost_per_1000_requests(), 4) : "-"});
  }
  if (g.csv) {
    table.PrintCsv(std::cout);
    return kOk;
  }
  std::cout << "service report " << Rfc3339(r.from_ms()) << " .. " << Rfc3339(r.to_ms())
            << (unit.empty() ? "" : ", business unit " + unit) << "\n";
  if (!r.note().empty()) std::cout << "note: " << r.note() << "\n";
  std::cout << "\n";
  table.PrintText(std::cout);
  return kOk;
}

// --- maturity ----------------------------------------------------------------

int Maturity(const Global& g, const std::string& window) {
  v1::GetMaturityRequest request;
  if (!window.empty()) {
    auto d = plumbline::ParseDuration(window);
    if (!d.ok()) return Usage("--window: expected a duration like 7d");
    request.set_window_ms(d->count());
  }
  v1::GetMaturityResponse r;
  grpc::Status status = Call(g, &v1::Query::Stub::GetMaturity, request, &r);
  if (!status.ok()) return Fail(status, g);
  if (g.json) {
    nlohmann::json out = {{"window_ms", r.window_ms()},
                          {"mean_level", r.mean_level()},
                          {"share_measurable", r.share_measurable()},
                          {"services_per_level", r.services_per_level()},
                          {"services", nlohmann::json::array()}};
    for (const auto& m : r.services()) {
      out["services"].push_back({{"service", m.service()},
                                 {"business_unit", m.business_unit()},
                                 {"level", m.level()},
                                 {"component_data", m.component_data()},
                                 {"slo_defined", m.slo_defined()},
                                 {"usage_measured", m.usage_measured()},
                                 {"cost_mapped", m.cost_mapped()},
                                 {"completeness", m.completeness()},
                                 {"next_step", m.next_step()}});
    }
    std::cout << out.dump(2) << "\n";
    return kOk;
  }
  Table table(
      {"SERVICE", "UNIT", "LEVEL", "DATA", "SLO", "USAGE", "COST", "COMPLETE", "NEXT STEP"});
  auto yes = [](bool b) { return std::string(b ? "yes" : "no"); };
  for (const auto& m : r.services()) {
    table.AddRow({m.service(), m.business_unit().empty() ? "-" : m.business_unit(),
                  std::to_string(m.level()), yes(m.component_data()), yes(m.slo_defined()),
                  yes(m.usage_measured()), yes(m.cost_mapped()),
                  Fixed(m.completeness() * 100, 1) + "%",
                  m.next_step().empty() ? "-" : m.next_step()});
  }
  if (g.csv) {
    table.PrintCsv(std::cout);
    return kOk;
  }
  table.PrintText(std::cout);
  std::cout << "\nfleet: " << r.services_size() << " services, mean level "
            << Fixed(r.mean_level(), 1) << ", " << Fixed(r.share_measurable() * 100, 0)
            << "% measurable (level 3+); per level 0-5:";
  for (int n : r.services_per_level()) std::cout << " " << n;
  std::cout << "\n";
  return kOk;
}

// --- capacity ----------------------------------------------------------------

int Capacity(const Global& g, const std::string& lookback) {
  v1::GetCapacityRequest request;
  if (!lookback.empty()) {
    auto d = plumbline::ParseDuration(lookback);
    if (!d.ok()) return Usage("--lookback: expected a duration like 7d");
    request.set_lookback_ms(d->count());
  }
  v1::GetCapacityResponse r;
  grpc::Status status = Call(g, &v1::Query::Stub::GetCapacity, request, &r);
  if (!status.ok()) return Fail(status, g);
  if (g.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& f : r.forecasts()) {
      out.push_back({{"host", f.host()},
                     {"resource", f.resource()},
                     {"target", f.target()},
                     {"current", f.current()},
                     {"capacity", f.capacity()},
                     {"used_ratio", f.used_ratio()},
                     {"growth_per_day", f.growth_per_day()},
                     {"days_to_full",
                      f.has_days_to_full() ? nlohmann::json(f.days_to_full()) : nlohmann::json()},
                     {"r2", f.r2()},
                     {"points", f.points()},
                     {"message", f.message()}});
    }
    std::cout << out.dump(2) << "\n";
    return kOk;
  }
  Table table({"HOST", "RESOURCE", "TARGET", "USED", "DAYS TO FULL", "FIT R2", "SAYS"});
  for (const auto& f : r.forecasts()) {
    table.AddRow({f.host(), f.resource(), f.target().empty() ? "-" : f.target(),
                  Fixed(f.used_ratio() * 100, 1) + "%",
                  f.has_days_to_full() ? Fixed(f.days_to_full(), 1) : "-", Fixed(f.r2(), 2),
                  f.message()});
  }
  g.csv ? table.PrintCsv(std::cout) : table.PrintText(std::cout);
  return kOk;
}

}  // namespace

void AddValueCommands(CLI::App& app, const Global& g, int* rc) {
  auto capacity_lookback = std::make_shared<std::string>();
  auto* capacity = app.add_subcommand(
      "capacity", "days until filesystems fill and hosts' CPU or memory saturate, from the trend");
  capacity->add_option("--lookback", *capacity_lookback, "trend window (default 7d, at most 35d)");
  capacity->callback([=, &g] { *rc = Capacity(g, *capacity_lookback); });

  auto maturity_window = std::make_shared<std::string>();
  auto* maturity = app.add_subcommand(
      "maturity",
      "how well each service is instrumented (levels 0-5) and what the next level needs");
  maturity->add_option("--window", *maturity_window,
                       "how far back to look (default 7d, at most 35d)");
  maturity->callback([=, &g] { *rc = Maturity(g, *maturity_window); });

  auto cb_month = std::make_shared<std::string>();
  auto cb_from = std::make_shared<std::string>();
  auto cb_to = std::make_shared<std::string>();
  auto cb_unit = std::make_shared<std::string>();
  auto* chargeback =
      app.add_subcommand("chargeback",
                         "what each service and business unit's measured IT usage cost, by the "
                         "catalog's rate card; --csv prints the FOCUS-style export for finance");
  chargeback->add_option("--month", *cb_month,
                         "calendar month YYYY-MM (with budgets, forecasts, "
                         "supplier credits)");
  chargeback->add_option("--from", *cb_from, "window start: RFC 3339 time or a duration ago");
  chargeback->add_option("--to", *cb_to, "window end (default now)");
  chargeback->add_option("--unit", *cb_unit, "print the showback statement of this business unit");
  chargeback->callback([=, &g] { *rc = Chargeback(g, *cb_month, *cb_from, *cb_to, *cb_unit); });

  auto report_month = std::make_shared<std::string>();
  auto report_from = std::make_shared<std::string>();
  auto report_to = std::make_shared<std::string>();
  auto report_unit = std::make_shared<std::string>();
  auto* report = app.add_subcommand(
      "report",
      "every service over a window: requests, availability and latency against its SLOs, "
      "cost and cost per 1,000 requests (cost needs the catalog's rate card)");
  report->add_option("--from", *report_from,
                     "window start: RFC 3339 time or a duration ago (default 30 days "
                     "before --to; at most 92 days)");
  report->add_option("--to", *report_to,
                     "window end (default now; with neither --from nor --to, the last 30 "
                     "whole days: UTC midnight 30 days ago to today's)");
  report->add_option("--month", *report_month, "a calendar month YYYY-MM instead of --from/--to");
  report->add_option("--unit", *report_unit, "only the services of this business unit");
  report->callback(
      [=, &g] { *rc = Report(g, *report_month, *report_from, *report_to, *report_unit); });

  auto* health = app.add_subcommand(
      "health",
      "health score 0-100 per service, from its SLOs' burn rates over the last hour "
      "and its dependencies");
  auto service = std::make_shared<std::string>();
  auto explain = std::make_shared<bool>(false);
  health->add_option("SERVICE", *service, "service id (default: all)");
  health->add_flag("--explain", *explain, "print how each score was reached");
  health->callback([=, &g] { *rc = Health(g, *service, *explain); });

  auto since = std::make_shared<std::string>("7d");
  auto until = std::make_shared<std::string>();
  auto* incidents = app.add_subcommand(
      "incidents", "incidents detected from SLO breaches and declared by SREs, newest first");
  incidents->add_option("--since", *since,
                        "start: RFC 3339 time or a duration ago (default 7d; at most 40 days)");
  incidents->add_option("--until", *until, "end: RFC 3339 time or a duration ago (default now)");
  incidents->callback([=, &g] { *rc = Incidents(g, *since, *until); });

  auto* incident =
      app.add_subcommand("incident", "show, declare, close or add a note to an incident");
  incident->require_subcommand(1);
  auto declare_args = std::make_shared<DeclareArgs>();
  auto* declare =
      incident->add_subcommand("declare", "declare an incident for a time window; prints its id");
  declare->add_option("--title", declare_args->title, "what happened")->required();
  declare->add_option("--service", declare_args->services, "affected service id (repeatable)")
      ->required();
  declare->add_option("--from", declare_args->from, "start: RFC 3339 time or a duration ago")
      ->required();
  declare->add_option("--to", declare_args->to,
                      "end: RFC 3339 time or a duration ago (default: open)");
  declare->add_option("--id", declare_args->id, "incident id (default decl-<service>-<start>)");
  declare->add_option("--by", declare_args->by, "who declares it (default $USER)");
  declare->callback([=, &g] { *rc = Declare(g, *declare_args); });

  auto note_id = std::make_shared<std::string>();
  auto note_text = std::make_shared<std::string>();
  auto note_by = std::make_shared<std::string>();
  auto* note = incident->add_subcommand("note", "add a note to a detected or declared incident");
  note->add_option("ID", *note_id, "incident id")->required();
  note->add_option("TEXT", *note_text, "the note")->required();
  note->add_option("--by", *note_by, "author (default $USER)");
  note->callback([=, &g] { *rc = Note(g, *note_id, *note_text, *note_by); });

  auto show_id = std::make_shared<std::string>();
  auto* show = incident->add_subcommand(
      "show", "an incident's timeline (start, SLO breaches, notes, end) and business impact");
  show->add_option("ID", *show_id, "incident id")->required();
  show->callback([=, &g] { *rc = Show(g, *show_id); });

  auto close_id = std::make_shared<std::string>();
  auto close_at = std::make_shared<std::string>();
  auto close_reason = std::make_shared<std::string>();
  auto close_by = std::make_shared<std::string>();
  auto* close = incident->add_subcommand(
      "close", "end a declared incident (detected ones end when their SLOs recover)");
  close->add_option("ID", *close_id, "incident id")->required();
  close->add_option("--at", *close_at,
                    "when it ended: RFC 3339 time or a duration ago (default now)");
  close->add_option("--reason", *close_reason, "what resolved it (stored as a note)");
  close->add_option("--by", *close_by, "who closes it (default $USER)");
  close->callback([=, &g] { *rc = Close(g, *close_id, *close_at, *close_reason, *close_by); });

  auto budget_month = std::make_shared<std::string>();
  auto* budget = app.add_subcommand(
      "budget",
      "business units' cost budgets for a month: spent, projected month-end, forecast error");
  budget->add_option("--month", *budget_month, "calendar month YYYY-MM (default this month)");
  budget->callback([=, &g] { *rc = Budget(g, *budget_month); });

  auto impact_id = std::make_shared<std::string>();
  auto impact_from = std::make_shared<std::string>();
  auto impact_to = std::make_shared<std::string>();
  auto impact_services = std::make_shared<std::vector<std::string>>();
  auto* impact = app.add_subcommand(
      "impact",
      "what an incident (or a window) cost: failed requests, users, revenue at risk, "
      "error budget, per service and business unit");
  impact->add_option("INCIDENT,--incident", *impact_id, "incident id");
  impact->add_option("--from", *impact_from, "window start: RFC 3339 time or a duration ago");
  impact->add_option("--to", *impact_to, "window end (default now)");
  impact->add_option("--service", *impact_services, "report on these services (repeatable)");
  auto impact_unit = std::make_shared<std::string>();
  impact->add_option("--unit", *impact_unit, "report on this business unit's services");
  impact->callback([=, &g] {
    *rc = Impact(g, *impact_id, *impact_from, *impact_to, *impact_services, *impact_unit);
  });
}

}  // namespace plumbline::cli
