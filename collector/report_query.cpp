// The Query service's per-service report: availability, latency and cost of
// every service over one window (collector/engine/report.h).
#include "collector/engine/chargeback.h"
#include "collector/engine/cost.h"
#include "collector/engine/report.h"
#include "collector/query_service.h"
#include "collector/status_convert.h"

namespace plumbline::collector {

grpc::ServerUnaryReactor* QueryService::GetServiceReport(grpc::CallbackServerContext* context,
                                                         const v1::GetServiceReportRequest* request,
                                                         v1::GetServiceReportResponse* response) {
  counters_->Add("plumbline_query_requests_total", {{"method", "GetServiceReport"}});
  if (grpc::Status denied = Authorize(*context, Role::kViewer, "GetServiceReport"); !denied.ok()) {
    return FinishUnary(context, denied);
  }
  auto invalid = [&](std::string message) {
    counters_->Add("plumbline_query_errors_total", {{"reason", "invalid"}});
    return FinishUnary(context,
                       grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(message)));
  };
  // Without from and to, the last 30 whole UTC days: days that no longer
  // change, which the store's day cache answers.
  const int64_t now = clock_->NowMs();
  absl::StatusOr<TimeRange> period =
      RequestedWindow(request->month(), request->from_ms(), request->to_ms(), now, 30);
  if (!period.ok()) return invalid(std::string(ToStd(period.status().message())));
  std::shared_ptr<const Catalog> catalog = catalog_->Get();
  absl::StatusOr<ServiceReport> report =
      EvaluateServiceReport(*store_, *catalog, *period, now, request->business_unit());
  if (!report.ok()) return FinishUnary(context, ToGrpcStatus(report.status()));
  response->set_from_ms(report->window.from_ms);
  response->set_to_ms(report->window.to_ms);
  response->set_currency(report->currency);
  response->set_has_cost(report->has_cost);
  response->set_note(report->note);
  for (const ServiceReportRow& row : report->services) {
    v1::ServiceReportRow* x = response->add_services();
    x->set_service(row.service);
    x->set_name(row.name);
    x->set_business_unit(row.business_unit);
    x->set_requests(row.requests);
    for (const ObjectiveAttainment& o : row.objectives) {
      v1::ReportObjective* y = x->add_objectives();
      y->set_slo(o.slo);
      y->set_sli(o.sli);
      y->set_kind(std::string(ObjectiveKindName(o.kind)));
      y->set_attainment(o.attainment);
      y->set_target(o.target);
      y->set_met(o.met);
      y->set_good(o.counts.good);
      y->set_valid(o.counts.valid);
      y->set_has_data(o.counts.has_data());
    }
    x->set_has_cost(row.cents.has_value());
    if (row.cents) {
      x->set_cents(*row.cents);
      x->set_cost(FormatMoney(*row.cents, report->minor_digits));
    }
    x->set_has_cost_per_1000(row.cost_per_1000_requests.has_value());
    x->set_cost_per_1000_requests(row.cost_per_1000_requests.value_or(0));
    x->set_has_revenue(row.revenue.has_value());
    x->set_revenue(row.revenue.value_or(0));
  }
  return FinishUnary(context, grpc::Status::OK);
}

}  // namespace plumbline::collector
