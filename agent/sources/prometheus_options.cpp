// Reading the `sources.prometheus` config section. Kept apart from the
// scraper so that config readers (and the config fuzz target) do not need the
// HTTP client.
#include <charconv>
#include <set>

#include "agent/sources/prometheus_source.h"
#include "common/labels.h"

namespace plumbline::agent {

absl::StatusOr<HttpUrl> ParseHttpUrl(std::string_view text) {
  constexpr std::string_view kScheme = "http://";
  if (text.substr(0, kScheme.size()) != kScheme) {
    return absl::InvalidArgumentError(
        StrCat("\"", text, "\" is not an http:// URL (https is not supported)"));
  }
  std::string_view rest = text.substr(kScheme.size());
  size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  HttpUrl url;
  if (slash != std::string_view::npos) {
    url.path = std::string(rest.substr(slash));
    if (url.path[0] == '?') url.path.insert(url.path.begin(), '/');
  }
  std::string_view port_text;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(StrCat("\"", text, "\": unterminated [IPv6 address]"));
    }
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return absl::InvalidArgumentError(StrCat("\"", text, "\": bad host"));
      port_text = after.substr(1);
      if (port_text.empty())
        return absl::InvalidArgumentError(StrCat("\"", text, "\": empty port"));
    }
  } else {
    size_t colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty())
        return absl::InvalidArgumentError(StrCat("\"", text, "\": empty port"));
    }
  }
  if (url.host.empty()) return absl::InvalidArgumentError(StrCat("\"", text, "\" has no host"));
  for (char c : url.host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':' || c == '_';
    if (!ok) return absl::InvalidArgumentError(StrCat("\"", text, "\": bad host"));
  }
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      return absl::InvalidArgumentError(StrCat("\"", text, "\": bad port"));
    }
    url.port = static_cast<uint16_t>(port);
  }
  for (char c : url.path) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#') {
      return absl::InvalidArgumentError(
          StrCat("\"", text, "\": the path must be URL-encoded, without spaces or a fragment"));
    }
  }
  return url;
}

void ParsePrometheusSourceOptions(ConfigMap section, PrometheusSourceOptions* out) {
  section.Bool("enabled", &out->enabled);
  std::set<std::string> names;
  for (ConfigMap t : section.MapList("targets")) {
    PrometheusTarget target;
    t.Require("url");
    t.String("url", &target.url);
    if (t.Has("url")) {
      absl::StatusOr<HttpUrl> url = ParseHttpUrl(target.url);
      if (url.ok()) {
        target.parsed_url = *url;
        bool ipv6 = url->host.find(':') != std::string::npos;
        target.name =
            ipv6 ? StrCat("[", url->host, "]:", url->port) : StrCat(url->host, ":", url->port);
      } else {
        t.Error("url", ToStd(url.status().message()));
      }
    }
    t.String("name", &target.name);
    if (absl::Status s = ValidateLabelValue(target.name); !s.ok()) {
      t.Error("name", ToStd(s.message()));
    }
    if (t.Has("url") && !names.insert(target.name).second) {
      t.Error("name",
              StrCat("two targets named \"", target.name, "\"; give one of them another name"));
    }
    t.Duration("interval", &target.interval, std::chrono::milliseconds(100));
    t.Duration("timeout", &target.timeout, std::chrono::milliseconds(10));
    if (target.interval.count() > 0 && target.timeout > target.interval) {
      t.Error("timeout",
              StrCat("must not exceed the interval (", FormatDuration(target.interval), ")"));
    }
    t.StringMap("labels", &target.labels);
    for (const auto& [name, value] : target.labels) {
      absl::Status s = ValidateLabelName(name);
      if (s.ok()) s = ValidateLabelValue(value);
      if (!s.ok()) t.Error("labels", ToStd(s.message()));
      if (name == "target" || name == "host") {
        t.Error("labels", StrCat("\"", name, "\" is set by the agent itself"));
      }
    }
    t.Int("max_series", &target.max_series, 1, 1000000);
    t.ByteSize("max_bytes", &target.max_bytes);
    if (target.max_bytes < 1024) t.Error("max_bytes", "must be at least 1KiB");
    out->targets.push_back(std::move(target));
  }
}

}  // namespace plumbline::agent
