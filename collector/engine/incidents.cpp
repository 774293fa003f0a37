#include "collector/engine/incidents.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <set>

#include "absl/time/time.h"

namespace plumbline::collector {

namespace {

constexpr int64_t kMinute = 60000;

int64_t AlignDown(int64_t ms) { return ms - ((ms % kMinute) + kMinute) % kMinute; }

bool Excluded(const Service& s, int64_t minute) {
  for (const TimeRange& r : s.excluded) {
    if (r.Contains(minute)) return true;
  }
  return false;
}

bool MinuteBreaches(const Slo& slo, const SliCounts& c) {
  return c.has_data() && c.ratio() < slo.target();
}

std::string Percent(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g%%", ratio * 100);
  return buf;
}

// One service's detection: a chain of breaching minutes.
struct Detection {
  std::string service;
  TimeRange range;
  std::vector<Breach> breaches;
};

// Chains of breaching minutes (fewer than `close_after` quiet minutes between
// neighbours) holding a run of at least `open_after` consecutive ones.
std::vector<TimeRange> Chains(const std::set<int64_t>& minutes, const IncidentOptions& o) {
  std::vector<TimeRange> out;
  auto it = minutes.begin();
  while (it != minutes.end()) {
    int64_t first = *it, last = *it;
    int run = 1, longest = 1;
    for (++it; it != minutes.end(); ++it) {
      int64_t quiet = (*it - last) / kMinute - 1;
      if (quiet >= o.close_after_minutes) break;
      run = quiet == 0 ? run + 1 : 1;
      longest = std::max(longest, run);
      last = *it;
    }
    if (longest >= o.open_after_minutes) out.push_back({first, last + kMinute});
  }
  return out;
}

}  // namespace

std::string CompactUtc(int64_t ms) {
  return absl::FormatTime("%Y%m%dT%H%MZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

absl::StatusOr<ServiceMinutes> LoadServiceMinutes(Store& store, const Catalog& catalog,
                                                  int64_t from_ms, int64_t to_ms) {
  ServiceMinutes out;
  const int64_t from = AlignDown(from_ms), to = AlignDown(to_ms);
  for (const Service& s : catalog.services) {
    std::vector<SloMinutes>& list = out[s.id];
    if (to <= from) continue;
    for (const Slo& slo : s.slos) {
      const Sli* sli = s.FindSli(slo.sli);
      if (sli == nullptr) continue;
      SloMinutes m;
      m.slo = &slo;
      m.kind = sli->kind;
      ASSIGN_OR_RETURN(auto steps, EvaluateSliSteps(store, *sli, from, to, kMinute));
      for (const auto& [minute, c] : steps) {
        if (!Excluded(s, minute)) m.minutes.emplace(minute, c);
      }
      list.push_back(std::move(m));
    }
  }
  return out;
}

std::vector<std::string> AffectedServices(const Catalog& catalog,
                                          const std::vector<std::string>& services) {
  std::set<std::string> hit(services.begin(), services.end());
  // Dependents of dependents: repeat until nothing changes (the graph is small).
  bool grew = true;
  while (grew) {
    grew = false;
    for (const Service& s : catalog.services) {
      if (hit.count(s.id)) continue;
      for (const Dependency& d : s.dependencies) {
        if (hit.count(d.service)) {
          hit.insert(s.id);
          grew = true;
          break;
        }
      }
    }
  }
  std::vector<std::string> out;
  for (const Service& s : catalog.services) {
    if (hit.count(s.id)) out.push_back(s.id);
  }
  for (const std::string& id : services) {  // declared ids not in the catalog stay visible
    if (catalog.FindService(id) == nullptr) out.push_back(id);
  }
  return out;
}

std::vector<Incident> DetectIncidents(const Catalog& catalog, const ServiceMinutes& minutes,
                                      int64_t now_ms, const IncidentOptions& options) {
  std::vector<Detection> detections;
  for (const Service& s : catalog.services) {
    auto it = minutes.find(s.id);
    if (it == minutes.end()) continue;
    std::set<int64_t> breaching;
    for (const SloMinutes& m : it->second) {
      for (const auto& [minute, c] : m.minutes) {
        if (MinuteBreaches(*m.slo, c) && !Excluded(s, minute)) breaching.insert(minute);
      }
    }
    for (const TimeRange& chain : Chains(breaching, options)) {
      Detection d;
      d.service = s.id;
      d.range = chain;
      for (const SloMinutes& m : it->second) {
        Breach b;
        b.service = s.id;
        b.slo = m.slo->id;
        for (auto mi = m.minutes.lower_bound(chain.from_ms);
             mi != m.minutes.end() && mi->first < chain.to_ms; ++mi) {
          if (!MinuteBreaches(*m.slo, mi->second) || Excluded(s, mi->first)) continue;
          if (b.breaching_minutes++ == 0) b.range.from_ms = mi->first;
          b.range.to_ms = mi->first + kMinute;
          b.worst_ratio = std::min(b.worst_ratio, mi->second.ratio());
        }
        if (b.breaching_minutes > 0) d.breaches.push_back(std::move(b));
      }
      detections.push_back(std::move(d));
    }
  }

  // Merge overlapping detections of services connected through dependencies.
  std::map<std::string, std::set<std::string>> neighbours;
  for (const Service& s : catalog.services) {
    for (const Dependency& dep : s.dependencies) {
      neighbours[s.id].insert(dep.service);
      neighbours[dep.service].insert(s.id);
    }
  }
  auto connected = [&](const std::string& a, const std::string& b) {
    std::set<std::string> seen{a};
    std::vector<std::string> todo{a};
    while (!todo.empty()) {
      std::string x = todo.back();
      todo.pop_back();
      if (x == b) return true;
      for (const std::string& n : neighbours[x]) {
        if (seen.insert(n).second) todo.push_back(n);
      }
    }
    return false;
  };
  std::sort(detections.begin(), detections.end(), [](const Detection& a, const Detection& b) {
    return a.range.from_ms != b.range.from_ms ? a.range.from_ms < b.range.from_ms
                                              : a.service < b.service;
  });
  std::vector<std::vector<const Detection*>> groups;
  std::vector<TimeRange> spans;
  for (const Detection& d : detections) {
    bool placed = false;
    for (size_t g = 0; g < groups.size() && !placed; ++g) {
      if (d.range.from_ms >= spans[g].to_ms || d.range.to_ms <= spans[g].from_ms) continue;
      for (const Detection* other : groups[g]) {
        if (other->service == d.service || connected(other->service, d.service)) {
          groups[g].push_back(&d);
          spans[g].from_ms = std::min(spans[g].from_ms, d.range.from_ms);
          spans[g].to_ms = std::max(spans[g].to_ms, d.range.to_ms);
          placed = true;
          break;
        }
      }
    }
    if (!placed) {
      groups.push_back({&d});
      spans.push_back(d.range);
    }
  }

  std::vector<Incident> out;
  for (size_t g = 0; g < groups.size(); ++g) {
    Incident inc;
    inc.range = spans[g];
    const Detection* first = groups[g].front();
    inc.id = StrCat("auto-", first->service, "-", CompactUtc(inc.range.from_ms));
    std::set<std::string> detected;
    for (const Detection* d : groups[g]) {
      detected.insert(d->service);
      inc.breaches.insert(inc.breaches.end(), d->breaches.begin(), d->breaches.end());
    }
    for (const Service& s : catalog.services) {
      if (detected.count(s.id)) inc.detected_services.push_back(s.id);
    }
    inc.affected_services = AffectedServices(catalog, inc.detected_services);
    inc.open = now_ms - inc.range.to_ms < options.close_after_minutes * kMinute;
    const Service* s = catalog.FindService(first->service);
    if (!first->breaches.empty() && s != nullptr) {
      const Breach& b = first->breaches.front();
      const Slo* slo = nullptr;
      for (const Slo& x : s->slos) {
        if (x.id == b.slo) slo = &x;
      }
      inc.title = StrCat(s->name, ": ", b.slo, " below ", slo ? Percent(slo->target()) : "target");
    }
    if (inc.detected_services.size() > 1) {
      inc.title += StrCat(" (and ", inc.detected_services.size() - 1, " more)");
    }
    out.push_back(std::move(inc));
  }
  return out;
}

absl::StatusOr<std::vector<Incident>> ListIncidents(Store& store, const Catalog& catalog,
                                                    int64_t from_ms, int64_t to_ms, int64_t now_ms,
                                                    const IncidentOptions& options) {
  ASSIGN_OR_RETURN(ServiceMinutes minutes, LoadServiceMinutes(store, catalog, from_ms, to_ms));
  std::vector<Incident> out = DetectIncidents(catalog, minutes, now_ms, options);
  ASSIGN_OR_RETURN(std::vector<DeclaredIncident> declared, store.DeclaredIncidents(from_ms, to_ms));
  for (const DeclaredIncident& d : declared) {
    Incident inc;
    inc.id = d.id;
    inc.title = d.title;
    inc.declared = true;
    inc.open = d.to_ms == 0;
    inc.range = {d.from_ms, d.to_ms == 0 ? now_ms : d.to_ms};
    inc.detected_services = d.services;
    inc.affected_services = AffectedServices(catalog, d.services);
    inc.declared_by = d.declared_by;
    inc.declared_ms = d.declared_ms;
    out.push_back(std::move(inc));
  }
  for (Incident& inc : out) {
    ASSIGN_OR_RETURN(inc.notes, store.IncidentNotes(inc.id));
  }
  std::sort(out.begin(), out.end(), [](const Incident& a, const Incident& b) {
    return a.range.from_ms != b.range.from_ms ? a.range.from_ms > b.range.from_ms : a.id < b.id;
  });
  return out;
}

}  // namespace plumbline::collector
