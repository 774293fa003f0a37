// The business catalog: business units own business services; a service's
// components say which measurements belong to it; its SLIs and SLOs say how
// well it must serve; dependencies say whose failure it inherits. Users keep
// it as YAML in git (see configs/catalog.yaml); LoadCatalog validates it.
//
// A Catalog is immutable once loaded; share it as shared_ptr<const Catalog>
// and swap the pointer on reload.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collector/store/store.h"

namespace plumbline::collector {

struct BusinessUnit {
  std::string id;
  std::string name;
  std::string owner;
  std::map<std::string, std::string> metadata;
};

// Which measurements belong to a service: label matchers applied to series.
struct Component {
  std::string id;
  std::vector<std::string> hosts;    // globs on the `host` label ("web-*")
  std::string process;               // process matcher name (process source)
  std::string probe;                 // probe name (probe source)
  std::string log;                   // access log name (log source)
  std::vector<std::string> metrics;  // metric name globs (StatsD, scraped)
};

// One side of an SLI: a metric and label matchers.
struct MetricSelector {
  std::string metric;
  std::vector<LabelMatcher> match;
};

struct Sli {
  enum class Kind {
    kRatio,      // good (or valid - bad) over valid events, from counters
    kLatency,    // share of requests under a threshold, from a histogram
    kProbe,      // share of successful probe intervals (probe_success)
    kThreshold,  // share of minutes a gauge satisfies a bound
  };
  std::string id;
  Kind kind = Kind::kRatio;
  // kRatio: valid plus exactly one of good and bad.
  MetricSelector good, bad, valid;
  // kLatency: histogram base name (…_bucket, …_count) and a bucket bound.
  MetricSelector histogram;
  double threshold_seconds = 0;
  // kProbe: the probe's name (series probe_success{probe=...}).
  std::string probe;
  // kThreshold: gauge, comparison and bound; a minute is good when its mean
  // satisfies `mean <op> bound`.
  MetricSelector gauge;
  std::string op;  // one of < <= > >=
  double bound = 0;
};

struct Slo {
  std::string id;
  std::string sli;               // id of an Sli of the same service
  double target_percent = 99.9;  // in (0, 100]
  // Rolling window length, or a calendar period.
  enum class Period { kRolling, kWeek, kMonth, kQuarter };
  Period period = Period::kRolling;
  std::chrono::milliseconds window{30LL * 86400 * 1000};
  // Occurrences: every event counts. Time slices: each slice is good when its
  // own ratio meets the target, and budget is counted in slices.
  bool timeslices = false;
  std::chrono::milliseconds timeslice{60000};
  // Burn-rate alerts stay quiet while the long window has fewer valid
  // events than this (a low-volume service must not page on one failure).
  double min_events = 100;
  // 0..10; how much this objective weighs in the service's health score.
  double importance = 5;
  // Breaching this objective alone makes the service critical.
  bool critical = false;

  double target() const { return target_percent / 100.0; }
};

struct Dependency {
  std::string service;
  bool hard = true;   // hard: its failure is this service's failure
  double weight = 1;  // 0..1, share of the dependency's impact inherited
};

// A time range [from_ms, to_ms).
struct TimeRange {
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  bool Contains(int64_t t) const { return t >= from_ms && t < to_ms; }
};

// Planned downtime (maintenance) or a correction (a known-bad stretch of
// data, e.g. a broken probe): excluded from budgets, health, incident
// detection and impact for the listed services. The audit fields say who
// recorded it, when and why; the catalog's git history keeps the rest.
struct Exclusion {
  std::string id;
  enum class Kind { kMaintenance, kCorrection };
  Kind kind = Kind::kMaintenance;
  std::vector<std::string> services;
  TimeRange range;
  std::string reason;
  std::string by;
  int64_t recorded_ms = 0;
};

// When a service earns its revenue: days of the week and a time of day in
// the service's time zone ("Mon-Fri 08:00-18:00").
struct BusinessHours {
  uint8_t days = 0;       // bit 0 = Monday .. bit 6 = Sunday
  int start_minute = 0;   // minutes after midnight, inclusive
  int end_minute = 1440;  // exclusive
};

struct Service {
  std::string id;
  std::string name;
  std::string business_unit;
  std::string owner;
  int tier = 2;           // 1 = most critical
  bool external = false;  // a supplier (payment provider, SaaS) measured by probes
  double revenue_per_hour = 0;
  double value_per_transaction = 0;
  double users = 0;
  std::string timezone = "UTC";
  // Empty: every hour counts. Else revenue per hour is at risk only within.
  std::vector<BusinessHours> business_hours;
  std::map<std::string, std::string> metadata;
  std::vector<Component> components;
  std::vector<Sli> slis;
  std::vector<Slo> slos;
  std::vector<Dependency> dependencies;
  // Ranges excluded by maintenance windows and corrections naming this
  // service, sorted and merged.
  std::vector<TimeRange> excluded;

  const Sli* FindSli(const std::string& sli_id) const;
  // Whether the minute starting at `ms` lies in business hours (always true
  // without business hours).
  bool InBusinessHours(int64_t ms) const;
};

struct RateCard;  // collector/catalog/rate_card.h

struct Catalog {
  std::string source;  // file it was loaded from
  std::vector<BusinessUnit> business_units;
  std::vector<Service> services;
  std::vector<Exclusion> exclusions;
  // The `costs:` section (docs/cost.md); never null, `defined` false without one.
  std::shared_ptr<const RateCard> rate_card;
  // The currency (ISO 4217) of revenue figures (revenue_per_hour,
  // value_per_transaction): the catalog's `currency`, else the rate card's;
  // empty when neither gives one.
  std::string currency;

  const Service* FindService(const std::string& id) const;
  const BusinessUnit* FindBusinessUnit(const std::string& id) const;
  // Services that depend on `id`, directly.
  std::vector<const Service*> Dependents(const std::string& id) const;
};

// "Mon-Fri 08:00-18:00", "Sat 09:00-13:00", "daily 00:00-24:00",
// "Mon,Wed,Fri 10:00-12:00".
absl::StatusOr<BusinessHours> ParseBusinessHours(std::string_view text);

// A selector's match value that a series can carry: ingest refuses label
// values with control characters, bad UTF-8 or over the length limit, so a
// matcher on one matches nothing (and a NUL in one cut the OpenSLO export
// short). The error names the label. Used by the catalog and OpenSLO readers.
absl::Status CheckMatchValue(std::string_view label, std::string_view value);

// Catalog ids (services, business units, SLOs, ...): letters, digits, - _ .
// at most 64.
bool IsValidCatalogId(std::string_view id);

// [from, to) minus the ranges in `excluded` (sorted, non-overlapping).
std::vector<TimeRange> SubtractRanges(TimeRange window, const std::vector<TimeRange>& excluded);

// Reads and validates a catalog. Every error names file, line and field:
//   catalog.yaml:42: services[1].slos[0].target: must be in (0, 100], got 120
absl::StatusOr<Catalog> LoadCatalog(const std::string& file);
absl::StatusOr<Catalog> ParseCatalog(std::string_view text, const std::string& name);

}  // namespace plumbline::collector
