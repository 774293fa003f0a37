#include "collector/engine/report.h"

#include <algorithm>
#include <map>

#include "collector/catalog/rate_card.h"
#include "collector/engine/chargeback.h"
#include "common/strings.h"

namespace plumbline::collector {

namespace {

constexpr int64_t kMinute = 60000;

// What the chargeback says of one service over the window.
struct Charged {
  int64_t cents = 0;
  const UnitEconomics* economics = nullptr;  // none: neither cost nor activity
};

}  // namespace

std::string_view ObjectiveKindName(ObjectiveAttainment::Kind kind) {
  return kind == ObjectiveAttainment::Kind::kLatency ? "latency" : "availability";
}

absl::StatusOr<ServiceReport> EvaluateServiceReport(Store& store, const Catalog& catalog,
                                                    TimeRange period, int64_t now_ms,
                                                    const std::string& business_unit) {
  if (!business_unit.empty() && catalog.FindBusinessUnit(business_unit) == nullptr) {
    return absl::NotFoundError(StrCat("unknown business unit \"", business_unit, "\""));
  }
  // The window the chargeback allocates, so that SLOs and cost cover the same minutes.
  ServiceReport out;
  out.window = {FloorTo(period.from_ms, kMinute),
                std::min(FloorTo(period.to_ms, kMinute), FloorTo(now_ms, kMinute))};
  if (out.window.to_ms <= out.window.from_ms) {
    return absl::InvalidArgumentError("the period has not started yet");
  }

  std::optional<Chargeback> chargeback;
  std::map<std::string, Charged> charged;
  if (catalog.rate_card->defined) {
    ASSIGN_OR_RETURN(chargeback, EvaluateChargeback(store, catalog, out.window, now_ms));
    const CostReport& r = chargeback->report;
    out.has_cost = true;
    out.currency = r.currency;
    out.minor_digits = r.minor_digits;
    for (const ServiceCost& s : r.services) charged[s.service].cents = s.cents;
    for (const UnitEconomics& u : chargeback->unit_economics) charged[u.service].economics = &u;
  } else {
    out.currency = catalog.currency;
    out.note =
        "the catalog has no costs: section (a rate card), so the report has no cost or "
        "revenue; see docs/cost.md";
  }

  for (const Service& s : catalog.services) {
    if (!business_unit.empty() && s.business_unit != business_unit) continue;
    ServiceReportRow row;
    row.service = s.id;
    row.name = s.name;
    row.business_unit = s.business_unit;
    for (const Slo& slo : s.slos) {
      const Sli* sli = s.FindSli(slo.sli);
      if (sli == nullptr) continue;  // the catalog loader refuses this
      ObjectiveAttainment o;
      o.slo = slo.id;
      o.sli = sli->id;
      o.kind = sli->kind == Sli::Kind::kLatency ? ObjectiveAttainment::Kind::kLatency
                                                : ObjectiveAttainment::Kind::kAvailability;
      o.target = slo.target();
      ASSIGN_OR_RETURN(o.counts, EvaluateSliOutside(store, *sli, out.window.from_ms,
                                                    out.window.to_ms, s.excluded));
      o.attainment = o.counts.ratio();
      o.met = o.counts.has_data() && o.attainment >= o.target;
      row.objectives.push_back(std::move(o));
    }
    if (chargeback) {
      const Charged& c = charged[s.id];
      row.cents = c.cents;
      if (c.economics != nullptr) {
        row.requests = c.economics->transactions;
        row.cost_per_1000_requests = c.economics->cost_per_1000_transactions;
      }
      if (s.value_per_transaction > 0 || s.revenue_per_hour > 0) {
        row.revenue = c.economics != nullptr ? c.economics->revenue : 0;
      }
    } else {
      // The chargeback's transactions, which it cannot give without a rate card.
      for (const Sli& sli : s.slis) {
        if (sli.kind != Sli::Kind::kRatio && sli.kind != Sli::Kind::kLatency) continue;
        ASSIGN_OR_RETURN(SliCounts c,
                         EvaluateSli(store, sli, out.window.from_ms, out.window.to_ms));
        row.requests = std::max(row.requests, c.valid);
      }
    }
    out.services.push_back(std::move(row));
  }
  return out;
}

}  // namespace plumbline::collector
