#include "agent/statsd_parser.h"

#include <charconv>
#include <cmath>

namespace plumbline::agent {

namespace {

// Shows a hostile line safely in an error message: at most 64 bytes, with
// control and non-ASCII bytes as \xNN.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s.substr(0, 64)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
      StrAppend(&out, "\\x", absl::Hex(u, absl::kZeroPad2));
    } else {
      out.push_back(c);
    }
  }
  if (s.size() > 64) out += "...";
  return out + "\"";
}

absl::Status Invalid(std::string_view line, std::string_view what) {
  return absl::InvalidArgumentError(StrCat(what, " in ", Quote(line)));
}

// A finite decimal number, the whole of `text`, with an optional sign.
bool ParseNumber(std::string_view text, double* out) {
  if (text.empty()) return false;
  bool negative = false;
  if (text[0] == '+' || text[0] == '-') {
    negative = text[0] == '-';
    text.remove_prefix(1);
    // "+-1" and "--1" are not numbers.
    if (text.empty() || text[0] == '+' || text[0] == '-') return false;
  }
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) return false;
  *out = negative ? -v : v;
  return true;
}

bool IsPrintableAscii(std::string_view s) {
  for (char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

absl::Status ParseTags(std::string_view line, std::string_view text, StatsdMetric* m) {
  if (text.empty()) return absl::OkStatus();
  for (std::string_view tag : Split(text, ',')) {
    if (tag.empty()) continue;  // "a:1,,b:2" and a trailing comma are harmless
    if (m->tags.size() == kMaxStatsdTags) {
      return Invalid(line, StrCat("more than ", kMaxStatsdTags, " tags"));
    }
    size_t colon = tag.find(':');
    std::string_view name = tag.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : tag.substr(colon + 1);
    if (name.empty()) return Invalid(line, "tag without a name");
    m->tags.emplace_back(name, value);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<StatsdMetric> ParseStatsdLine(std::string_view line) {
  if (line.substr(0, 3) == "_e{" || line.substr(0, 4) == "_sc|") {
    return absl::UnimplementedError("DogStatsD events and service checks are not supported");
  }
  StatsdMetric m;
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return Invalid(line, "no ':' after the metric name");
  m.name = line.substr(0, colon);
  if (m.name.empty()) return Invalid(line, "empty metric name");
  if (m.name.size() > kMaxStatsdNameLength) {
    return Invalid(line, StrCat("metric name longer than ", kMaxStatsdNameLength, " bytes"));
  }
  if (!IsPrintableAscii(m.name)) return Invalid(line, "metric name is not printable ASCII");

  std::vector<std::string_view> fields = Split(line.substr(colon + 1), '|');
  if (fields.size() < 2) return Invalid(line, "no '|<type>' after the value");
  std::string_view value = fields[0];
  std::string_view type = fields[1];
  if (type == "c") {
    m.type = StatsdType::kCounter;
  } else if (type == "g") {
    m.type = StatsdType::kGauge;
  } else if (type == "ms") {
    m.type = StatsdType::kTimer;
  } else if (type == "h") {
    m.type = StatsdType::kHistogram;
  } else if (type == "d") {
    m.type = StatsdType::kDistribution;
  } else if (type == "s") {
    m.type = StatsdType::kSet;
  } else {
    return Invalid(line, StrCat("unknown metric type ", Quote(type)));
  }

  if (value.empty()) return Invalid(line, "empty value");
  if (m.type == StatsdType::kSet) {
    m.set_member = value;
  } else {
    if (!ParseNumber(value, &m.value)) return Invalid(line, StrCat("bad value ", Quote(value)));
    if (m.type == StatsdType::kGauge) {
      m.gauge_delta = value[0] == '+' || value[0] == '-';
    } else if (m.type == StatsdType::kCounter || m.type == StatsdType::kTimer) {
      // Cumulative counters cannot go down; a negative duration is a bug.
      if (m.value < 0) return Invalid(line, "negative value");
    }
  }

  bool seen_rate = false, seen_tags = false;
  for (size_t i = 2; i < fields.size(); ++i) {
    std::string_view f = fields[i];
    if (f.empty()) return Invalid(line, "empty field");
    if (f[0] == '@') {
      if (seen_rate) return Invalid(line, "two sample rates");
      seen_rate = true;
      if (!ParseNumber(f.substr(1), &m.sample_rate) || !(m.sample_rate > 0) || m.sample_rate > 1 ||
          f[1] == '+' || f[1] == '-') {
        return Invalid(line, "sample rate must be a number in (0, 1]");
      }
    } else if (f[0] == '#') {
      if (seen_tags) return Invalid(line, "two tag sections");
      seen_tags = true;
      RETURN_IF_ERROR(ParseTags(line, f.substr(1), &m));
    } else if (f.substr(0, 2) == "c:" || f.substr(0, 2) == "e:" || f[0] == 'T') {
      // DogStatsD container id, external data and client timestamp: the
      // agent stamps every point itself.
    } else {
      return Invalid(line, StrCat("unknown field ", Quote(f)));
    }
  }
  return m;
}

StatsdPacket ParseStatsdPacket(std::string_view packet) {
  StatsdPacket out;
  for (std::string_view line : Split(packet, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    absl::StatusOr<StatsdMetric> m = ParseStatsdLine(line);
    if (m.ok()) {
      out.metrics.push_back(*std::move(m));
    } else if (m.status().code() == absl::StatusCode::kUnimplemented) {
      ++out.unsupported;
    } else {
      if (out.errors++ == 0) out.first_error = std::string(ToStd(m.status().message()));
    }
  }
  return out;
}

}  // namespace plumbline::agent
