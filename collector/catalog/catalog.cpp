#include "collector/catalog/catalog.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "collector/catalog/rate_card.h"
#include "common/labels.h"
#include "common/strings.h"
#include "common/yaml_config.h"

namespace plumbline::collector {

const Sli* Service::FindSli(const std::string& sli_id) const {
  for (const Sli& s : slis) {
    if (s.id == sli_id) return &s;
  }
  return nullptr;
}

bool Service::InBusinessHours(int64_t ms) const {
  if (business_hours.empty()) return true;
  absl::TimeZone tz;
  if (!absl::LoadTimeZone(timezone, &tz)) tz = absl::UTCTimeZone();  // validated at load
  absl::CivilMinute local = absl::ToCivilMinute(absl::FromUnixMillis(ms), tz);
  int weekday = (static_cast<int>(absl::GetWeekday(absl::CivilDay(local))) -
                 static_cast<int>(absl::Weekday::monday) + 7) %
                7;
  int minute = local.hour() * 60 + local.minute();
  for (const BusinessHours& b : business_hours) {
    if ((b.days >> weekday & 1) != 0 && minute >= b.start_minute && minute < b.end_minute) {
      return true;
    }
  }
  return false;
}

absl::Status CheckMatchValue(std::string_view label, std::string_view value) {
  absl::Status v = ValidateLabelValue(value);
  if (v.ok()) return v;
  return absl::InvalidArgumentError(
      StrCat("label \"", label, "\": ", ToStd(v.message()), " (no series has it)"));
}

absl::StatusOr<BusinessHours> ParseBusinessHours(std::string_view text) {
  static constexpr const char* kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        StrCat("\"", text, "\": ", why, " (expected e.g. \"Mon-Fri 08:00-18:00\")"));
  };
  size_t space = text.find(' ');
  if (space == std::string_view::npos) return bad("days and times are separated by a space");
  std::string_view days = text.substr(0, space), times = text.substr(space + 1);
  auto day_index = [&](std::string_view d) -> int {
    for (int i = 0; i < 7; ++i) {
      if (d == kDays[i]) return i;
    }
    return -1;
  };
  BusinessHours b;
  if (days == "daily") {
    b.days = 0x7f;
  } else {
    for (std::string_view part : Split(days, ',')) {
      size_t dash = part.find('-');
      int from = day_index(part.substr(0, dash));
      int to = dash == std::string_view::npos ? from : day_index(part.substr(dash + 1));
      if (from < 0 || to < 0) return bad("days are Mon Tue Wed Thu Fri Sat Sun or daily");
      for (int d = from;; d = (d + 1) % 7) {
        b.days |= static_cast<uint8_t>(1 << d);
        if (d == to) break;
      }
    }
  }
  auto clock = [](std::string_view t) -> int {
    if (t.size() != 5 || t[2] != ':') return -1;
    for (size_t i : {0, 1, 3, 4}) {
      if (t[i] < '0' || t[i] > '9') return -1;
    }
    int h = (t[0] - '0') * 10 + (t[1] - '0'), m = (t[3] - '0') * 10 + (t[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0)) return -1;
    return h * 60 + m;
  };
  size_t dash = times.find('-');
  if (dash == std::string_view::npos) return bad("times are HH:MM-HH:MM");
  b.start_minute = clock(times.substr(0, dash));
  b.end_minute = clock(times.substr(dash + 1));
  if (b.start_minute < 0 || b.end_minute < 0) return bad("times are HH:MM-HH:MM");
  if (b.end_minute <= b.start_minute) {
    return bad("the end must be after the start (split a range that crosses midnight in two)");
  }
  return b;
}

const Service* Catalog::FindService(const std::string& id) const {
  for (const Service& s : services) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

const BusinessUnit* Catalog::FindBusinessUnit(const std::string& id) const {
  for (const BusinessUnit& b : business_units) {
    if (b.id == id) return &b;
  }
  return nullptr;
}

std::vector<const Service*> Catalog::Dependents(const std::string& id) const {
  std::vector<const Service*> out;
  for (const Service& s : services) {
    for (const Dependency& d : s.dependencies) {
      if (d.service == id) out.push_back(&s);
    }
  }
  return out;
}

bool IsValidCatalogId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::vector<TimeRange> SubtractRanges(TimeRange window, const std::vector<TimeRange>& excluded) {
  std::vector<TimeRange> out;
  int64_t at = window.from_ms;
  for (const TimeRange& e : excluded) {
    if (e.to_ms <= at) continue;
    if (e.from_ms >= window.to_ms) break;
    if (e.from_ms > at) out.push_back({at, e.from_ms});
    at = std::max(at, e.to_ms);
  }
  if (at < window.to_ms) out.push_back({at, window.to_ms});
  return out;
}

namespace {

void ReadId(ConfigMap& m, std::string* out) {
  m.Require("id");
  m.String("id", out);
  if (m.Has("id") && !IsValidCatalogId(*out)) {
    m.Error("id", StrCat("\"", *out, "\" is not a valid id (letters, digits, - _ . ; at most 64)"));
  }
}

// `match: {label: value}`: a value with * ? [ is a glob; "!value" means not equal.
void ReadSelector(ConfigMap m, MetricSelector* out) {
  m.Require("metric");
  m.String("metric", &out->metric);
  if (m.Has("metric")) {
    absl::Status s = ValidateMetricName(out->metric);
    if (!s.ok()) m.Error("metric", ToStd(s.message()));
  }
  std::map<std::string, std::string> match;
  m.StringMap("match", &match);
  for (const auto& [name, value] : match) {
    absl::Status s = ValidateLabelName(name);
    if (!s.ok()) {
      m.Error("match", ToStd(s.message()));
      continue;
    }
    LabelMatcher lm;
    lm.name = name;
    if (!value.empty() && value[0] == '!') {
      lm.op = LabelMatcher::Op::kNotEqual;
      lm.value = value.substr(1);
    } else if (value.find_first_of("*?[") != std::string::npos) {
      lm.op = LabelMatcher::Op::kGlob;
      lm.value = value;
    } else {
      lm.value = value;
    }
    if (absl::Status v = CheckMatchValue(name, lm.value); !v.ok()) {
      m.Error("match", ToStd(v.message()));
      continue;
    }
    out->match.push_back(std::move(lm));
  }
}

void ReadSli(ConfigMap m, Sli* sli) {
  ReadId(m, &sli->id);
  std::string kind;
  m.Require("kind");
  m.String("kind", &kind);
  if (kind == "ratio") {
    sli->kind = Sli::Kind::kRatio;
    m.Require("valid");
    ReadSelector(m.Map("valid"), &sli->valid);
    bool good = m.Has("good"), bad = m.Has("bad");
    if (good == bad) m.Error("", "a ratio SLI needs exactly one of \"good\" and \"bad\"");
    if (good) ReadSelector(m.Map("good"), &sli->good);
    if (bad) ReadSelector(m.Map("bad"), &sli->bad);
  } else if (kind == "latency") {
    sli->kind = Sli::Kind::kLatency;
    m.Require("histogram");
    ReadSelector(m.Map("histogram"), &sli->histogram);
    m.Require("threshold");
    std::chrono::milliseconds t{0};
    m.Duration("threshold", &t);
    sli->threshold_seconds = static_cast<double>(t.count()) / 1000.0;
  } else if (kind == "probe") {
    sli->kind = Sli::Kind::kProbe;
    m.Require("probe");
    m.String("probe", &sli->probe);
  } else if (kind == "threshold") {
    sli->kind = Sli::Kind::kThreshold;
    m.Require("gauge");
    ReadSelector(m.Map("gauge"), &sli->gauge);
    m.Require("op");
    m.String("op", &sli->op);
    if (m.Has("op") && sli->op != "<" && sli->op != "<=" && sli->op != ">" && sli->op != ">=") {
      m.Error("op", StrCat("expected one of < <= > >=, got \"", sli->op, "\""));
    }
    m.Require("bound");
    m.Double("bound", &sli->bound, -1e300, 1e300);
  } else if (m.Has("kind")) {
    m.Error("kind", StrCat("expected ratio, latency, probe or threshold, got \"", kind, "\""));
  }
}

void ReadSlo(ConfigMap m, Slo* slo) {
  ReadId(m, &slo->id);
  m.Require("sli");
  m.String("sli", &slo->sli);
  m.Require("target");
  if (m.Has("target")) {
    double t = -1;
    m.Double("target", &t, -1e300, 1e300);
    if (!(t > 0 && t <= 100)) {
      m.Error("target", StrCat("must be in (0, 100] (percent), got ", t));
    } else {
      slo->target_percent = t;
    }
  }
  std::string window;
  m.String("window", &window);
  if (window == "week") {
    slo->period = Slo::Period::kWeek;
  } else if (window == "month") {
    slo->period = Slo::Period::kMonth;
  } else if (window == "quarter") {
    slo->period = Slo::Period::kQuarter;
  } else if (!window.empty()) {
    m.Duration("window", &slo->window, std::chrono::hours(1));
    if (slo->window > std::chrono::hours(24 * 400)) m.Error("window", "longer than 400 days");
  }
  std::string budgeting = "occurrences";
  m.String("budgeting", &budgeting);
  if (budgeting == "timeslices") {
    slo->timeslices = true;
  } else if (budgeting != "occurrences") {
    m.Error("budgeting", StrCat("expected occurrences or timeslices, got \"", budgeting, "\""));
  }
  m.Duration("timeslice", &slo->timeslice, std::chrono::minutes(1));
  if (slo->timeslice.count() % 60000 != 0) m.Error("timeslice", "must be whole minutes");
  m.Double("min_events", &slo->min_events, 0, 1e15);
  m.Double("importance", &slo->importance, 0, 10);
  m.Bool("critical", &slo->critical);
}

// RFC 3339 ("2026-11-20T22:00:00Z", "2026-11-20T23:00:00+01:00").
void ReadTime(ConfigMap& m, std::string_view key, int64_t* out_ms) {
  std::string text;
  m.String(key, &text);
  if (text.empty()) return;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    m.Error(key,
            StrCat("expected an RFC 3339 time such as 2026-11-20T22:00:00Z, got \"", text, "\""));
    return;
  }
  *out_ms = absl::ToUnixMillis(t);
}

void ReadExclusion(ConfigMap m, const std::set<std::string>& service_ids, Exclusion* e) {
  ReadId(m, &e->id);
  std::string kind = "maintenance";
  m.String("kind", &kind);
  if (kind == "correction") {
    e->kind = Exclusion::Kind::kCorrection;
  } else if (kind != "maintenance") {
    m.Error("kind", StrCat("expected maintenance or correction, got \"", kind, "\""));
  }
  m.Require("services");
  m.StringList("services", &e->services);
  for (const std::string& s : e->services) {
    if (service_ids.count(s) == 0) m.Error("services", StrCat("unknown service \"", s, "\""));
  }
  m.Require("from");
  m.Require("to");
  ReadTime(m, "from", &e->range.from_ms);
  ReadTime(m, "to", &e->range.to_ms);
  if (m.Has("from") && m.Has("to") && e->range.to_ms <= e->range.from_ms) {
    m.Error("to", "must be after from");
  }
  // The audit trail: who, when, why.
  m.Require("reason");
  m.String("reason", &e->reason);
  m.Require("by");
  m.String("by", &e->by);
  ReadTime(m, "recorded", &e->recorded_ms);
}

void ReadComponent(ConfigMap m, Component* c) {
  ReadId(m, &c->id);
  m.StringList("hosts", &c->hosts);
  m.String("process", &c->process);
  m.String("probe", &c->probe);
  m.String("log", &c->log);
  m.StringList("metrics", &c->metrics);
  if (c->hosts.empty() && c->process.empty() && c->probe.empty() && c->log.empty() &&
      c->metrics.empty()) {
    m.Error("", "a component needs at least one of hosts, process, probe, log, metrics");
  }
}

absl::StatusOr<Catalog> Read(YamlDocument doc, const std::string& name) {
  Catalog catalog;
  catalog.source = name;
  ConfigMap root = doc.Root();

  std::set<std::string> unit_ids;
  for (ConfigMap m : root.MapList("business_units")) {
    BusinessUnit bu;
    ReadId(m, &bu.id);
    m.String("name", &bu.name);
    m.String("owner", &bu.owner);
    m.StringMap("metadata", &bu.metadata);
    if (bu.name.empty()) bu.name = bu.id;
    if (!bu.id.empty() && !unit_ids.insert(bu.id).second) {
      m.Error("id", StrCat("duplicate business unit id \"", bu.id, "\""));
    }
    catalog.business_units.push_back(std::move(bu));
  }

  std::vector<ConfigMap> service_maps = root.MapList("services");
  std::set<std::string> service_ids;
  for (ConfigMap& m : service_maps) {
    Service s;
    ReadId(m, &s.id);
    m.String("name", &s.name);
    if (s.name.empty()) s.name = s.id;
    m.String("business_unit", &s.business_unit);
    m.String("owner", &s.owner);
    int64_t tier = s.tier;
    m.Int("tier", &tier, 1, 5);
    s.tier = static_cast<int>(tier);
    m.Bool("external", &s.external);
    m.Double("revenue_per_hour", &s.revenue_per_hour, 0, 1e15);
    m.Double("value_per_transaction", &s.value_per_transaction, 0, 1e15);
    m.Double("users", &s.users, 0, 1e12);
    m.String("timezone", &s.timezone);
    if (absl::TimeZone tz; !absl::LoadTimeZone(s.timezone, &tz)) {
      m.Error("timezone", StrCat("unknown time zone \"", s.timezone,
                                 "\" (an IANA name such as Europe/Amsterdam)"));
    }
    std::vector<std::string> hours;
    if (m.Has("business_hours")) m.StringList("business_hours", &hours);
    for (const std::string& h : hours) {
      absl::StatusOr<BusinessHours> b = ParseBusinessHours(h);
      if (!b.ok()) {
        m.Error("business_hours", ToStd(b.status().message()));
      } else {
        s.business_hours.push_back(*b);
      }
    }
    m.StringMap("metadata", &s.metadata);
    if (!s.external) {
      m.Require("business_unit");
      if (!s.business_unit.empty() && unit_ids.count(s.business_unit) == 0) {
        m.Error("business_unit", StrCat("unknown business unit \"", s.business_unit, "\""));
      }
    }
    if (!s.id.empty() && !service_ids.insert(s.id).second) {
      m.Error("id", StrCat("duplicate service id \"", s.id, "\""));
    }
    std::set<std::string> ids;
    for (ConfigMap c : m.MapList("components")) {
      Component comp;
      ReadComponent(c, &comp);
      if (!ids.insert("component:" + comp.id).second) c.Error("id", "duplicate component id");
      s.components.push_back(std::move(comp));
    }
    for (ConfigMap c : m.MapList("slis")) {
      Sli sli;
      ReadSli(c, &sli);
      if (!sli.id.empty() && !ids.insert("sli:" + sli.id).second) {
        c.Error("id", StrCat("duplicate SLI id \"", sli.id, "\""));
      }
      s.slis.push_back(std::move(sli));
    }
    for (ConfigMap c : m.MapList("slos")) {
      Slo slo;
      ReadSlo(c, &slo);
      if (!slo.id.empty() && !ids.insert("slo:" + slo.id).second) {
        c.Error("id", StrCat("duplicate SLO id \"", slo.id, "\""));
      }
      if (!slo.sli.empty() && s.FindSli(slo.sli) == nullptr) {
        c.Error("sli", StrCat("unknown SLI \"", slo.sli, "\" in service \"", s.id, "\""));
      }
      s.slos.push_back(std::move(slo));
    }
    catalog.services.push_back(std::move(s));
  }

  // Dependencies need every service read first.
  for (size_t i = 0; i < service_maps.size(); ++i) {
    Service& s = catalog.services[i];
    std::set<std::string> seen;
    for (ConfigMap d : service_maps[i].MapList("dependencies")) {
      Dependency dep;
      d.Require("service");
      d.String("service", &dep.service);
      std::string kind = "hard";
      d.String("kind", &kind);
      if (kind == "soft") {
        dep.hard = false;
      } else if (kind != "hard") {
        d.Error("kind", StrCat("expected hard or soft, got \"", kind, "\""));
      }
      d.Double("weight", &dep.weight, 0, 1);
      if (!dep.service.empty() && service_ids.count(dep.service) == 0) {
        d.Error("service", StrCat("unknown service \"", dep.service, "\""));
      } else if (dep.service == s.id) {
        d.Error("service", "a service cannot depend on itself");
      } else if (!seen.insert(dep.service).second) {
        d.Error("service", StrCat("duplicate dependency on \"", dep.service, "\""));
      }
      s.dependencies.push_back(std::move(dep));
    }
  }

  // Dependency cycles: depth-first search, reporting one cycle per start.
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < catalog.services.size(); ++i) index[catalog.services[i].id] = i;
  std::vector<int> state(catalog.services.size(), 0);  // 0 new, 1 on stack, 2 done
  std::vector<std::string> stack;
  std::function<bool(size_t)> visit = [&](size_t i) -> bool {
    state[i] = 1;
    stack.push_back(catalog.services[i].id);
    for (const Dependency& d : catalog.services[i].dependencies) {
      auto it = index.find(d.service);
      if (it == index.end()) continue;
      if (state[it->second] == 1) {
        std::string cycle;
        bool in = false;
        for (const std::string& id : stack) {
          if (id == d.service) in = true;
          if (in) cycle += id + " -> ";
        }
        cycle += d.service;
        service_maps[i].Error("dependencies", StrCat("dependency cycle: ", cycle));
        return true;
      }
      if (state[it->second] == 0 && visit(it->second)) return true;
    }
    stack.pop_back();
    state[i] = 2;
    return false;
  };
  for (size_t i = 0; i < catalog.services.size(); ++i) {
    if (state[i] == 0 && visit(i)) break;
  }

  std::set<std::string> exclusion_ids;
  for (ConfigMap m : root.MapList("maintenance")) {
    Exclusion e;
    ReadExclusion(m, service_ids, &e);
    if (!e.id.empty() && !exclusion_ids.insert(e.id).second) {
      m.Error("id", StrCat("duplicate maintenance id \"", e.id, "\""));
    }
    catalog.exclusions.push_back(std::move(e));
  }
  for (Service& s : catalog.services) {
    std::vector<TimeRange> ranges;
    for (const Exclusion& e : catalog.exclusions) {
      if (std::find(e.services.begin(), e.services.end(), s.id) != e.services.end() &&
          e.range.to_ms > e.range.from_ms) {
        // Whole minutes, as the rollups count: outward to minute bounds.
        constexpr int64_t kMinute = 60000;
        int64_t from = e.range.from_ms - ((e.range.from_ms % kMinute) + kMinute) % kMinute;
        int64_t to =
            e.range.to_ms + (kMinute - ((e.range.to_ms % kMinute) + kMinute) % kMinute) % kMinute;
        ranges.push_back({from, to});
      }
    }
    std::sort(ranges.begin(), ranges.end(),
              [](const TimeRange& a, const TimeRange& b) { return a.from_ms < b.from_ms; });
    for (const TimeRange& r : ranges) {
      if (!s.excluded.empty() && r.from_ms <= s.excluded.back().to_ms) {
        s.excluded.back().to_ms = std::max(s.excluded.back().to_ms, r.to_ms);
      } else {
        s.excluded.push_back(r);
      }
    }
  }

  // Costs need every service and business unit read first.
  {
    std::set<std::string> all_services, all_units;
    for (const Service& s : catalog.services) all_services.insert(s.id);
    for (const BusinessUnit& b : catalog.business_units) all_units.insert(b.id);
    auto card = std::make_shared<RateCard>();
    ReadRateCard(root, all_services, all_units, card.get());
    catalog.rate_card = std::move(card);
  }
  // Revenue and costs in one currency, so value per cost means something.
  root.String("currency", &catalog.currency);
  if (!catalog.currency.empty() && !IsKnownCurrency(catalog.currency)) {
    root.Error("currency", StrCat("unknown currency \"", catalog.currency,
                                  "\" (an ISO 4217 code such as EUR, USD or GBP)"));
  } else if (catalog.rate_card->defined && !catalog.currency.empty() &&
             catalog.currency != catalog.rate_card->currency) {
    root.Error("currency", StrCat("revenue in ", catalog.currency, " but costs.currency is ",
                                  catalog.rate_card->currency, ": use one currency"));
  } else if (catalog.currency.empty() && catalog.rate_card->defined) {
    catalog.currency = catalog.rate_card->currency;
  }

  RETURN_IF_ERROR(doc.Finish());
  return catalog;
}

}  // namespace

absl::StatusOr<Catalog> LoadCatalog(const std::string& file) {
  ASSIGN_OR_RETURN(YamlDocument doc, YamlDocument::Load(file));
  return Read(std::move(doc), file);
}

absl::StatusOr<Catalog> ParseCatalog(std::string_view text, const std::string& name) {
  ASSIGN_OR_RETURN(YamlDocument doc, YamlDocument::Parse(text, name));
  return Read(std::move(doc), name);
}

}  // namespace plumbline::collector
