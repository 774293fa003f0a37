#include "agent/sources/statsd_source.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <asio/ip/udp.hpp>
#include <charconv>
#include <cmath>
#include <functional>

#include "agent/throttled_log.h"
#include "common/labels.h"

namespace plumbline::agent {

namespace {

const LabelSet kSourceLabel = {{"source", "statsd"}};

std::string SanitizeMetricName(std::string_view prefix, std::string_view name,
                               std::string_view suffix) {
  std::string out(prefix);
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == ':';
    out.push_back(ok ? c : '_');
  }
  if (!out.empty() && out[0] >= '0' && out[0] <= '9') out.insert(out.begin(), '_');
  // "requests_total" as a counter stays requests_total, not requests_total_total.
  if (!(suffix == "_total" && out.size() > 6 && out.substr(out.size() - 6) == "_total")) {
    out += suffix;
  }
  return out;
}

bool ParseBound(std::string_view text, double* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && std::isfinite(*out);
}

void ParseBuckets(ConfigMap& section, std::string_view key, std::vector<double>* out) {
  if (!section.Has(key)) return;
  std::vector<std::string> items;
  section.StringList(key, &items);
  std::vector<double> bounds;
  for (const std::string& item : items) {
    double v = 0;
    if (!ParseBound(item, &v)) {
      return section.Error(key, StrCat("\"", item, "\" is not a finite number"));
    }
    if (!bounds.empty() && v <= bounds.back()) {
      return section.Error(key, "bounds must be in ascending order");
    }
    bounds.push_back(v);
  }
  if (bounds.empty() || bounds.size() > 500) {
    return section.Error(key, "needs between 1 and 500 bounds");
  }
  *out = std::move(bounds);
}

}  // namespace

absl::StatusOr<std::pair<std::string, uint16_t>> ParseListenAddress(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(StrCat("\"", text, "\" is not host:port"));
  }
  std::string host(text.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") host = "127.0.0.1";
  asio::error_code ec;
  asio::ip::make_address(host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        StrCat("\"", host, "\" is not an IP address (use e.g. 127.0.0.1 or [::1])"));
  }
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, pec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (pec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return absl::InvalidArgumentError(StrCat("\"", port_text, "\" is not a port number"));
  }
  return std::make_pair(host, static_cast<uint16_t>(port));
}

void ParseStatsdSourceOptions(ConfigMap section, StatsdSourceOptions* out) {
  section.Bool("enabled", &out->enabled);
  section.String("listen", &out->listen);
  if (absl::StatusOr<std::pair<std::string, uint16_t>> a = ParseListenAddress(out->listen);
      !a.ok()) {
    section.Error("listen", ToStd(a.status().message()));
  }
  section.String("prefix", &out->prefix);
  if (!out->prefix.empty() && !ValidateMetricName(out->prefix).ok()) {
    section.Error("prefix",
                  "must be empty or a valid metric name start ([a-zA-Z_:][a-zA-Z0-9_:]*)");
  }
  if (out->prefix.size() > 40) section.Error("prefix", "must be at most 40 bytes");
  section.Int("max_series", &out->max_series, 1, 1000000);
  section.Duration("expire_after", &out->expire_after, std::chrono::milliseconds(0));
  ParseBuckets(section, "timer_buckets", &out->timer_buckets);
  ParseBuckets(section, "histogram_buckets", &out->histogram_buckets);
}

StatsdAggregator::StatsdAggregator(StatsdSourceOptions options,
                                   std::vector<std::string> reserved_label_names,
                                   Counters* counters)
    : options_(std::move(options)),
      reserved_(std::move(reserved_label_names)),
      counters_(counters) {}

void StatsdAggregator::Drop(std::string_view reason) {
  counters_->Add("plumbline_agent_dropped_total",
                 {{"reason", std::string(reason)}, {"source", "statsd"}});
}

absl::StatusOr<StatsdAggregator::Series*> StatsdAggregator::Find(const StatsdMetric& m,
                                                                 int64_t now_ms) {
  Kind kind = Kind::kGauge;
  std::string_view suffix;
  switch (m.type) {
    case StatsdType::kCounter:
      kind = Kind::kCounter;
      suffix = "_total";
      break;
    case StatsdType::kGauge:
      kind = Kind::kGauge;
      break;
    case StatsdType::kTimer:
      kind = Kind::kHistogram;
      suffix = "_seconds";
      break;
    case StatsdType::kHistogram:
    case StatsdType::kDistribution:
      kind = Kind::kHistogram;
      break;
    case StatsdType::kSet:
      kind = Kind::kSet;
      suffix = "_unique";
      break;
  }
  std::string name = SanitizeMetricName(options_.prefix, m.name, suffix);
  if (absl::Status s = ValidateMetricName(name); !s.ok()) return s;

  Labels labels;
  for (const auto& [tag, value] : m.tags) {
    if (value.empty()) continue;  // DogStatsD "#flag": nothing to put in a label
    std::string label = SanitizeLabelName(tag);
    if (std::find(reserved_.begin(), reserved_.end(), label) != reserved_.end()) {
      label = StrCat("exported_", label);
    }
    RETURN_IF_ERROR(ValidateLabelName(label));
    RETURN_IF_ERROR(ValidateLabelValue(value));
    bool duplicate = false;
    for (const auto& [k, v] : labels) duplicate = duplicate || k == label;
    if (!duplicate) labels.emplace_back(std::move(label), std::string(value));
  }
  std::sort(labels.begin(), labels.end());
  std::string key = StrCat(name, "{", CanonicalLabels(labels), "}");

  auto it = series_.find(key);
  if (it != series_.end() && it->second.kind == kind) return &it->second;
  auto use = names_.find(name);
  if (use != names_.end() && use->second.kind != kind) {
    Drop("type_conflict");
    return absl::FailedPreconditionError(
        StrCat(name, " is already a series of another StatsD type; dropped"));
  }
  if (series_.size() >= static_cast<size_t>(options_.max_series)) {
    Drop("max_series");
    return absl::ResourceExhaustedError(
        StrCat("already ", series_.size(), " series (max_series); dropped a new one: ", name));
  }
  Series s;
  s.name = name;
  s.kind = kind;
  s.labels = std::move(labels);
  s.last_update_ms = now_ms;
  if (kind == Kind::kHistogram) {
    s.seconds = m.type == StatsdType::kTimer;
    s.bounds = s.seconds ? &options_.timer_buckets : &options_.histogram_buckets;
    s.buckets.assign(s.bounds->size() + 1, 0);
  }
  ++names_.try_emplace(name, NameUse{kind, 0}).first->second.series;
  return &series_.emplace(std::move(key), std::move(s)).first->second;
}

absl::Status StatsdAggregator::Add(const StatsdMetric& m, int64_t now_ms) {
  absl::StatusOr<Series*> found = Find(m, now_ms);
  if (!found.ok()) {
    if (found.status().code() == absl::StatusCode::kInvalidArgument) {
      counters_->Add("plumbline_agent_parse_errors_total", kSourceLabel);
    }
    return found.status();
  }
  Series& s = **found;
  auto out_of_range = [&] {
    counters_->Add("plumbline_agent_parse_errors_total", kSourceLabel);
    return absl::InvalidArgumentError(StrCat(s.name, ": value out of range"));
  };
  double weight = 1 / m.sample_rate;
  switch (s.kind) {
    case Kind::kCounter: {
      double next = s.value + m.value * weight;
      if (!std::isfinite(next)) return out_of_range();
      s.value = next;
      break;
    }
    case Kind::kGauge: {
      double next = m.gauge_delta ? s.value + m.value : m.value;
      if (!std::isfinite(next)) return out_of_range();
      s.value = next;
      break;
    }
    case Kind::kHistogram: {
      double x = s.seconds ? m.value / 1000 : m.value;
      double sum = s.sum + x * weight;
      if (!std::isfinite(sum) || !std::isfinite(weight)) return out_of_range();
      // Prometheus buckets: an observation counts in the first bucket whose
      // upper bound is >= the value.
      size_t i = static_cast<size_t>(std::lower_bound(s.bounds->begin(), s.bounds->end(), x) -
                                     s.bounds->begin());
      s.buckets[i] += weight;
      s.sum = sum;
      break;
    }
    case Kind::kSet: {
      uint64_t h = std::hash<std::string_view>{}(m.set_member);
      if (s.members.size() >= kMaxStatsdSetMembers && s.members.count(h) == 0) {
        Drop("set_members");
        return absl::ResourceExhaustedError(
            StrCat(s.name, ": more than ", kMaxStatsdSetMembers, " members this interval"));
      }
      s.members.insert(h);
      break;
    }
  }
  s.last_update_ms = now_ms;
  return absl::OkStatus();
}

void StatsdAggregator::Flush(MetricWriter& out, int64_t now_ms) {
  for (auto it = series_.begin(); it != series_.end();) {
    Series& s = it->second;
    if (options_.expire_after.count() > 0 &&
        now_ms - s.last_update_ms > options_.expire_after.count()) {
      auto use = names_.find(s.name);
      if (use != names_.end() && --use->second.series == 0) names_.erase(use);
      it = series_.erase(it);
      continue;
    }
    switch (s.kind) {
      case Kind::kCounter:
        out.Counter(s.name, s.value, s.labels);
        break;
      case Kind::kGauge:
        out.Gauge(s.name, s.value, s.labels);
        break;
      case Kind::kHistogram: {
        // Sampled observations carry fractional weights; counts are shipped
        // rounded, and each rounded bucket only grows, so buckets stay
        // monotonic and count is exactly their sum.
        v1::Histogram h;
        uint64_t count = 0;
        for (double bound : *s.bounds) h.add_bounds(bound);
        for (double b : s.buckets) {
          auto c = static_cast<uint64_t>(std::llround(std::min(b, 9e18)));
          h.add_bucket_counts(c);
          count += c;
        }
        h.set_count(count);
        h.set_sum(s.sum);
        out.Histogram(s.name, h, s.labels, s.seconds ? "seconds" : "");
        break;
      }
      case Kind::kSet:
        out.Gauge(s.name, static_cast<double>(s.members.size()), s.labels);
        s.members.clear();
        break;
    }
    ++it;
  }
  counters_->Set("plumbline_agent_statsd_series", {}, static_cast<double>(series_.size()));
}

// Owns the socket and the aggregate; pending receives hold a weak reference,
// so a completion that arrives after the source is gone does nothing.
struct StatsdSource::Listener : std::enable_shared_from_this<Listener> {
  Listener(const SourceContext& context, const StatsdSourceOptions& options,
           std::vector<std::string> reserved)
      : socket(*context.io),
        aggregator(options, std::move(reserved), context.counters),
        counters(context.counters),
        clock(context.clock),
        throttle(context.clock) {}

  void Receive() {
    socket.async_receive_from(
        asio::buffer(buffer), sender,
        [weak = weak_from_this()](const asio::error_code& ec, size_t bytes) {
          std::shared_ptr<Listener> self = weak.lock();
          if (!self || ec == asio::error::operation_aborted || !self->socket.is_open()) return;
          uint64_t suppressed = 0;
          if (ec) {
            if (self->throttle.Allow(&suppressed)) {
              spdlog::warn("statsd: receive failed: {}{}", ec.message(),
                           LogThrottle::Suppressed(suppressed));
            }
          } else {
            self->Handle(std::string_view(self->buffer.data(), bytes));
          }
          self->Receive();
        });
  }

  void Handle(std::string_view packet) {
    int64_t now = clock->NowMs();
    StatsdPacket parsed = ParseStatsdPacket(packet);
    counters->Add("plumbline_agent_statsd_packets_total");
    std::string first_problem = parsed.first_error;
    if (parsed.errors > 0) {
      counters->Add("plumbline_agent_parse_errors_total", kSourceLabel,
                    static_cast<double>(parsed.errors));
    }
    if (parsed.unsupported > 0) {
      counters->Add("plumbline_agent_dropped_total",
                    {{"reason", "unsupported"}, {"source", "statsd"}},
                    static_cast<double>(parsed.unsupported));
    }
    uint64_t kept = 0;
    for (const StatsdMetric& m : parsed.metrics) {
      absl::Status s = aggregator.Add(m, now);
      if (s.ok()) {
        ++kept;
      } else if (first_problem.empty()) {
        first_problem = std::string(ToStd(s.message()));
      }
    }
    if (kept > 0)
      counters->Add("plumbline_agent_statsd_metrics_total", {}, static_cast<double>(kept));
    uint64_t suppressed = 0;
    if (!first_problem.empty() && throttle.Allow(&suppressed)) {
      spdlog::warn("statsd: {} (from {}){}", first_problem, sender.address().to_string(),
                   LogThrottle::Suppressed(suppressed));
    }
  }

  asio::ip::udp::socket socket;
  asio::ip::udp::endpoint sender;
  // A UDP datagram's payload is at most 65507 bytes over IPv4.
  std::array<char, 65536> buffer{};
  StatsdAggregator aggregator;
  Counters* counters;
  const Clock* clock;
  LogThrottle throttle;
};

StatsdSource::StatsdSource(SourceContext context, StatsdSourceOptions options,
                           std::vector<std::string> reserved_label_names)
    : context_(std::move(context)), options_(std::move(options)) {
  listener_ = std::make_shared<Listener>(context_, options_, std::move(reserved_label_names));
}

StatsdSource::~StatsdSource() { Stop(); }

absl::Status StatsdSource::Start() {
  ASSIGN_OR_RETURN(auto address, ParseListenAddress(options_.listen));
  asio::error_code ec;
  asio::ip::udp::endpoint endpoint(asio::ip::make_address(address.first, ec), address.second);
  if (!ec) listener_->socket.open(endpoint.protocol(), ec);
  if (!ec) listener_->socket.bind(endpoint, ec);
  if (ec) {
    asio::error_code ignored;
    listener_->socket.close(ignored);
    return absl::UnavailableError(
        StrCat("statsd: cannot listen on udp ", options_.listen, ": ", ec.message()));
  }
  spdlog::info("statsd: listening on udp {}", options_.listen);
  listener_->Receive();
  return absl::OkStatus();
}

absl::Status StatsdSource::Collect(MetricWriter& out) {
  listener_->aggregator.Flush(out, context_.clock->NowMs());
  return absl::OkStatus();
}

void StatsdSource::Stop() {
  asio::error_code ignored;
  listener_->socket.close(ignored);
}

uint16_t StatsdSource::port() const {
  asio::error_code ec;
  asio::ip::udp::endpoint local = listener_->socket.local_endpoint(ec);
  return ec ? 0 : local.port();
}

}  // namespace plumbline::agent
