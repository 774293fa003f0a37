#include "collector/engine/maturity.h"

#include <cstdio>
#include <set>

#include "collector/catalog/rate_card.h"
#include "collector/engine/cost.h"
#include "collector/engine/slo_engine.h"

namespace plumbline::collector {

namespace {

constexpr int64_t kMinute = 60000;

int64_t AlignDown(int64_t ms) { return ms - ((ms % kMinute) + kMinute) % kMinute; }

absl::StatusOr<bool> HasData(Store& store, const SeriesSelector& selector, int64_t from,
                             int64_t to) {
  ASSIGN_OR_RETURN(std::vector<SeriesAggregates> series,
                   store.Aggregates(selector, from, to, to - from));
  for (const SeriesAggregates& s : series) {
    if (!s.buckets.empty()) return true;
  }
  return false;
}

}  // namespace

ServiceMaturity Assess(const Service& service, const MaturityInputs& in) {
  ServiceMaturity m;
  m.service = service.id;
  m.business_unit = service.business_unit;
  m.inputs = in;
  char pct[32];
  std::snprintf(pct, sizeof pct, "%.1f%%", in.completeness * 100);
  if (!in.component_data) {
    m.level = 0;
    m.next_step = service.components.empty()
                      ? "add components that say which measurements belong to the service"
                      : "no data arrives for its components: check that agents measure them";
  } else if (!in.slo_defined) {
    m.level = 1;
    m.next_step = "define an SLO";
  } else if (!in.usage_measured) {
    m.level = 2;
    m.next_step =
        "measure usage: a ratio or latency SLI over request counts (access log, StatsD or "
        "scraped counters) with traffic";
  } else if (!in.cost_mapped) {
    m.level = 3;
    m.next_step = "map cost: a rate card (costs:) and a component whose hosts report usage";
  } else if (in.completeness < kCompleteness) {
    m.level = 4;
    m.next_step = StrCat("complete the data: ", pct, " of the window has data, 99% needed");
  } else {
    m.level = 5;
  }
  return m;
}

MaturitySummary Summarize(const std::vector<ServiceMaturity>& services) {
  MaturitySummary s;
  s.services = static_cast<int>(services.size());
  double sum = 0;
  int measurable = 0;
  for (const ServiceMaturity& m : services) {
    s.per_level[m.level] += 1;
    sum += m.level;
    measurable += m.level >= 3 ? 1 : 0;
  }
  if (s.services > 0) {
    s.mean_level = sum / s.services;
    s.share_measurable = static_cast<double>(measurable) / s.services;
  }
  return s;
}

absl::StatusOr<std::vector<ServiceMaturity>> EvaluateMaturity(Store& store, const Catalog& catalog,
                                                              int64_t now_ms, int64_t window_ms) {
  const int64_t to = AlignDown(now_ms), from = AlignDown(now_ms - window_ms);
  std::vector<ServiceMaturity> out;
  if (to <= from) return out;
  // Hosts that report usage (the cost inputs).
  std::set<std::string> reporting_hosts;
  ASSIGN_OR_RETURN(std::vector<SeriesAggregates> counts,
                   store.Aggregates({"host_cpu_count", {}}, from, to, to - from));
  for (const SeriesAggregates& s : counts) {
    if (s.buckets.empty()) continue;
    for (const auto& [k, v] : s.series.labels) {
      if (k == "host") reporting_hosts.insert(v);
    }
  }
  using Op = LabelMatcher::Op;
  auto matcher = [](const std::string& label, const std::string& value) {
    bool glob = value.find_first_of("*?[") != std::string::npos;
    return LabelMatcher{label, glob ? Op::kGlob : Op::kEqual, value};
  };
  for (const Service& s : catalog.services) {
    MaturityInputs in;
    for (const Component& c : s.components) {
      std::vector<SeriesSelector> selectors;
      for (const std::string& h : c.hosts)
        selectors.push_back({"host_cpu_count", {matcher("host", h)}});
      if (!c.process.empty()) selectors.push_back({"process_up", {matcher("process", c.process)}});
      if (!c.probe.empty()) selectors.push_back({"probe_success", {matcher("probe", c.probe)}});
      if (!c.log.empty()) selectors.push_back({"http_requests_total", {matcher("log", c.log)}});
      for (const std::string& m : c.metrics) {
        if (m.find_first_of("*?[") == std::string::npos) selectors.push_back({m, {}});
      }
      for (const SeriesSelector& sel : selectors) {
        if (in.component_data) break;
        ASSIGN_OR_RETURN(in.component_data, HasData(store, sel, from, to));
      }
    }
    in.slo_defined = !s.slos.empty();
    std::set<int64_t> minutes;
    for (const Sli& sli : s.slis) {
      ASSIGN_OR_RETURN(auto steps, EvaluateSliSteps(store, sli, from, to, kMinute));
      for (const auto& [minute, c] : steps) {
        if (!c.has_data()) continue;
        minutes.insert(minute);
        if (sli.kind == Sli::Kind::kRatio || sli.kind == Sli::Kind::kLatency)
          in.usage_measured = true;
      }
    }
    in.completeness =
        static_cast<double>(minutes.size()) / static_cast<double>((to - from) / kMinute);
    if (catalog.rate_card != nullptr && catalog.rate_card->defined) {
      for (const std::string& host : reporting_hosts) {
        for (const std::string& id : ClaimingServices(catalog, host)) {
          if (id == s.id) in.cost_mapped = true;
        }
      }
    }
    out.push_back(Assess(s, in));
  }
  return out;
}

}  // namespace plumbline::collector
