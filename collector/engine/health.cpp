#include "collector/engine/health.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>

#include "collector/engine/slo_engine.h"

namespace plumbline::collector {

namespace {

std::string Fixed(double v, int digits = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string BurnText(double burn) { return std::isinf(burn) ? "infinite" : Fixed(burn, 2); }

}  // namespace

double IndicatorScore(double burn, double critical_burn) {
  if (std::isnan(burn) || burn <= 1) return 100;
  if (burn >= critical_burn) return 0;
  return 100 * (critical_burn - burn) / (critical_burn - 1);
}

std::string HealthStatus(const std::optional<double>& score) {
  if (!score) return "no data";
  if (*score >= 90) return "healthy";
  if (*score >= 50) return "degraded";
  return "critical";
}

std::vector<ServiceHealth> ComputeHealth(
    const Catalog& catalog, const std::map<std::string, std::vector<IndicatorHealth>>& indicators) {
  std::map<std::string, ServiceHealth> done;
  // Depth-first over dependencies; the catalog has no cycles.
  std::function<const ServiceHealth&(const Service&)> score =
      [&](const Service& s) -> const ServiceHealth& {
    if (auto it = done.find(s.id); it != done.end()) return it->second;
    ServiceHealth h;
    h.service = s.id;
    if (auto it = indicators.find(s.id); it != indicators.end()) h.indicators = it->second;
    std::string why;

    // Own score: importance-weighted mean of the indicators with data.
    double weight_sum = 0, weighted = 0, plain_sum = 0;
    int with_data = 0;
    for (IndicatorHealth& ind : h.indicators) {
      if (!ind.has_data) {
        why += StrCat(ind.slo, ": no data in the window, left out; ");
        continue;
      }
      ind.score = IndicatorScore(ind.burn);
      weight_sum += ind.importance;
      weighted += ind.importance * ind.score;
      plain_sum += ind.score;
      ++with_data;
      why += StrCat(ind.slo, ": burn rate ", BurnText(ind.burn), " -> ", Fixed(ind.score),
                    " (importance ", Fixed(ind.importance, 0), ind.critical ? ", critical" : "",
                    "); ");
    }

    // Soft dependencies join the mean as indicators of importance 10 x weight.
    std::vector<std::pair<double, double>> soft;  // importance, score
    for (const Dependency& d : s.dependencies) {
      const Service* dep = catalog.FindService(d.service);
      if (dep == nullptr) continue;
      const ServiceHealth& dh = score(*dep);
      DependencyHealth x;
      x.service = d.service;
      x.hard = d.hard;
      x.weight = d.weight;
      x.health = dh.score;
      if (!d.hard) {
        x.effect = 10 * d.weight;
        if (dh.score) soft.emplace_back(x.effect, *dh.score);
      } else {
        x.effect = dh.score ? 100 - d.weight * (100 - *dh.score) : 100;
      }
      h.dependencies.push_back(x);
    }
    if (with_data > 0) {
      h.own_score = weight_sum > 0 ? weighted / weight_sum : plain_sum / with_data;
      why += StrCat("own score ", Fixed(*h.own_score), "; ");
    }

    std::optional<double> result;
    if (with_data > 0 || !soft.empty()) {
      double w = weight_sum, v = weighted;
      if (weight_sum == 0 && with_data > 0) {  // all importances 0: equal weights
        w = with_data;
        v = plain_sum;
      }
      for (const auto& [importance, sc] : soft) {
        w += importance;
        v += importance * sc;
      }
      result = w > 0 ? v / w : h.own_score.value_or(100);
      if (!soft.empty()) why += StrCat("with soft dependencies ", Fixed(*result), "; ");
    }
    for (const IndicatorHealth& ind : h.indicators) {
      if (ind.critical && ind.has_data && result && ind.score < *result) {
        result = ind.score;
        why +=
            StrCat("critical indicator ", ind.slo, " caps the score at ", Fixed(ind.score), "; ");
      }
    }
    for (const DependencyHealth& d : h.dependencies) {
      if (!d.hard || !d.health) continue;
      if (!result || d.effect < *result) {
        result = result ? std::min(*result, d.effect) : d.effect;
        why += StrCat("hard dependency ", d.service, " (health ", Fixed(*d.health), ", weight ",
                      Fixed(d.weight, 2), ") caps the score at ", Fixed(d.effect), "; ");
      }
    }
    h.score = result;
    h.status = HealthStatus(result);
    if (!result) {
      why += "no indicator and no dependency has data";
    } else {
      why += StrCat("health ", Fixed(*result), " (", h.status, ")");
    }
    h.explanation = std::move(why);
    return done.emplace(s.id, std::move(h)).first->second;
  };

  std::vector<ServiceHealth> out;
  out.reserve(catalog.services.size());
  for (const Service& s : catalog.services) out.push_back(score(s));
  return out;
}

absl::StatusOr<std::vector<ServiceHealth>> EvaluateHealth(Store& store, const Catalog& catalog,
                                                          int64_t now_ms, int64_t window_ms) {
  std::map<std::string, std::vector<IndicatorHealth>> indicators;
  for (const Service& s : catalog.services) {
    for (const Slo& slo : s.slos) {
      const Sli* sli = s.FindSli(slo.sli);
      if (sli == nullptr) continue;
      ASSIGN_OR_RETURN(SliCounts c,
                       EvaluateSliOutside(store, *sli, now_ms - window_ms, now_ms, s.excluded));
      IndicatorHealth ind;
      ind.slo = slo.id;
      ind.sli = slo.sli;
      ind.importance = slo.importance;
      ind.critical = slo.critical;
      ind.has_data = c.has_data();
      ind.valid = c.valid;
      if (c.has_data()) {
        const double allowed = 1 - slo.target();
        const double bad_share = c.bad() / c.valid;
        ind.burn = allowed > 0 ? bad_share / allowed
                               : (bad_share > 0 ? std::numeric_limits<double>::infinity() : 0);
      }
      indicators[s.id].push_back(std::move(ind));
    }
  }
  return ComputeHealth(catalog, indicators);
}

}  // namespace plumbline::collector
