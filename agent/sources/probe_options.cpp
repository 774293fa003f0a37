// Probe options apart from the probes themselves, so that the config reader
// (and its fuzz target) need no HTTP client.
#include <charconv>
#include <set>

#include "agent/sources/probe_source.h"
#include "common/labels.h"

namespace plumbline::agent {

namespace {

bool ParsePort(std::string_view s) {
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), port);
  return !s.empty() && ec == std::errc() && ptr == s.data() + s.size() && port >= 1 &&
         port <= 65535;
}

// "host:port" or "[v6]:port".
bool SplitHostPort(std::string_view address, std::string* host, std::string* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view h = address.substr(0, colon);
  if (h.front() == '[') {
    if (h.size() < 3 || h.back() != ']') return false;
    h = h.substr(1, h.size() - 2);
  } else if (h.find(':') != std::string_view::npos) {
    return false;  // an IPv6 address needs brackets
  }
  std::string_view p = address.substr(colon + 1);
  if (!ParsePort(p)) return false;
  *host = std::string(h);
  *port = std::string(p);
  return true;
}

// "http(s)://host[:port][/path][?query]"; fills scheme_host_port, path, https.
bool ParseUrl(std::string_view url, ProbeOptions* p, std::string* error) {
  size_t scheme_end = url.find("://");
  std::string_view scheme = scheme_end == std::string_view::npos ? "" : url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    *error = "must start with http:// or https://";
    return false;
  }
  std::string_view rest = url.substr(scheme_end + 3);
  size_t path_start = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_start);
  std::string_view path = path_start == std::string_view::npos ? "" : rest.substr(path_start);
  if (size_t hash = path.find('#'); hash != std::string_view::npos) path = path.substr(0, hash);
  if (authority.empty() || authority.find('@') != std::string_view::npos ||
      authority.find_first_of(" \t") != std::string_view::npos) {
    *error = "needs a host (and no user:password@)";
    return false;
  }
  // A port, if given, must be a number; IPv6 hosts are bracketed.
  size_t bracket = authority.rfind(']');
  size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    if (!ParsePort(authority.substr(colon + 1))) {
      *error = "has a bad port";
      return false;
    }
  }
  p->https = scheme == "https";
  p->scheme_host_port = StrCat(scheme, "://", authority);
  p->path = path.empty() ? "/" : path.front() == '?' ? StrCat("/", path) : std::string(path);
  return true;
}

// "2xx", "200", "200-299".
bool ParseStatusRange(std::string_view s, std::pair<int, int>* out) {
  auto number = [](std::string_view t, int* v) {
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), *v);
    return !t.empty() && ec == std::errc() && ptr == t.data() + t.size() && *v >= 100 && *v <= 599;
  };
  if (s.size() == 3 && s[0] >= '1' && s[0] <= '5' && (s[1] == 'x' || s[1] == 'X') &&
      (s[2] == 'x' || s[2] == 'X')) {
    int base = (s[0] - '0') * 100;
    *out = {base, base + 99};
    return true;
  }
  size_t dash = s.find('-');
  if (dash == std::string_view::npos) {
    int v = 0;
    if (!number(s, &v)) return false;
    *out = {v, v};
    return true;
  }
  int lo = 0, hi = 0;
  if (!number(s.substr(0, dash), &lo) || !number(s.substr(dash + 1), &hi) || lo > hi) return false;
  *out = {lo, hi};
  return true;
}

}  // namespace

void ParseProbeSourceOptions(ConfigMap section, ProbeSourceOptions* out) {
  std::set<std::string> names;
  auto common = [&](ConfigMap& item, ProbeOptions* p) {
    item.Require("name");
    item.String("name", &p->name);
    if (item.Has("name")) {
      absl::Status s = ValidateLabelValue(p->name);
      if (!s.ok() || p->name.empty()) {
        item.Error("name", s.ok() ? std::string_view("must not be empty") : ToStd(s.message()));
      } else if (!names.insert(p->name).second) {
        item.Error("name", StrCat("\"", p->name, "\" is used by another probe"));
      }
    }
    item.Duration("interval", &p->interval, std::chrono::milliseconds(100));
    item.Duration("timeout", &p->timeout, std::chrono::milliseconds(1));
    if (p->interval.count() > 0 && p->timeout > p->interval) {
      item.Error("timeout", "must not be longer than the probe's interval");
    }
  };
  for (ConfigMap& item : section.MapList("tcp")) {
    ProbeOptions p;
    p.kind = ProbeOptions::Kind::kTcp;
    common(item, &p);
    std::string address;
    item.Require("address");
    item.String("address", &address);
    if (item.Has("address") && !SplitHostPort(address, &p.host, &p.port)) {
      item.Error("address", StrCat("\"", address, "\" is not host:port"));
    }
    out->probes.push_back(std::move(p));
  }
  for (ConfigMap& item : section.MapList("http")) {
    ProbeOptions p;
    p.kind = ProbeOptions::Kind::kHttp;
    common(item, &p);
    std::string url, error;
    item.Require("url");
    item.String("url", &url);
    if (item.Has("url") && !ParseUrl(url, &p, &error)) {
      item.Error("url", StrCat("\"", url, "\" ", error));
    }
    std::vector<std::string> statuses;
    item.StringList("expect_status", &statuses);
    if (!statuses.empty()) {
      p.expect_status.clear();
      for (const std::string& s : statuses) {
        std::pair<int, int> range;
        if (!ParseStatusRange(s, &range)) {
          item.Error("expect_status",
                     StrCat("\"", s, "\" is not a status code, range (200-299) or class (2xx)"));
          continue;
        }
        p.expect_status.push_back(range);
      }
    }
    item.String("body_contains", &p.body_contains);
    item.Bool("follow_redirects", &p.follow_redirects);
    item.Bool("tls_verify", &p.tls_verify);
    item.String("ca_file", &p.ca_file);
    if ((item.Has("ca_file") || item.Has("tls_verify")) && !p.https && item.Has("url")) {
      item.Error(item.Has("ca_file") ? "ca_file" : "tls_verify", "applies to https:// URLs only");
    }
    out->probes.push_back(std::move(p));
  }
}

}  // namespace plumbline::agent
