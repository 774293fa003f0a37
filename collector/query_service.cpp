#include "collector/query_service.h"

#include "absl/strings/str_cat.h"
#include "collector/engine/slo_engine.h"
#include "collector/status_convert.h"

namespace plumbline::collector {

namespace {

constexpr int64_t kMaxQueryWindowMs = 400LL * 86400 * 1000;
constexpr uint32_t kMaxPointsPerSeries = 100000;

void AddLabels(const LabelSet& labels, google::protobuf::RepeatedPtrField<v1::Label>* out) {
  for (const auto& [k, v] : labels) {
    v1::Label* l = out->Add();
    l->set_name(k);
    l->set_value(v);
  }
}

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context, const grpc::Status& status) {
  return FinishUnary(context, status);
}

}  // namespace

const std::vector<std::string>& QueryService::HeadlineSeries() {
  static const std::vector<std::string> names = {
      "host_cpu_utilization", "host_cpu_count", "host_memory_total_bytes", "host_memory_used_bytes",
      "host_memory_used_ratio"};
  return names;
}

grpc::ServerUnaryReactor* QueryService::ListAgents(grpc::CallbackServerContext* context,
                                                   const v1::ListAgentsRequest*,
                                                   v1::ListAgentsResponse* response) {
  counters_->Add("plumbline_query_requests_total", {{"method", "ListAgents"}});
  if (grpc::Status denied = Authorize(*context, Role::kViewer, "ListAgents"); !denied.ok()) {
    return FinishUnary(context, denied);
  }
  absl::StatusOr<std::vector<AgentRecord>> agents = store_->ListAgents();
  if (!agents.ok()) return Done(context, ToGrpcStatus(agents.status()));
  for (const AgentRecord& a : *agents) {
    v1::AgentStatus* s = response->add_agents();
    s->set_agent_id(a.agent_id);
    s->set_hostname(a.hostname);
    s->set_version(a.version);
    s->set_os(a.os);
    AddLabels(a.labels, s->mutable_labels());
    s->set_first_seen_ms(a.first_seen_ms);
    s->set_last_seen_ms(a.last_seen_ms);
    s->set_epoch(a.epoch);
    s->set_last_sequence(a.last_sequence);
    s->set_batches(a.batches);
    s->set_samples(a.samples);
    s->set_connected(agents_->IsConnected(a.agent_id));
    s->set_cpu_count(a.cpu_count);
    s->set_memory_bytes(a.memory_bytes);
    absl::StatusOr<std::vector<SampleValue>> latest =
        store_->LatestSamples(a.agent_id, HeadlineSeries());
    if (!latest.ok()) return Done(context, ToGrpcStatus(latest.status()));
    for (const SampleValue& v : *latest) {
      v1::LatestValue* lv = s->add_latest();
      lv->set_name(v.name);
      AddLabels(v.labels, lv->mutable_labels());
      lv->set_value(v.value);
      lv->set_timestamp_ms(v.timestamp_ms);
    }
  }
  response->set_now_ms(clock_->NowMs());
  return Done(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::GetStats(grpc::CallbackServerContext* context,
                                                 const v1::GetStatsRequest*,
                                                 v1::GetStatsResponse* response) {
  if (grpc::Status denied = Authorize(*context, Role::kViewer, "GetStats"); !denied.ok()) {
    return FinishUnary(context, denied);
  }
  counters_->Set("plumbline_ingest_connected_agents", {},
                 static_cast<double>(agents_->ConnectedCount()));
  for (const CounterValue& c : counters_->Snapshot()) {
    v1::Counter* out = response->add_counters();
    out->set_name(c.name);
    AddLabels(c.labels, out->mutable_labels());
    out->set_value(c.value);
  }
  return Done(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::QuerySeries(grpc::CallbackServerContext* context,
                                                    const v1::QuerySeriesRequest* request,
                                                    v1::QuerySeriesResponse* response) {
  counters_->Add("plumbline_query_requests_total", {{"method", "QuerySeries"}});
  if (grpc::Status denied = Authorize(*context, Role::kViewer, "QuerySeries"); !denied.ok()) {
    return FinishUnary(context, denied);
  }
  auto invalid = [&](std::string message) {
    counters_->Add("plumbline_query_errors_total", {{"reason", "invalid_argument"}});
    return Done(context, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message));
  };
  if (absl::Status s = ValidateMetricName(request->name()); !s.ok()) {
    return invalid(StrCat("name: ", s.message()));
  }
  SeriesQuery q;
  q.name = request->name();
  for (const v1::Label& l : request->match()) q.match.emplace_back(l.name(), l.value());
  q.to_ms = request->to_ms() == 0 ? clock_->NowMs() : request->to_ms();
  q.from_ms = request->from_ms() == 0 ? q.to_ms - 3600 * 1000 : request->from_ms();
  if (q.to_ms < q.from_ms) return invalid("window: to is before from");
  if (q.to_ms - q.from_ms > kMaxQueryWindowMs) return invalid("window: longer than 400 days");
  q.limit = request->limit() == 0 ? 10000 : std::min(request->limit(), kMaxPointsPerSeries);
  absl::StatusOr<std::vector<SeriesPoints>> found = store_->QuerySeries(q);
  if (!found.ok()) return Done(context, ToGrpcStatus(found.status()));
  for (const SeriesPoints& sp : *found) {
    v1::SeriesPoints* out = response->add_series();
    out->set_name(sp.name);
    AddLabels(sp.labels, out->mutable_labels());
    out->mutable_timestamps_ms()->Add(sp.timestamps_ms.begin(), sp.timestamps_ms.end());
    out->mutable_values()->Add(sp.values.begin(), sp.values.end());
  }
  return Done(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::ListServices(grpc::CallbackServerContext* context,
                                                     const v1::ListServicesRequest*,
                                                     v1::ListServicesResponse* response) {
  counters_->Add("plumbline_query_requests_total", {{"method", "ListServices"}});
  if (grpc::Status denied = Authorize(*context, Role::kViewer, "ListServices"); !denied.ok()) {
    return FinishUnary(context, denied);
  }
  std::shared_ptr<const Catalog> catalog = catalog_->Get();
  response->set_catalog_source(catalog->source);
  response->set_currency(catalog->currency);
  for (const BusinessUnit& bu : catalog->business_units) {
    v1::BusinessUnitInfo* out = response->add_business_units();
    out->set_id(bu.id);
    out->set_name(bu.name);
    out->set_owner(bu.owner);
    out->mutable_metadata()->insert(bu.metadata.begin(), bu.metadata.end());
  }
  for (const collector::Service& s : catalog->services) {
    v1::ServiceInfo* out = response->add_services();
    out->set_id(s.id);
    out->set_name(s.name);
    out->set_business_unit(s.business_unit);
    out->set_owner(s.owner);
    out->set_tier(s.tier);
    out->set_external(s.external);
    out->set_revenue_per_hour(s.revenue_per_hour);
    out->set_users(s.users);
    for (const Dependency& d : s.dependencies) out->add_depends_on(d.service);
    for (const Slo& slo : s.slos) out->add_slos(slo.id);
    out->mutable_metadata()->insert(s.metadata.begin(), s.metadata.end());
    out->set_value_per_transaction(s.value_per_transaction);
    for (const Component& c : s.components) {
      v1::ComponentInfo* x = out->add_components();
      x->set_id(c.id);
      for (const std::string& h : c.hosts) x->add_hosts(h);
      x->set_process(c.process);
      x->set_probe(c.probe);
      x->set_log(c.log);
      for (const std::string& m : c.metrics) x->add_metrics(m);
    }
  }
  for (const Exclusion& e : catalog->exclusions) {
    v1::MaintenanceWindow* out = response->add_maintenance();
    out->set_id(e.id);
    out->set_kind(e.kind == Exclusion::Kind::kCorrection ? "correction" : "maintenance");
    for (const std::string& id : e.services) out->add_services(id);
    out->set_from_ms(e.range.from_ms);
    out->set_to_ms(e.range.to_ms);
    out->set_reason(e.reason);
    out->set_by(e.by);
    out->set_recorded_ms(e.recorded_ms);
  }
  return Done(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::GetSliSeries(grpc::CallbackServerContext* context,
                                                     const v1::GetSliSeriesRequest* request,
                                                     v1::GetSliSeriesResponse* response) {
  counters_->Add("plumbline_query_requests_total", {{"method", "GetSliSeries"}});
  if (grpc::Status denied = Authorize(*context, Role::kViewer, "GetSliSeries"); !denied.ok()) {
    return FinishUnary(context, denied);
  }
  auto fail = [&](grpc::StatusCode code, const char* reason, std::string message) {
    counters_->Add("plumbline_query_errors_total", {{"reason", reason}});
    return Done(context, grpc::Status(code, std::move(message)));
  };
  constexpr int64_t kMinuteMs = 60000;
  constexpr int64_t kMaxPoints = 2000;
  std::shared_ptr<const Catalog> catalog = catalog_->Get();
  const collector::Service* service = catalog->FindService(request->service());
  if (service == nullptr) {
    return fail(grpc::StatusCode::NOT_FOUND, "not_found",
                StrCat("unknown service \"", request->service(), "\""));
  }
  const Slo* slo = nullptr;
  for (const Slo& s : service->slos) {
    if (request->slo().empty() ? slo == nullptr : s.id == request->slo()) slo = &s;
  }
  if (slo == nullptr) {
    return fail(grpc::StatusCode::NOT_FOUND, "not_found",
                request->slo().empty()
                    ? StrCat("service \"", service->id, "\" has no SLO")
                    : StrCat("service \"", service->id, "\" has no SLO \"", request->slo(), "\""));
  }
  const Sli* sli = service->FindSli(slo->sli);
  if (sli == nullptr) {
    return fail(grpc::StatusCode::FAILED_PRECONDITION, "invalid",
                StrCat("SLO \"", slo->id, "\" names no SLI of its service"));
  }
  const int64_t to = request->to_ms() == 0 ? clock_->NowMs() : request->to_ms();
  if (request->from_ms() <= 0 || to <= request->from_ms()) {
    return fail(grpc::StatusCode::INVALID_ARGUMENT, "invalid", "give from, before to");
  }
  int64_t step = request->step_ms();
  if (step == 0) {
    // The smallest round step that keeps the chart at 300 points or fewer.
    for (int64_t minutes : {1, 5, 15, 60, 360, 1440}) {
      step = minutes * kMinuteMs;
      if ((to - request->from_ms()) / step <= 300) break;
    }
  }
  if (step < kMinuteMs || step % kMinuteMs != 0) {
    return fail(grpc::StatusCode::INVALID_ARGUMENT, "invalid",
                "step must be a whole number of minutes");
  }
  const int64_t from = request->from_ms() / step * step;
  if ((to - from + step - 1) / step > kMaxPoints) {
    return fail(grpc::StatusCode::INVALID_ARGUMENT, "invalid",
                StrCat("at most ", kMaxPoints, " steps: use a longer step or a shorter window"));
  }
  absl::StatusOr<std::vector<std::pair<int64_t, SliCounts>>> steps =
      EvaluateSliSteps(*store_, *sli, from, to, step);
  if (!steps.ok()) return Done(context, ToGrpcStatus(steps.status()));
  response->set_service(service->id);
  response->set_slo(slo->id);
  response->set_sli(sli->id);
  response->set_target(slo->target());
  response->set_from_ms(from);
  response->set_to_ms(to);
  response->set_step_ms(step);
  for (const auto& [at, counts] : *steps) {
    if (!counts.has_data()) continue;
    v1::SliPoint* p = response->add_points();
    p->set_from_ms(at);
    p->set_good(counts.good);
    p->set_valid(counts.valid);
    p->set_ratio(counts.ratio());
  }
  return Done(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::GetSloStatus(grpc::CallbackServerContext* context,
                                                     const v1::GetSloStatusRequest* request,
                                                     v1::GetSloStatusResponse* response) {
  counters_->Add("plumbline_query_requests_total", {{"method", "GetSloStatus"}});
  if (grpc::Status denied = Authorize(*context, Role::kViewer, "GetSloStatus"); !denied.ok()) {
    return FinishUnary(context, denied);
  }
  std::shared_ptr<const Catalog> catalog = catalog_->Get();
  if (!request->service().empty() && catalog->FindService(request->service()) == nullptr) {
    counters_->Add("plumbline_query_errors_total", {{"reason", "not_found"}});
    return Done(context, grpc::Status(grpc::StatusCode::NOT_FOUND,
                                      StrCat("unknown service \"", request->service(), "\"")));
  }
  int64_t at = request->at_ms() == 0 ? clock_->NowMs() : request->at_ms();
  for (const collector::Service& s : catalog->services) {
    if (!request->service().empty() && s.id != request->service()) continue;
    for (const Slo& slo : s.slos) {
      absl::StatusOr<SloStatus> st = EvaluateSlo(*store_, s, slo, at);
      if (!st.ok()) return Done(context, ToGrpcStatus(st.status()));
      v1::SloStatus* out = response->add_slos();
      out->set_service(st->service);
      out->set_slo(st->slo);
      out->set_sli(st->sli);
      out->set_target(st->target);
      out->set_from_ms(st->from_ms);
      out->set_to_ms(st->to_ms);
      out->set_period_ms(st->period_ms);
      out->set_good(st->counts.good);
      out->set_valid(st->counts.valid);
      out->set_has_data(st->counts.has_data());
      out->set_attainment(st->attainment);
      out->set_budget_total(st->budget_total);
      out->set_budget_remaining(st->budget_remaining);
      out->set_budget_remaining_ratio(st->budget_remaining_ratio);
      out->set_budget_minutes_total(st->budget_minutes_total);
      out->set_budget_minutes_remaining(st->budget_minutes_remaining);
      out->set_burn_rate(st->burn_rate);
      out->set_hours_to_exhaustion(st->hours_to_exhaustion);
      out->set_breached(st->breached);
      for (const BurnAlert& a : st->alerts) {
        v1::BurnRateAlert* alert = out->add_alerts();
        alert->set_severity(a.severity);
        alert->set_long_window_ms(a.long_window_ms);
        alert->set_short_window_ms(a.short_window_ms);
        alert->set_threshold(a.threshold);
        alert->set_long_burn(a.long_burn);
        alert->set_short_burn(a.short_burn);
        alert->set_gated(a.gated);
        alert->set_firing(a.firing);
        alert->set_message(a.message);
      }
    }
  }
  response->set_at_ms(at);
  return Done(context, grpc::Status::OK);
}

}  // namespace plumbline::collector
