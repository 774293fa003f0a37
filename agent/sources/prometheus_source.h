// Scrapes local Prometheus /metrics endpoints (text exposition format 0.0.4)
// and ships what they expose.
//
// Each target is fetched every `interval` on a thread of the source's own
// (one thread) pool, with connect and read timeouts and a deadline, so a slow
// or dead endpoint never blocks the agent's event loop; the parsed result is
// posted back to the loop. Every Collect() writes the most recent completed
// scrape of each target:
//   plumbline_scrape_up{target}                1 if the last scrape worked, else 0
//   plumbline_scrape_duration_seconds{target}  how long it took
//   plumbline_scrape_series{target}            series kept from it
//   and, when up, every exposed series (exposition_parser.h says how each
//   type maps), labelled target=<name> plus the target's `labels`. An exposed
//   label named like one of those or like a label the agent sets itself
//   (host, ...) is renamed exported_<name>, as Prometheus does.
// Points carry the agent's tick time, like every other source's; timestamps
// in the exposition are checked but not used.
// The agent's own counters: plumbline_agent_parse_errors_total{source=
// "prometheus"} (invalid lines; the valid ones are kept) and
// plumbline_agent_dropped_total{reason="max_series",source="prometheus"}
// (samples beyond a target's max_series). Failures are logged at most once
// a minute.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/sources/source.h"
#include "agent/throttled_log.h"
#include "common/yaml_config.h"

namespace asio {
class thread_pool;
}

namespace plumbline::agent {

// http://host[:port][/path][?query]. Only plain HTTP: scraped endpoints are
// local.
struct HttpUrl {
  std::string host;  // without brackets for IPv6
  uint16_t port = 80;
  std::string path = "/";  // with the query, if any
};
absl::StatusOr<HttpUrl> ParseHttpUrl(std::string_view text);

struct PrometheusTarget {
  std::string url;
  // The value of the `target` label; default host:port of the url.
  std::string name;
  std::chrono::milliseconds interval{0};  // 0: the agent's interval
  // For connecting, for each read, and for the whole scrape; never longer
  // than the interval.
  std::chrono::milliseconds timeout{5000};
  std::map<std::string, std::string> labels;
  int64_t max_series = 5000;
  uint64_t max_bytes = 16ull << 20;  // response body; larger bodies fail the scrape
  HttpUrl parsed_url;                // from url
};

struct PrometheusSourceOptions {
  bool enabled = true;  // scrapes nothing until targets are listed
  std::vector<PrometheusTarget> targets;
};

// Reads the `sources.prometheus` section of the agent config.
void ParsePrometheusSourceOptions(ConfigMap section, PrometheusSourceOptions* out);

class PrometheusSource final : public Source {
 public:
  // `reserved_label_names`: labels the agent puts on every series itself.
  PrometheusSource(SourceContext context, PrometheusSourceOptions options,
                   std::vector<std::string> reserved_label_names);
  ~PrometheusSource() override;
  std::string_view name() const override { return "prometheus"; }
  // Starts the pool and the first scrape of every target.
  absl::Status Start() override;
  absl::Status Collect(MetricWriter& out) override;
  // Cancels timers and the scrapes in progress; waits for the pool thread.
  void Stop() override;

  struct Target;  // shared with scrapes in progress

 private:
  void ScheduleScrape(const std::shared_ptr<Target>& target, std::chrono::milliseconds delay);

  SourceContext context_;
  PrometheusSourceOptions options_;
  std::vector<std::string> reserved_;
  LogThrottle pool_throttle_;  // used on the pool thread only
  std::vector<std::shared_ptr<Target>> targets_;
  std::unique_ptr<asio::thread_pool> pool_;
};

}  // namespace plumbline::agent
