#include "agent/sources/prometheus_source.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>
#include <atomic>
#include <charconv>
#include <set>

#include "agent/exposition_parser.h"
#include "agent/throttled_log.h"
#include "common/labels.h"
#include "plumbline/version.h"

namespace plumbline::agent {

namespace {

const LabelSet kSourceLabel = {{"source", "prometheus"}};

// One finished scrape, ready to write.
struct Scrape {
  bool up = false;
  double duration_seconds = 0;
  std::vector<ExposedSeries> series;  // labels already merged
};

std::string DescribeError(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection:
      return "cannot connect (refused or unreachable)";
    case httplib::Error::ConnectionTimeout:
      return "connect timed out";
    case httplib::Error::Read:
      return "read failed or timed out";
    case httplib::Error::Write:
      return "sending the request failed";
    default:
      return StrCat("HTTP client error ", httplib::to_string(e));
  }
}

}  // namespace

struct PrometheusSource::Target {
  Target(asio::io_context& io, PrometheusTarget o) : options(std::move(o)), timer(io) {}

  PrometheusTarget options;  // with the effective interval and timeout
  Labels own_labels;         // target=<name>, then the configured labels
  // Names an exposed label must not take: the agent's and own_labels'.
  std::set<std::string> taken_names;
  asio::steady_timer timer;                 // loop thread
  std::unique_ptr<httplib::Client> client;  // pool thread; stop() from any thread
  std::atomic<bool> stopping{false};
  bool in_flight = false;              // loop thread
  std::shared_ptr<const Scrape> last;  // loop thread
};

namespace {

// Gives an exposed series the target's labels; false if the merged set has
// a duplicate name.
bool MergeLabels(const PrometheusSource::Target& t, ExposedSeries* s) {
  Labels merged = t.own_labels;
  for (auto& [name, value] : s->labels) {
    std::string label = t.taken_names.count(name) != 0 ? StrCat("exported_", name) : name;
    for (const auto& [k, v] : merged) {
      if (k == label) return false;
    }
    merged.emplace_back(std::move(label), std::move(value));
  }
  s->labels = std::move(merged);
  return true;
}

// Runs on the pool thread: fetches, parses, counts and logs.
Scrape Fetch(PrometheusSource::Target& t, Counters* counters, LogThrottle* throttle) {
  const PrometheusTarget& o = t.options;
  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::steady_clock::now() - start; };
  std::string body;
  bool too_big = false, too_slow = false;
  httplib::Headers headers = {{"Accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1"},
                              {"User-Agent", StrCat("plumbline-agent/", kVersion)},
                              {"X-Prometheus-Scrape-Timeout-Seconds",
                               StrCat(std::chrono::duration<double>(o.timeout).count())}};
  httplib::Result res = t.client->Get(o.parsed_url.path, headers, [&](const char* data, size_t n) {
    if (t.stopping.load()) return false;
    if (elapsed() > o.timeout) {
      too_slow = true;
      return false;
    }
    if (body.size() + n > o.max_bytes) {
      too_big = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  Scrape scrape;
  scrape.duration_seconds = std::chrono::duration<double>(elapsed()).count();
  std::string failure;
  if (too_big) {
    failure = StrCat("response larger than max_bytes (", o.max_bytes, ")");
  } else if (too_slow) {
    failure = StrCat("took longer than the timeout (", FormatDuration(o.timeout), ")");
  } else if (!res) {
    failure = DescribeError(res.error());
  } else if (res->status != 200) {
    failure = StrCat("HTTP status ", res->status);
  }
  uint64_t suppressed = 0;
  if (!failure.empty()) {
    if (!t.stopping.load() && throttle->Allow(&suppressed)) {
      spdlog::warn("prometheus: scrape of {} ({}) failed: {}{}", o.name, o.url, failure,
                   LogThrottle::Suppressed(suppressed));
    }
    return scrape;
  }
  scrape.up = true;
  ExpositionOptions parse_options;
  parse_options.max_series = static_cast<size_t>(o.max_series);
  ExpositionResult parsed = ParseExposition(body, parse_options);
  uint64_t errors = parsed.errors;
  std::string first_error = parsed.messages.empty() ? "" : parsed.messages.front();
  scrape.series.reserve(parsed.series.size());
  for (ExposedSeries& s : parsed.series) {
    if (!MergeLabels(t, &s)) {
      ++errors;
      if (first_error.empty()) {
        first_error = StrCat(s.name, ": a label clashes with the target's labels");
      }
      continue;
    }
    scrape.series.push_back(std::move(s));
  }
  if (errors > 0)
    counters->Add("plumbline_agent_parse_errors_total", kSourceLabel, static_cast<double>(errors));
  if (parsed.dropped_samples > 0) {
    counters->Add("plumbline_agent_dropped_total",
                  {{"reason", "max_series"}, {"source", "prometheus"}},
                  static_cast<double>(parsed.dropped_samples));
  }
  if ((errors > 0 || parsed.dropped_samples > 0) && throttle->Allow(&suppressed)) {
    std::string what;
    if (errors > 0) StrAppend(&what, errors, " invalid lines skipped (first: ", first_error, ")");
    if (parsed.dropped_samples > 0) {
      StrAppend(&what, what.empty() ? "" : "; ", parsed.dropped_samples,
                " samples beyond max_series (", o.max_series, ") dropped");
    }
    spdlog::warn("prometheus: {} ({}): {}{}", o.name, o.url, what,
                 LogThrottle::Suppressed(suppressed));
  }
  return scrape;
}

}  // namespace

PrometheusSource::PrometheusSource(SourceContext context, PrometheusSourceOptions options,
                                   std::vector<std::string> reserved_label_names)
    : context_(std::move(context)),
      options_(std::move(options)),
      reserved_(std::move(reserved_label_names)),
      pool_throttle_(context_.clock) {}

PrometheusSource::~PrometheusSource() { Stop(); }

absl::Status PrometheusSource::Start() {
  if (options_.targets.empty()) return absl::OkStatus();
  pool_ = std::make_unique<asio::thread_pool>(1);
  for (const PrometheusTarget& options : options_.targets) {
    auto t = std::make_shared<Target>(*context_.io, options);
    PrometheusTarget& o = t->options;
    if (o.interval.count() <= 0) o.interval = context_.interval;
    o.timeout = std::min(o.timeout, o.interval);
    t->own_labels.emplace_back("target", o.name);
    for (const auto& [k, v] : o.labels) t->own_labels.emplace_back(k, v);
    t->taken_names.insert(reserved_.begin(), reserved_.end());
    for (const auto& [k, v] : t->own_labels) t->taken_names.insert(k);
    t->client = std::make_unique<httplib::Client>(o.parsed_url.host, o.parsed_url.port);
    t->client->set_connection_timeout(o.timeout);
    t->client->set_read_timeout(o.timeout);
    t->client->set_write_timeout(o.timeout);
    t->client->set_keep_alive(false);
    t->client->set_follow_location(false);
    targets_.push_back(t);
    ScheduleScrape(t, std::chrono::milliseconds(0));
  }
  spdlog::info("prometheus: scraping {} targets", targets_.size());
  return absl::OkStatus();
}

void PrometheusSource::ScheduleScrape(const std::shared_ptr<Target>& target,
                                      std::chrono::milliseconds delay) {
  target->timer.expires_after(delay);
  target->timer.async_wait([this,
                            weak = std::weak_ptr<Target>(target)](const asio::error_code& ec) {
    std::shared_ptr<Target> t = weak.lock();
    // Stop() sets stopping before anything of this source goes away, so
    // `this` is only used while the source is alive.
    if (ec || !t || t->stopping.load()) return;
    if (!t->in_flight) {  // a scrape slower than the interval skips a turn
      t->in_flight = true;
      asio::post(*pool_,
                 [t, io = context_.io, counters = context_.counters, throttle = &pool_throttle_]() {
                   auto scrape = std::make_shared<const Scrape>(Fetch(*t, counters, throttle));
                   asio::post(*io, [weak = std::weak_ptr<Target>(t), scrape = std::move(scrape)]() {
                     std::shared_ptr<Target> done = weak.lock();
                     if (!done) return;
                     done->in_flight = false;
                     if (!done->stopping.load()) done->last = scrape;
                   });
                 });
    }
    ScheduleScrape(t, t->options.interval);
  });
}

absl::Status PrometheusSource::Collect(MetricWriter& out) {
  for (const std::shared_ptr<Target>& t : targets_) {
    if (!t->last) continue;  // no scrape finished yet
    const Scrape& s = *t->last;
    out.Gauge("plumbline_scrape_up", s.up ? 1 : 0, t->own_labels);
    out.Gauge("plumbline_scrape_duration_seconds", s.duration_seconds, t->own_labels, "seconds");
    out.Gauge("plumbline_scrape_series", static_cast<double>(s.series.size()), t->own_labels);
    for (const ExposedSeries& e : s.series) {
      switch (e.type) {
        case v1::METRIC_TYPE_COUNTER:
          out.Counter(e.name, e.number, e.labels);
          break;
        case v1::METRIC_TYPE_HISTOGRAM:
          out.Histogram(e.name, e.histogram, e.labels);
          break;
        case v1::METRIC_TYPE_SUMMARY:
          out.Summary(e.name, e.summary, e.labels);
          break;
        default:
          out.Gauge(e.name, e.number, e.labels);
          break;
      }
    }
  }
  return absl::OkStatus();
}

void PrometheusSource::Stop() {
  for (const std::shared_ptr<Target>& t : targets_) {
    t->stopping.store(true);
    t->timer.cancel();
    if (t->client) t->client->stop();  // aborts a request in progress
  }
  if (pool_) {
    pool_->stop();  // scrapes not yet begun are abandoned
    pool_->join();
    pool_.reset();
  }
  targets_.clear();
}

}  // namespace plumbline::agent
