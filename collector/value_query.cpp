// The Query service's value surface: health, incidents and impact.
#include <algorithm>
#include <cstdio>
#include <limits>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "collector/engine/health.h"
#include "collector/engine/impact.h"
#include "collector/engine/incidents.h"
#include "collector/query_service.h"
#include "collector/status_convert.h"

namespace plumbline::collector {

namespace {

constexpr int64_t kMinute = 60000;
constexpr int64_t kDay = 24 * 60 * kMinute;
// Incidents and impact come from minute rollups (kept 35 days by default).
constexpr int64_t kMaxValueWindowMs = 40 * kDay;
constexpr size_t kMaxTitle = 200;
constexpr size_t kMaxAuthor = 128;
constexpr size_t kMaxNote = 4096;

grpc::Status Invalid(std::string message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(message));
}

bool ValidIncidentId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

// Free text from clients: printable, bounded, no control characters.
bool CleanText(const std::string& text, size_t max) {
  if (text.size() > max) return false;
  return std::none_of(text.begin(), text.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 && c != '\t';
  });
}

void ToProto(const Incident& inc, v1::Incident* out) {
  out->set_id(inc.id);
  out->set_title(inc.title);
  out->set_declared(inc.declared);
  out->set_open(inc.open);
  out->set_from_ms(inc.range.from_ms);
  out->set_to_ms(inc.range.to_ms);
  for (const std::string& s : inc.detected_services) out->add_detected_services(s);
  for (const std::string& s : inc.affected_services) out->add_affected_services(s);
  for (const Breach& b : inc.breaches) {
    v1::SloBreach* x = out->add_breaches();
    x->set_service(b.service);
    x->set_slo(b.slo);
    x->set_from_ms(b.range.from_ms);
    x->set_to_ms(b.range.to_ms);
    x->set_breaching_minutes(b.breaching_minutes);
    x->set_worst_ratio(b.worst_ratio);
  }
  out->set_declared_by(inc.declared_by);
  out->set_declared_ms(inc.declared_ms);
  for (const IncidentNote& n : inc.notes) {
    v1::IncidentNote* x = out->add_notes();
    x->set_at_ms(n.at_ms);
    x->set_author(n.author);
    x->set_text(n.text);
  }
}

std::string Utc(int64_t ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

// "auto-<service>-YYYYMMDDTHHMMZ": the service and the start.
bool ParseAutoId(const std::string& id, std::string* service, int64_t* start_ms) {
  constexpr std::string_view kPrefix = "auto-";
  if (id.rfind(kPrefix, 0) != 0) return false;
  size_t dash = id.rfind('-');
  if (dash == std::string::npos || dash <= kPrefix.size()) return false;
  // absl's %Y would swallow the whole digit run: read the fields by hand.
  const std::string stamp = id.substr(dash + 1);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0;
  char t = 0, z = 0;
  if (stamp.size() != 14 ||
      std::sscanf(stamp.c_str(), "%4d%2d%2d%c%2d%2d%c", &y, &mo, &d, &t, &h, &mi, &z) != 7 ||
      t != 'T' || z != 'Z') {
    return false;
  }
  absl::CivilMinute civil(y, mo, d, h, mi);
  if (civil.year() != y || civil.month() != mo || civil.day() != d || civil.hour() != h ||
      civil.minute() != mi) {
    return false;  // normalised: the fields were out of range
  }
  *service = id.substr(kPrefix.size(), dash - kPrefix.size());
  *start_ms = absl::ToUnixMillis(absl::FromCivil(civil, absl::UTCTimeZone()));
  return true;
}

// Finds a detected or declared incident by id.
absl::StatusOr<Incident> FindIncident(Store& store, const Catalog& catalog, const std::string& id,
                                      int64_t now_ms, const IncidentOptions& options) {
  std::string service;
  int64_t start = 0;
  int64_t from = 0, to = now_ms;
  if (ParseAutoId(id, &service, &start)) {
    from = start;
    to = std::min(now_ms, start + kMaxValueWindowMs);
  } else {
    ASSIGN_OR_RETURN(auto declared, store.DeclaredIncidents(std::numeric_limits<int64_t>::min(),
                                                            std::numeric_limits<int64_t>::max()));
    auto it = std::find_if(declared.begin(), declared.end(),
                           [&](const DeclaredIncident& d) { return d.id == id; });
    if (it == declared.end()) return absl::NotFoundError(StrCat("no incident \"", id, "\""));
    from = it->from_ms;
    to = it->to_ms == 0 ? now_ms : it->to_ms;
  }
  ASSIGN_OR_RETURN(std::vector<Incident> all,
                   ListIncidents(store, catalog, from, to + 1, now_ms, options));
  for (Incident& inc : all) {
    if (inc.id == id) return std::move(inc);
  }
  return absl::NotFoundError(StrCat("no incident \"", id, "\""));
}

}  // namespace

grpc::ServerUnaryReactor* QueryService::GetHealth(grpc::CallbackServerContext* context,
                                                  const v1::GetHealthRequest* request,
                                                  v1::GetHealthResponse* response) {
  counters_->Add("plumbline_query_requests_total", {{"method", "GetHealth"}});
  if (grpc::Status denied = Authorize(*context, Role::kViewer, "GetHealth"); !denied.ok()) {
    return FinishUnary(context, denied);
  }
  std::shared_ptr<const Catalog> catalog = catalog_->Get();
  if (!request->service().empty() && catalog->FindService(request->service()) == nullptr) {
    counters_->Add("plumbline_query_errors_total", {{"reason", "not_found"}});
    return FinishUnary(context,
                       grpc::Status(grpc::StatusCode::NOT_FOUND,
                                    StrCat("unknown service \"", request->service(), "\"")));
  }
  const int64_t at = request->at_ms() == 0 ? clock_->NowMs() : request->at_ms();
  absl::StatusOr<std::vector<ServiceHealth>> health = EvaluateHealth(*store_, *catalog, at);
  if (!health.ok()) return FinishUnary(context, ToGrpcStatus(health.status()));
  for (const ServiceHealth& h : *health) {
    if (!request->service().empty() && h.service != request->service()) continue;
    v1::ServiceHealth* out = response->add_services();
    out->set_service(h.service);
    out->set_has_score(h.score.has_value());
    out->set_score(h.score.value_or(0));
    out->set_status(h.status);
    out->set_has_own_score(h.own_score.has_value());
    out->set_own_score(h.own_score.value_or(0));
    for (const IndicatorHealth& i : h.indicators) {
      v1::HealthIndicator* x = out->add_indicators();
      x->set_slo(i.slo);
      x->set_sli(i.sli);
      x->set_importance(i.importance);
      x->set_critical(i.critical);
      x->set_has_data(i.has_data);
      x->set_valid(i.valid);
      x->set_burn_rate(i.burn);
      x->set_score(i.score);
    }
    for (const DependencyHealth& d : h.dependencies) {
      v1::HealthDependency* x = out->add_dependencies();
      x->set_service(d.service);
      x->set_hard(d.hard);
      x->set_weight(d.weight);
      x->set_has_health(d.health.has_value());
      x->set_health(d.health.value_or(0));
      x->set_effect(d.effect);
    }
    out->set_explanation(h.explanation);
  }
  response->set_at_ms(at);
  response->set_window_ms(kHealthWindowMs);
  return FinishUnary(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::ListIncidents(grpc::CallbackServerContext* context,
                                                      const v1::ListIncidentsRequest* request,
                                                      v1::ListIncidentsResponse* response) {
  counters_->Add("plumbline_query_requests_total", {{"method", "ListIncidents"}});
  if (grpc::Status denied = Authorize(*context, Role::kViewer, "ListIncidents"); !denied.ok()) {
    return FinishUnary(context, denied);
  }
  const int64_t now = clock_->NowMs();
  const int64_t to = request->to_ms() == 0 ? now : request->to_ms();
  const int64_t from = request->from_ms() == 0 ? to - 7 * kDay : request->from_ms();
  if (to <= from || to - from > kMaxValueWindowMs) {
    counters_->Add("plumbline_query_errors_total", {{"reason", "invalid"}});
    return FinishUnary(context, Invalid("the window must be non-empty and at most 40 days"));
  }
  std::shared_ptr<const Catalog> catalog = catalog_->Get();
  absl::StatusOr<std::vector<Incident>> incidents =
      collector::ListIncidents(*store_, *catalog, from, to, now, incident_options_);
  if (!incidents.ok()) return FinishUnary(context, ToGrpcStatus(incidents.status()));
  for (const Incident& inc : *incidents) ToProto(inc, response->add_incidents());
  response->set_now_ms(now);
  return FinishUnary(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::DeclareIncident(grpc::CallbackServerContext* context,
                                                        const v1::DeclareIncidentRequest* request,
                                                        v1::DeclareIncidentResponse* response) {
  counters_->Add("plumbline_query_requests_total", {{"method", "DeclareIncident"}});
  if (grpc::Status denied = Authorize(*context, Role::kSre, "DeclareIncident"); !denied.ok()) {
    return FinishUnary(context, denied);
  }
  std::shared_ptr<const Catalog> catalog = catalog_->Get();
  auto refuse = [&](std::string message) {
    counters_->Add("plumbline_query_errors_total", {{"reason", "invalid"}});
    return FinishUnary(context, Invalid(std::move(message)));
  };
  if (request->services().empty()) return refuse("name at least one affected service");
  for (const std::string& s : request->services()) {
    if (catalog->FindService(s) == nullptr) return refuse(StrCat("unknown service \"", s, "\""));
  }
  if (request->title().empty() || !CleanText(request->title(), kMaxTitle)) {
    return refuse("the title must be 1 to 200 printable characters");
  }
  if (request->declared_by().empty() || !CleanText(request->declared_by(), kMaxAuthor)) {
    return refuse("say who declares it (1 to 128 printable characters)");
  }
  if (request->from_ms() <= 0) return refuse("the start (from) is required");
  if (request->to_ms() != 0 && request->to_ms() <= request->from_ms()) {
    return refuse("the end (to) must be after the start");
  }
  DeclaredIncident d;
  d.id = request->id().empty()
             ? StrCat("decl-", request->services(0), "-", CompactUtc(request->from_ms()))
             : request->id();
  if (!ValidIncidentId(d.id) || d.id.rfind("auto-", 0) == 0) {
    return refuse("the id must be letters, digits, - _ . (at most 128) and not start with auto-");
  }
  d.title = request->title();
  d.from_ms = request->from_ms();
  d.to_ms = request->to_ms();
  d.services.assign(request->services().begin(), request->services().end());
  d.declared_by = request->declared_by();
  d.declared_ms = clock_->NowMs();
  if (absl::Status s = store_->PutIncident(d); !s.ok()) {
    return FinishUnary(context, ToGrpcStatus(s));
  }
  Incident inc;
  inc.id = d.id;
  inc.title = d.title;
  inc.declared = true;
  inc.open = d.to_ms == 0;
  inc.range = {d.from_ms, d.to_ms == 0 ? d.declared_ms : d.to_ms};
  inc.detected_services = d.services;
  inc.affected_services = AffectedServices(*catalog, d.services);
  inc.declared_by = d.declared_by;
  inc.declared_ms = d.declared_ms;
  ToProto(inc, response->mutable_incident());
  return FinishUnary(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::GetIncident(grpc::CallbackServerContext* context,
                                                    const v1::GetIncidentRequest* request,
                                                    v1::GetIncidentResponse* response) {
  counters_->Add("plumbline_query_requests_total", {{"method", "GetIncident"}});
  if (grpc::Status denied = Authorize(*context, Role::kViewer, "GetIncident"); !denied.ok()) {
    return FinishUnary(context, denied);
  }
  if (!ValidIncidentId(request->id())) {
    counters_->Add("plumbline_query_errors_total", {{"reason", "invalid"}});
    return FinishUnary(context, Invalid("invalid incident id"));
  }
  std::shared_ptr<const Catalog> catalog = catalog_->Get();
  absl::StatusOr<Incident> inc =
      FindIncident(*store_, *catalog, request->id(), clock_->NowMs(), incident_options_);
  if (!inc.ok()) return FinishUnary(context, ToGrpcStatus(inc.status()));
  ToProto(*inc, response->mutable_incident());
  return FinishUnary(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::CloseIncident(grpc::CallbackServerContext* context,
                                                      const v1::CloseIncidentRequest* request,
                                                      v1::CloseIncidentResponse* response) {
  counters_->Add("plumbline_query_requests_total", {{"method", "CloseIncident"}});
  if (grpc::Status denied = Authorize(*context, Role::kSre, "CloseIncident"); !denied.ok()) {
    return FinishUnary(context, denied);
  }
  auto refuse = [&](grpc::StatusCode code, std::string message) {
    counters_->Add("plumbline_query_errors_total", {{"reason", "invalid"}});
    return FinishUnary(context, grpc::Status(code, std::move(message)));
  };
  const std::string& id = request->id();
  if (!ValidIncidentId(id))
    return refuse(grpc::StatusCode::INVALID_ARGUMENT, "invalid incident id");
  if (request->closed_by().empty() || !CleanText(request->closed_by(), kMaxAuthor)) {
    return refuse(grpc::StatusCode::INVALID_ARGUMENT,
                  "say who closes it (1 to 128 printable characters)");
  }
  if (!CleanText(request->reason(), kMaxNote)) {
    return refuse(grpc::StatusCode::INVALID_ARGUMENT,
                  "the reason must be at most 4096 printable characters");
  }
  if (id.rfind("auto-", 0) == 0) {
    return refuse(grpc::StatusCode::FAILED_PRECONDITION,
                  StrCat("\"", id,
                         "\" was detected from SLO breaches and closes by itself once its SLOs "
                         "have met their objectives for the configured close_after; add a note "
                         "to record what was done"));
  }
  const int64_t now = clock_->NowMs();
  absl::StatusOr<std::vector<DeclaredIncident>> all = store_->DeclaredIncidents(
      std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
  if (!all.ok()) return FinishUnary(context, ToGrpcStatus(all.status()));
  std::vector<DeclaredIncident>& declared = *all;
  auto it = std::find_if(declared.begin(), declared.end(),
                         [&](const DeclaredIncident& d) { return d.id == id; });
  if (it == declared.end()) {
    return refuse(grpc::StatusCode::NOT_FOUND, StrCat("no incident \"", id, "\""));
  }
  if (it->to_ms != 0) {
    return refuse(grpc::StatusCode::FAILED_PRECONDITION,
                  StrCat("\"", id, "\" is already closed (it ended ", Utc(it->to_ms), ")"));
  }
  const int64_t at = request->at_ms() == 0 ? now : request->at_ms();
  if (at <= it->from_ms || at > now) {
    return refuse(grpc::StatusCode::INVALID_ARGUMENT,
                  "the end must be after the incident's start and not in the future");
  }
  DeclaredIncident closed = *it;
  closed.to_ms = at;
  if (absl::Status s = store_->PutIncident(closed); !s.ok()) {
    return FinishUnary(context, ToGrpcStatus(s));
  }
  std::string text = StrCat("closed, ended ", Utc(at));
  if (!request->reason().empty()) text += StrCat(": ", request->reason());
  if (absl::Status s = store_->AddIncidentNote({id, now, request->closed_by(), text}); !s.ok()) {
    return FinishUnary(context, ToGrpcStatus(s));
  }
  std::shared_ptr<const Catalog> catalog = catalog_->Get();
  absl::StatusOr<Incident> inc = FindIncident(*store_, *catalog, id, now, incident_options_);
  if (!inc.ok()) return FinishUnary(context, ToGrpcStatus(inc.status()));
  ToProto(*inc, response->mutable_incident());
  return FinishUnary(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::AnnotateIncident(grpc::CallbackServerContext* context,
                                                         const v1::AnnotateIncidentRequest* request,
                                                         v1::AnnotateIncidentResponse* response) {
  counters_->Add("plumbline_query_requests_total", {{"method", "AnnotateIncident"}});
  if (grpc::Status denied = Authorize(*context, Role::kSre, "AnnotateIncident"); !denied.ok()) {
    return FinishUnary(context, denied);
  }
  auto refuse = [&](grpc::StatusCode code, std::string message) {
    counters_->Add("plumbline_query_errors_total", {{"reason", "invalid"}});
    return FinishUnary(context, grpc::Status(code, std::move(message)));
  };
  if (!ValidIncidentId(request->incident_id())) {
    return refuse(grpc::StatusCode::INVALID_ARGUMENT, "invalid incident id");
  }
  if (request->text().empty() || !CleanText(request->text(), kMaxNote)) {
    return refuse(grpc::StatusCode::INVALID_ARGUMENT,
                  "the note must be 1 to 4096 printable characters");
  }
  if (request->author().empty() || !CleanText(request->author(), kMaxAuthor)) {
    return refuse(grpc::StatusCode::INVALID_ARGUMENT,
                  "say who writes it (1 to 128 printable characters)");
  }
  std::shared_ptr<const Catalog> catalog = catalog_->Get();
  absl::StatusOr<Incident> inc =
      FindIncident(*store_, *catalog, request->incident_id(), clock_->NowMs(), incident_options_);
  if (!inc.ok()) return FinishUnary(context, ToGrpcStatus(inc.status()));
  IncidentNote note{request->incident_id(), clock_->NowMs(), request->author(), request->text()};
  if (absl::Status s = store_->AddIncidentNote(note); !s.ok()) {
    return FinishUnary(context, ToGrpcStatus(s));
  }
  response->mutable_note()->set_at_ms(note.at_ms);
  response->mutable_note()->set_author(note.author);
  response->mutable_note()->set_text(note.text);
  return FinishUnary(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::GetImpact(grpc::CallbackServerContext* context,
                                                  const v1::GetImpactRequest* request,
                                                  v1::GetImpactResponse* response) {
  counters_->Add("plumbline_query_requests_total", {{"method", "GetImpact"}});
  if (grpc::Status denied = Authorize(*context, Role::kViewer, "GetImpact"); !denied.ok()) {
    return FinishUnary(context, denied);
  }
  std::shared_ptr<const Catalog> catalog = catalog_->Get();
  const int64_t now = clock_->NowMs();
  TimeRange range{request->from_ms(), request->to_ms() == 0 ? now : request->to_ms()};
  std::vector<std::string> scope(request->services().begin(), request->services().end());
  for (const std::string& s : scope) {
    if (catalog->FindService(s) == nullptr) {
      counters_->Add("plumbline_query_errors_total", {{"reason", "not_found"}});
      return FinishUnary(context, grpc::Status(grpc::StatusCode::NOT_FOUND,
                                               StrCat("unknown service \"", s, "\"")));
    }
  }
  // The business unit's services, within the named ones if any.
  const std::string& unit = request->business_unit();
  if (!unit.empty()) {
    if (catalog->FindBusinessUnit(unit) == nullptr) {
      counters_->Add("plumbline_query_errors_total", {{"reason", "not_found"}});
      return FinishUnary(context, grpc::Status(grpc::StatusCode::NOT_FOUND,
                                               StrCat("unknown business unit \"", unit, "\"")));
    }
    std::vector<std::string> of_unit;
    for (const collector::Service& s : catalog->services) {
      if (s.business_unit != unit) continue;
      if (scope.empty() || std::find(scope.begin(), scope.end(), s.id) != scope.end()) {
        of_unit.push_back(s.id);
      }
    }
    if (of_unit.empty()) {
      counters_->Add("plumbline_query_errors_total", {{"reason", "invalid"}});
      return FinishUnary(
          context, Invalid(StrCat("none of the services asked for belongs to \"", unit, "\"")));
    }
    scope = std::move(of_unit);
  }
  if (!request->incident_id().empty()) {
    absl::StatusOr<Incident> inc =
        FindIncident(*store_, *catalog, request->incident_id(), now, incident_options_);
    if (!inc.ok()) return FinishUnary(context, ToGrpcStatus(inc.status()));
    range = inc->range;
    if (range.to_ms - range.from_ms < kMinute) range.to_ms = range.from_ms + kMinute;
    const std::vector<std::string> limit = std::move(scope);
    scope = inc->affected_services;
    scope.erase(std::remove_if(scope.begin(), scope.end(),
                               [&](const std::string& s) {
                                 return !catalog->FindService(s) ||
                                        (!limit.empty() &&
                                         std::find(limit.begin(), limit.end(), s) == limit.end());
                               }),
                scope.end());
    if (!limit.empty() && scope.empty()) {
      counters_->Add("plumbline_query_errors_total", {{"reason", "invalid"}});
      return FinishUnary(context, Invalid(StrCat("incident \"", request->incident_id(),
                                                 "\" affected none of the services asked for")));
    }
  }
  if (range.to_ms <= range.from_ms || range.to_ms - range.from_ms > kMaxValueWindowMs) {
    counters_->Add("plumbline_query_errors_total", {{"reason", "invalid"}});
    return FinishUnary(context, Invalid("the window must be non-empty and at most 40 days"));
  }
  absl::StatusOr<ImpactReport> report = EvaluateImpact(*store_, *catalog, range, scope);
  if (!report.ok()) return FinishUnary(context, ToGrpcStatus(report.status()));
  response->set_incident_id(request->incident_id());
  response->set_from_ms(report->range.from_ms);
  response->set_to_ms(report->range.to_ms);
  for (const ServiceImpact& x : report->services) {
    v1::ServiceImpact* out = response->add_services();
    out->set_service(x.service);
    out->set_name(x.name);
    out->set_business_unit(x.business_unit);
    out->set_propagated_only(x.propagated_only);
    out->set_via(x.via);
    out->set_window_minutes(x.window_minutes);
    out->set_degraded_minutes(x.degraded_minutes);
    out->set_failed_share(x.failed_share);
    out->set_requests(x.requests);
    out->set_failed_requests(x.failed_requests);
    out->set_failed_requests_propagated(x.failed_requests_propagated);
    out->set_users_affected(x.users_affected);
    out->set_revenue_at_risk(x.revenue_at_risk);
    out->set_revenue_at_risk_propagated(x.revenue_at_risk_propagated);
    for (const SloImpact& si : x.slos) {
      v1::SloImpact* s = out->add_slos();
      s->set_slo(si.slo);
      s->set_bad(si.bad);
      s->set_budget_burned(si.budget_burned);
      s->set_budget_burned_minutes(si.budget_burned_minutes);
      s->set_attainment(si.attainment);
      s->set_target(si.target);
      s->set_sla_breached(si.sla_breached);
    }
  }
  for (const BusinessUnitImpact& u : report->business_units) {
    v1::BusinessUnitImpact* out = response->add_business_units();
    out->set_business_unit(u.business_unit);
    out->set_failed_requests(u.failed_requests);
    out->set_users_affected(u.users_affected);
    out->set_revenue_at_risk(u.revenue_at_risk);
    out->set_revenue_at_risk_propagated(u.revenue_at_risk_propagated);
    out->set_degraded_minutes(u.degraded_minutes);
    out->set_services(u.services);
  }
  response->set_revenue_at_risk(report->revenue_at_risk);
  response->set_failed_requests(report->failed_requests);
  response->set_users_affected(report->users_affected);
  response->set_currency(catalog->currency);
  return FinishUnary(context, grpc::Status::OK);
}

}  // namespace plumbline::collector
