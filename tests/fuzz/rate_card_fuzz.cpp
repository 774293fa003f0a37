// The rate card reader on arbitrary YAML, then cost allocation with whatever
// it accepts: no crash, an accepted card keeps its invariants (sorted,
// non-overlapping rates, no negative price, weights summing to 1), and the
// allocated, idle and unallocated cents add up to the total.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "collector/catalog/catalog.h"
#include "collector/catalog/rate_card.h"
#include "collector/engine/cost.h"
#include "common/yaml_config.h"

namespace pc = plumbline::collector;

namespace {

pc::Catalog FuzzCatalog() {
  pc::Catalog c;
  c.business_units = {{"retail", "Retail", "", {}}, {"wholesale", "Wholesale", "", {}}};
  const char* ids[] = {"checkout", "search", "reports", "psp"};
  const char* globs[] = {"web-*", "db-*", "app-*", "psp-*"};
  for (int i = 0; i < 4; ++i) {
    pc::Service s;
    s.id = ids[i];
    s.business_unit = i == 3 ? "" : (i == 2 ? "wholesale" : "retail");
    s.external = i == 3;
    pc::Component comp;
    comp.id = "c";
    comp.hosts = {globs[i], "shared-*"};
    s.components.push_back(comp);
    c.services.push_back(s);
  }
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto doc = plumbline::YamlDocument::Parse(text, "fuzz.yaml");
  if (!doc.ok()) return 0;
  pc::RateCard card;
  pc::ReadRateCard(doc->Root(), {"checkout", "search", "reports", "psp"}, {"retail", "wholesale"},
                   &card);
  if (!doc->Finish().ok() || !card.defined) return 0;

  for (size_t i = 0; i < card.rates.size(); ++i) {
    const pc::Rate& r = card.rates[i];
    if (r.to_ms <= r.from_ms) __builtin_trap();
    if (i > 0 && card.rates[i - 1].to_ms > r.from_ms) __builtin_trap();
    if (r.cpu_core_hour < 0 || r.memory_gb_hour < 0 || r.disk_gb_month < 0 || r.network_gb < 0 ||
        r.host_hour < 0) {
      __builtin_trap();
    }
  }
  for (const pc::HostRule& rule : card.hosts) {
    if (rule.has_split && rule.split == pc::SplitRule::kWeight) {
      double sum = 0;
      for (const auto& entry : rule.weights) sum += entry.second;
      if (std::fabs(sum - 1) > 1e-9) __builtin_trap();
    }
  }
  if (!plumbline::collector::IsKnownCurrency(card.currency)) __builtin_trap();

  // One day of usage on a host named after each entry, and a few more.
  static const pc::Catalog catalog = FuzzCatalog();
  if (card.rates.empty()) return 0;
  int64_t from = card.rates.front().from_ms;
  if (from > (int64_t{1} << 50) || from < -(int64_t{1} << 50)) return 0;
  pc::TimeRange period{from, from + 2 * 86400000LL};
  std::vector<pc::HostUsage> hosts;
  std::vector<std::string> names = {"web-1", "db-1", "shared-1", "orphan-1"};
  for (const pc::HostRule& rule : card.hosts) names.push_back(rule.host);
  for (size_t i = 0; i < names.size() && i < 16; ++i) {
    pc::HostUsage h;
    h.host = names[i] + "#" + std::to_string(i);  // unique
    if (i < 4) h.host = names[i];
    h.cpu_cores = static_cast<double>(i % 5);
    h.services = pc::ClaimingServices(catalog, h.host);
    for (size_t k = 0; k < h.services.size(); ++k) h.driver[h.services[k]] = static_cast<double>(k);
    for (int64_t slice = 0; slice < 2; ++slice) {
      pc::UsageSlice s;
      s.start_ms = period.from_ms + slice * 86400000LL;
      s.end_ms = s.start_ms + 86400000LL;
      s.hours = 24;
      s.core_hours_used = static_cast<double>(i) * 3.5;
      s.memory_gb_hours = 100;
      s.disk_gb_months = 1.5;
      s.network_gb = 7;
      h.slices.push_back(s);
    }
    hosts.push_back(std::move(h));
  }
  auto report = pc::AllocateCosts(catalog, card, period, hosts);
  if (report.ok()) {
    int64_t sum = 0;
    for (const pc::CostLine& l : report->lines) {
      if (l.cents < 0) __builtin_trap();
      sum += l.cents;
    }
    if (sum != report->total_cents ||
        report->allocated_cents + report->idle_cents + report->unallocated_cents != sum) {
      __builtin_trap();
    }
    (void)pc::FocusCsv(*report);
  }
  return 0;
}
