// Incidents: detected automatically when a service's SLIs breach their
// objectives, or declared by SREs for a time window.
//
// Detection (docs/value.md; tests/unit/incidents_test.cpp):
//   - a minute breaches an SLO when it has data and its good/valid ratio is
//     below the target; minutes in maintenance or corrections never breach;
//     minutes without data are neutral (they neither breach nor heal)
//   - breaching minutes of all of a service's SLOs form chains: two breaching
//     minutes belong together when fewer than `close_after` minutes with no
//     breach lie between them
//   - a chain is an incident when it holds at least `open_after` consecutive
//     breaching minutes (a one-minute blip does not open one); it spans from
//     its first breaching minute to the end of its last, and is open while
//     fewer than `close_after` minutes have passed since its last breach
//   - detections on services connected through dependencies whose spans
//     overlap merge into one incident; the affected services are the
//     detected ones plus everything that depends on them, transitively
//   - the id is stable: auto-<first service>-<start as YYYYMMDDTHHMMZ>
#pragma once

#include <map>
#include <string>
#include <vector>

#include "collector/catalog/catalog.h"
#include "collector/engine/slo_engine.h"
#include "collector/store/store.h"

namespace plumbline::collector {

struct IncidentOptions {
  int open_after_minutes = 2;
  int close_after_minutes = 5;
};

// One SLO's counts per minute start over a window.
struct SloMinutes {
  const Slo* slo = nullptr;
  Sli::Kind kind = Sli::Kind::kRatio;
  std::map<int64_t, SliCounts> minutes;
};

// Per service id: each SLO's minutes over [from, to), excluded minutes removed.
using ServiceMinutes = std::map<std::string, std::vector<SloMinutes>>;

absl::StatusOr<ServiceMinutes> LoadServiceMinutes(Store& store, const Catalog& catalog,
                                                  int64_t from_ms, int64_t to_ms);

struct Breach {
  std::string service;
  std::string slo;
  TimeRange range;
  int breaching_minutes = 0;
  double worst_ratio = 1;  // lowest good/valid of a breaching minute
};

struct Incident {
  std::string id;
  std::string title;
  bool declared = false;
  bool open = false;
  TimeRange range;                             // open incidents: up to the end of the last breach
  std::vector<std::string> detected_services;  // breached (or named when declared)
  std::vector<std::string> affected_services;  // detected + dependents, transitively
  std::vector<Breach> breaches;
  std::string declared_by;
  int64_t declared_ms = 0;
  std::vector<IncidentNote> notes;
};

// Detection on loaded minutes; `now_ms` decides which incidents are open.
std::vector<Incident> DetectIncidents(const Catalog& catalog, const ServiceMinutes& minutes,
                                      int64_t now_ms, const IncidentOptions& options = {});

// Services depending on any of `services`, transitively, plus `services`
// themselves, in catalog order.
std::vector<std::string> AffectedServices(const Catalog& catalog,
                                          const std::vector<std::string>& services);

// Detected and declared incidents overlapping [from, to), newest first, with
// their notes.
absl::StatusOr<std::vector<Incident>> ListIncidents(Store& store, const Catalog& catalog,
                                                    int64_t from_ms, int64_t to_ms, int64_t now_ms,
                                                    const IncidentOptions& options = {});

// "20261127T0812Z"
std::string CompactUtc(int64_t ms);

}  // namespace plumbline::collector
