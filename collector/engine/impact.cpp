#include "collector/engine/impact.h"

#include <algorithm>
#include <functional>
#include <set>

namespace plumbline::collector {

namespace {

constexpr int64_t kMinute = 60000;
constexpr double kEpsilon = 1e-12;

int64_t AlignDown(int64_t ms) { return ms - ((ms % kMinute) + kMinute) % kMinute; }

bool Excluded(const Service& s, int64_t minute) {
  for (const TimeRange& r : s.excluded) {
    if (r.Contains(minute)) return true;
  }
  return false;
}

// One service's per-minute figures over the window.
struct Effective {
  std::map<int64_t, double> own;                   // measured failed share (> 0 only)
  std::map<int64_t, double> share;                 // effective failed share E (> 0 only)
  std::map<int64_t, double> requests;              // valid events
  std::map<std::string, double> inherited_by_dep;  // sum of what each dependency raised E by
};

}  // namespace

ImpactReport ComputeImpact(
    const Catalog& catalog, const ServiceMinutes& minutes, TimeRange range,
    const std::vector<std::string>& scope,
    const std::map<std::string, std::map<std::string, SloStatus>>& slo_status) {
  const int64_t from = AlignDown(range.from_ms), to = AlignDown(range.to_ms);
  std::map<std::string, Effective> done;
  std::function<const Effective&(const Service&)> effective =
      [&](const Service& s) -> const Effective& {
    if (auto it = done.find(s.id); it != done.end()) return it->second;
    Effective e;
    if (auto it = minutes.find(s.id); it != minutes.end()) {
      for (const SloMinutes& m : it->second) {
        const bool events = m.kind == Sli::Kind::kRatio || m.kind == Sli::Kind::kLatency;
        for (auto mi = m.minutes.lower_bound(from); mi != m.minutes.end() && mi->first < to; ++mi) {
          if (Excluded(s, mi->first) || !mi->second.has_data()) continue;
          double bad_share = mi->second.bad() / mi->second.valid;
          if (bad_share > 0) e.own[mi->first] = std::max(e.own[mi->first], bad_share);
          if (events) e.requests[mi->first] = std::max(e.requests[mi->first], mi->second.valid);
        }
      }
    }
    e.share = e.own;
    for (const Dependency& d : s.dependencies) {
      const Service* dep = catalog.FindService(d.service);
      if (dep == nullptr) continue;
      const Effective& de = effective(*dep);
      for (const auto& [minute, dep_share] : de.share) {
        if (Excluded(s, minute)) continue;
        const double inherited = d.weight * dep_share;
        auto mine = e.share.find(minute);
        const double current = mine == e.share.end() ? 0 : mine->second;
        if (inherited > current) {
          e.inherited_by_dep[d.service] += inherited - current;
          e.share[minute] = inherited;
        }
      }
    }
    return done.emplace(s.id, std::move(e)).first->second;
  };

  std::set<std::string> wanted(scope.begin(), scope.end());
  ImpactReport report;
  report.range = {from, to};
  std::map<std::string, BusinessUnitImpact> units;
  for (const Service& s : catalog.services) {
    const Effective& e = effective(s);
    if (wanted.empty() ? e.share.empty() : wanted.count(s.id) == 0) continue;
    ServiceImpact x;
    x.service = s.id;
    x.name = s.name;
    x.business_unit = s.business_unit;

    int64_t excluded_minutes = 0;
    for (int64_t m = from; m < to; m += kMinute) excluded_minutes += Excluded(s, m) ? 1 : 0;
    x.window_minutes = static_cast<double>((to - from) / kMinute - excluded_minutes);

    double allowed = 1;  // the strictest SLO's allowed bad share
    for (const Slo& slo : s.slos) allowed = std::min(allowed, 1 - slo.target());
    if (s.slos.empty()) allowed = 0;

    double share_sum = 0, own_sum = 0;
    for (const auto& [minute, share] : e.share) {
      share_sum += share;
      double own = e.own.count(minute) ? e.own.at(minute) : 0;
      own_sum += own;
      if (share > allowed + kEpsilon) x.degraded_minutes += 1;
      auto r = e.requests.find(minute);
      if (r != e.requests.end()) {
        x.failed_requests += share * r->second;
        x.failed_requests_propagated += (share - own) * r->second;
      }
    }
    for (const auto& [minute, n] : e.requests) x.requests += n;
    x.propagated_only = own_sum == 0 && share_sum > 0;
    double best = 0;
    for (const auto& [dep, amount] : e.inherited_by_dep) {
      if (amount > best) {
        best = amount;
        x.via = dep;
      }
    }
    x.failed_share = x.window_minutes > 0 ? share_sum / x.window_minutes : 0;
    x.users_affected = s.users * x.failed_share;
    if (s.value_per_transaction > 0 && x.requests > 0) {
      x.revenue_at_risk = s.value_per_transaction * x.failed_requests;
      x.revenue_at_risk_propagated = s.value_per_transaction * x.failed_requests_propagated;
    } else {
      // Revenue per hour is earned (and at risk) in business hours only.
      double business_share = 0, business_own = 0;
      for (const auto& [minute, share] : e.share) {
        if (!s.InBusinessHours(minute)) continue;
        business_share += share;
        business_own += e.own.count(minute) ? e.own.at(minute) : 0;
      }
      x.revenue_at_risk = s.revenue_per_hour * business_share / 60;
      x.revenue_at_risk_propagated = s.revenue_per_hour * (business_share - business_own) / 60;
    }

    // Error budget and SLA per SLO, from what the SLO itself measured.
    auto status_of = slo_status.find(s.id);
    if (auto it = minutes.find(s.id); it != minutes.end()) {
      for (const SloMinutes& m : it->second) {
        SloImpact si;
        si.slo = m.slo->id;
        si.target = m.slo->target();
        const int64_t slice = m.slo->timeslices ? m.slo->timeslice.count() : 0;
        std::map<int64_t, SliCounts> slices;
        for (auto mi = m.minutes.lower_bound(from); mi != m.minutes.end() && mi->first < to; ++mi) {
          if (Excluded(s, mi->first)) continue;
          if (slice > 0) {
            SliCounts& c = slices[from + (mi->first - from) / slice * slice];
            c.good += mi->second.good;
            c.valid += mi->second.valid;
          } else {
            si.bad += mi->second.bad();
          }
        }
        for (const auto& [start, c] : slices) {
          if (c.has_data() && c.ratio() < si.target) si.bad += 1;
        }
        if (status_of != slo_status.end()) {
          auto st = status_of->second.find(m.slo->id);
          if (st != status_of->second.end()) {
            const SloStatus& status = st->second;
            if (status.budget_total > 0) {
              si.budget_burned = si.bad / status.budget_total;
            } else {
              si.budget_burned = si.bad > 0 ? 1 : 0;  // a 100% target: any failure spends it
            }
            si.budget_burned_minutes = si.budget_burned * status.budget_minutes_total;
            si.attainment = status.attainment;
            si.sla_breached = status.breached;
          }
        }
        x.slos.push_back(std::move(si));
      }
    }

    BusinessUnitImpact& u = units[s.business_unit];
    u.business_unit = s.business_unit;
    u.failed_requests += x.failed_requests;
    u.users_affected += x.users_affected;
    u.revenue_at_risk += x.revenue_at_risk;
    u.revenue_at_risk_propagated += x.revenue_at_risk_propagated;
    u.degraded_minutes += x.degraded_minutes;
    u.services += 1;
    report.failed_requests += x.failed_requests;
    report.users_affected += x.users_affected;
    report.revenue_at_risk += x.revenue_at_risk;
    report.services.push_back(std::move(x));
  }
  for (auto& [id, u] : units) report.business_units.push_back(std::move(u));
  return report;
}

absl::StatusOr<ImpactReport> EvaluateImpact(Store& store, const Catalog& catalog, TimeRange range,
                                            const std::vector<std::string>& scope) {
  ASSIGN_OR_RETURN(ServiceMinutes minutes,
                   LoadServiceMinutes(store, catalog, range.from_ms, range.to_ms));
  ImpactReport first = ComputeImpact(catalog, minutes, range, scope, {});
  std::map<std::string, std::map<std::string, SloStatus>> statuses;
  for (const ServiceImpact& x : first.services) {
    const Service* s = catalog.FindService(x.service);
    if (s == nullptr) continue;
    for (const Slo& slo : s->slos) {
      ASSIGN_OR_RETURN(SloStatus st, EvaluateSlo(store, *s, slo, AlignDown(range.to_ms)));
      statuses[s->id].emplace(slo.id, std::move(st));
    }
  }
  return ComputeImpact(catalog, minutes, range, scope, statuses);
}

}  // namespace plumbline::collector
