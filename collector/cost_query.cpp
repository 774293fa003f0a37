// The Query service's cost surface: chargeback and showback.
#include "collector/engine/capacity.h"
#include "collector/engine/chargeback.h"
#include "collector/engine/maturity.h"
#include "collector/query_service.h"
#include "collector/status_convert.h"

namespace plumbline::collector {

namespace {

constexpr int64_t kMaxCostWindowMs = 92LL * 24 * 3600 * 1000;  // a quarter

std::string Money(const CostReport& r, int64_t cents) { return FormatMoney(cents, r.minor_digits); }

// The unit cost fields, the same on a service's and a business unit's line.
template <typename Line, typename Economics>
void SetUnitEconomics(const Economics& u, Line* x) {
  x->set_transactions(u.transactions);
  x->set_revenue(u.revenue);
  x->set_has_cost_per_1000(u.cost_per_1000_transactions.has_value());
  x->set_cost_per_1000_transactions(u.cost_per_1000_transactions.value_or(0));
  x->set_has_value_per_cost(u.value_per_cost.has_value());
  x->set_value_per_cost(u.value_per_cost.value_or(0));
}

// Month over month of `key`, when the report has it.
template <typename Line>
void SetChange(const std::map<std::string, Change>& changes, const std::string& key, Line* x) {
  auto it = changes.find(key);
  if (it == changes.end()) return;
  x->set_has_change(it->second.percent.has_value());
  x->set_previous_cost(it->second.previous);
  x->set_change_percent(it->second.percent.value_or(0));
}

}  // namespace

absl::StatusOr<TimeRange> RequestedWindow(const std::string& month, int64_t from_ms, int64_t to_ms,
                                          int64_t now_ms, int default_days) {
  constexpr int64_t kDayMs = 24LL * 3600 * 1000;
  if (!month.empty()) {
    if (from_ms != 0 || to_ms != 0) {
      return absl::InvalidArgumentError("give a month or a window (from, to), not both");
    }
    return ParseMonth(month);
  }
  if (from_ms == 0 && default_days == 0) {
    return absl::InvalidArgumentError("give a month (YYYY-MM) or from");
  }
  TimeRange period;
  period.to_ms = to_ms != 0 ? to_ms : from_ms != 0 ? now_ms : FloorTo(now_ms, kDayMs);
  period.from_ms = from_ms != 0 ? from_ms : period.to_ms - default_days * kDayMs;
  if (period.to_ms <= period.from_ms) return absl::InvalidArgumentError("to must be after from");
  if (period.to_ms - period.from_ms > kMaxCostWindowMs) {
    return absl::InvalidArgumentError("the window must be at most 92 days");
  }
  return period;
}

grpc::ServerUnaryReactor* QueryService::GetChargeback(grpc::CallbackServerContext* context,
                                                      const v1::GetChargebackRequest* request,
                                                      v1::GetChargebackResponse* response) {
  counters_->Add("plumbline_query_requests_total", {{"method", "GetChargeback"}});
  if (grpc::Status denied = Authorize(*context, Role::kViewer, "GetChargeback"); !denied.ok()) {
    return FinishUnary(context, denied);
  }
  auto invalid = [&](std::string message) {
    counters_->Add("plumbline_query_errors_total", {{"reason", "invalid"}});
    return FinishUnary(context,
                       grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(message)));
  };
  const int64_t now = clock_->NowMs();
  absl::StatusOr<TimeRange> period =
      RequestedWindow(request->month(), request->from_ms(), request->to_ms(), now, 0);
  if (!period.ok()) return invalid(std::string(ToStd(period.status().message())));
  std::shared_ptr<const Catalog> catalog = catalog_->Get();
  absl::StatusOr<Chargeback> cb = EvaluateChargeback(*store_, *catalog, *period, now);
  if (!cb.ok()) return FinishUnary(context, ToGrpcStatus(cb.status()));
  const CostReport& r = cb->report;
  response->set_from_ms(r.period.from_ms);
  response->set_to_ms(r.period.to_ms);
  response->set_currency(r.currency);
  response->set_total(Money(r, r.total_cents));
  response->set_total_cents(r.total_cents);
  response->set_allocated(Money(r, r.allocated_cents));
  response->set_idle(Money(r, r.idle_cents));
  response->set_unallocated(Money(r, r.unallocated_cents));
  for (const CostLine& l : r.lines) {
    v1::CostLine* x = response->add_lines();
    x->set_host(l.host);
    x->set_host_class(l.host_class);
    x->set_service(l.service);
    x->set_business_unit(l.business_unit);
    x->set_category(std::string(ChargeCategoryName(l.category)));
    x->set_resource(l.resource);
    x->set_quantity(l.quantity);
    x->set_unit(l.unit);
    x->set_cost(Money(r, l.cents));
    x->set_cents(l.cents);
    x->set_allocation_method(l.allocation_method);
  }
  for (const UnitEconomics& u : cb->unit_economics) {
    v1::ServiceCostLine* x = response->add_services();
    x->set_service(u.service);
    const ServiceCost* sc = r.FindService(u.service);
    if (sc != nullptr) {
      x->set_business_unit(sc->business_unit);
      x->set_cost(Money(r, sc->cents));
      x->set_cents(sc->cents);
    } else {
      x->set_cost(Money(r, 0));
    }
    SetUnitEconomics(u, x);
    if (cb->month_over_month) SetChange(cb->month_over_month->services, u.service, x);
  }
  for (const BusinessUnitCost& b : r.business_units) {
    v1::BusinessUnitCostLine* x = response->add_business_units();
    x->set_business_unit(b.business_unit);
    x->set_cost(Money(r, b.cents));
    x->set_cents(b.cents);
    if (auto e = cb->forecast_error.find(b.business_unit); e != cb->forecast_error.end()) {
      x->set_forecast_backtests(e->second.forecasts);
      x->set_forecast_mean_absolute_percent_error(e->second.mean_absolute_percent_error);
      x->set_forecast_max_absolute_percent_error(e->second.max_absolute_percent_error);
    }
    for (const BusinessUnitEconomics& u : cb->unit_economics_by_unit) {
      if (u.business_unit == b.business_unit) SetUnitEconomics(u, x);
    }
    if (cb->month_over_month) SetChange(cb->month_over_month->business_units, b.business_unit, x);
    for (const BudgetStatus& s : cb->budgets) {
      if (s.business_unit != b.business_unit) continue;
      x->set_has_budget(true);
      x->set_budget(s.budget);
      x->set_spend_to_date(s.spend_to_date);
      x->set_projected(s.projected);
      x->set_budget_alert(s.alert);
      x->set_budget_message(s.message);
    }
  }
  for (const HostCost& h : r.hosts) {
    v1::HostCostLine* x = response->add_hosts();
    x->set_host(h.host);
    x->set_host_class(h.host_class);
    x->set_hours(h.hours);
    x->set_cpu_cores(h.cpu_cores);
    x->set_core_hours_used(h.core_hours_used);
    x->set_idle_core_hours(h.idle_core_hours);
    x->set_cost(Money(r, h.cents));
    x->set_unallocated(h.unallocated);
  }
  for (const SupplierCredit& s : cb->suppliers) {
    v1::SupplierCreditLine* x = response->add_suppliers();
    x->set_service(s.service);
    x->set_attainment(s.attainment);
    x->set_sla_percent(s.sla_percent);
    x->set_breached(s.breached);
    x->set_credit(s.credit);
  }
  if (request->focus_csv()) response->set_focus_csv(FocusCsv(r));
  return FinishUnary(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::GetMaturity(grpc::CallbackServerContext* context,
                                                    const v1::GetMaturityRequest* request,
                                                    v1::GetMaturityResponse* response) {
  counters_->Add("plumbline_query_requests_total", {{"method", "GetMaturity"}});
  if (grpc::Status denied = Authorize(*context, Role::kViewer, "GetMaturity"); !denied.ok()) {
    return FinishUnary(context, denied);
  }
  const int64_t window = request->window_ms() == 0 ? 7LL * 24 * 3600 * 1000 : request->window_ms();
  if (window < 60000 || window > 35LL * 24 * 3600 * 1000) {
    counters_->Add("plumbline_query_errors_total", {{"reason", "invalid"}});
    return FinishUnary(context, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                             "the window must be between 1 minute and 35 days"));
  }
  std::shared_ptr<const Catalog> catalog = catalog_->Get();
  absl::StatusOr<std::vector<ServiceMaturity>> all =
      EvaluateMaturity(*store_, *catalog, clock_->NowMs(), window);
  if (!all.ok()) return FinishUnary(context, ToGrpcStatus(all.status()));
  for (const ServiceMaturity& m : *all) {
    v1::ServiceMaturity* x = response->add_services();
    x->set_service(m.service);
    x->set_business_unit(m.business_unit);
    x->set_level(m.level);
    x->set_component_data(m.inputs.component_data);
    x->set_slo_defined(m.inputs.slo_defined);
    x->set_usage_measured(m.inputs.usage_measured);
    x->set_cost_mapped(m.inputs.cost_mapped);
    x->set_completeness(m.inputs.completeness);
    x->set_next_step(m.next_step);
  }
  MaturitySummary summary = Summarize(*all);
  for (int n : summary.per_level) response->add_services_per_level(n);
  response->set_mean_level(summary.mean_level);
  response->set_share_measurable(summary.share_measurable);
  response->set_window_ms(window);
  return FinishUnary(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::GetCapacity(grpc::CallbackServerContext* context,
                                                    const v1::GetCapacityRequest* request,
                                                    v1::GetCapacityResponse* response) {
  counters_->Add("plumbline_query_requests_total", {{"method", "GetCapacity"}});
  if (grpc::Status denied = Authorize(*context, Role::kViewer, "GetCapacity"); !denied.ok()) {
    return FinishUnary(context, denied);
  }
  const int64_t lookback =
      request->lookback_ms() == 0 ? kDefaultCapacityLookbackMs : request->lookback_ms();
  const double saturation = request->saturation() == 0 ? kDefaultSaturation : request->saturation();
  if (lookback > 35LL * 24 * 3600 * 1000) {
    counters_->Add("plumbline_query_errors_total", {{"reason", "invalid"}});
    return FinishUnary(context, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                             "the lookback must be at most 35 days"));
  }
  absl::StatusOr<std::vector<collector::CapacityForecast>> all =
      ForecastCapacity(*store_, clock_->NowMs(), lookback, saturation);
  if (!all.ok()) return FinishUnary(context, ToGrpcStatus(all.status()));
  for (const collector::CapacityForecast& f : *all) {
    v1::CapacityForecast* x = response->add_forecasts();
    x->set_host(f.host);
    x->set_resource(f.resource);
    x->set_target(f.target);
    x->set_current(f.current);
    x->set_capacity(f.capacity);
    x->set_used_ratio(f.used_ratio);
    x->set_growth_per_day(f.growth_per_day);
    x->set_has_days_to_full(f.days_to_full.has_value());
    x->set_days_to_full(f.days_to_full.value_or(0));
    x->set_r2(f.r2);
    x->set_points(f.points);
    x->set_message(f.message);
  }
  return FinishUnary(context, grpc::Status::OK);
}

}  // namespace plumbline::collector
