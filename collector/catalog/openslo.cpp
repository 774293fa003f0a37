#include "collector/catalog/openslo.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "collector/catalog/rate_card.h"
#include "common/labels.h"
#include "common/yaml_config.h"

namespace plumbline::collector {

namespace {

constexpr int64_t kSecondMs = 1000;
constexpr int64_t kMinuteMs = 60 * kSecondMs;
constexpr int64_t kHourMs = 60 * kMinuteMs;
constexpr int64_t kDayMs = 24 * kHourMs;
constexpr std::string_view kAnnotationPrefix = "plumbline.dev/";
constexpr std::string_view kMetadataPrefix = "plumbline.dev/metadata.";
// Service metadata key that records the OpenSLO alert policies of its SLOs.
constexpr const char* kAlertPoliciesKey = "openslo.alert_policies";
// Monday 1 January 2024: the start of an ISO week, a month and a quarter.
constexpr const char* kCalendarStart = "2024-01-01 00:00:00";

// ---------------------------------------------------------------------------
// Numbers, durations, names.

// Shortest text that reads back to the same double ("0.999", "12000").
std::string FormatNumber(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string("0");
}

std::optional<double> ParseNumber(const std::string& text) {
  if (text.empty() || text.front() == ' ') return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// OpenSLO duration shorthand: a whole number and one of s m h d w M Q Y.
struct Shorthand {
  int64_t count = 0;
  char unit = 0;
  // Length in milliseconds; 0 for M, Q and Y, which have no fixed length.
  int64_t Ms() const {
    switch (unit) {
      case 's':
        return count * kSecondMs;
      case 'm':
        return count * kMinuteMs;
      case 'h':
        return count * kHourMs;
      case 'd':
        return count * kDayMs;
      case 'w':
        return count * 7 * kDayMs;
      default:
        return 0;
    }
  }
};

std::optional<Shorthand> ParseShorthand(const std::string& text) {
  if (text.size() < 2 || text.size() > 10) return std::nullopt;
  Shorthand d;
  d.unit = text.back();
  if (std::strchr("smhdwMQY", d.unit) == nullptr) return std::nullopt;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    d.count = d.count * 10 + (text[i] - '0');
  }
  if (d.count <= 0) return std::nullopt;
  return d;
}

std::string FormatShorthand(int64_t ms) {
  if (ms % kDayMs == 0) return StrCat(ms / kDayMs, "d");
  if (ms % kHourMs == 0) return StrCat(ms / kHourMs, "h");
  if (ms % kMinuteMs == 0) return StrCat(ms / kMinuteMs, "m");
  return StrCat((ms + kSecondMs - 1) / kSecondMs, "s");
}

// An OpenSLO name (RFC 1123 label: lowercase letters, digits and '-', at most
// 63) for a catalog id; the id itself travels in a plumbline.dev/id annotation.
std::string OpenSloName(const std::string& id) {
  std::string out;
  for (char c : id) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    out += ok ? c : '-';
  }
  if (out.size() > 63) out.resize(63);
  while (!out.empty() && out.back() == '-') out.pop_back();
  size_t start = out.find_first_not_of('-');
  out = start == std::string::npos ? std::string("x") : out.substr(start);
  return out;
}

std::string OpName(const std::string& op) {
  if (op == "<") return "lt";
  if (op == "<=") return "lte";
  if (op == ">") return "gt";
  return "gte";
}

std::optional<std::string> OpFromName(const std::string& name) {
  if (name == "lt") return "<";
  if (name == "lte") return "<=";
  if (name == "gt") return ">";
  if (name == "gte") return ">=";
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Series selectors as PromQL-like text: metric{label="value",...}.

bool IsWild(char c) { return c == '*' || c == '?' || c == '['; }

// A catalog glob (fnmatch) as an anchored regular expression.
std::string GlobToRegex(const std::string& glob) {
  std::string out;
  for (size_t i = 0; i < glob.size(); ++i) {
    char c = glob[i];
    if (c == '*') {
      out += ".*";
    } else if (c == '?') {
      out += '.';
    } else if (c == '[') {
      size_t j = i + 1;
      if (j < glob.size() && glob[j] == '!') ++j;
      if (j < glob.size() && glob[j] == ']') ++j;
      size_t close = glob.find(']', j);
      if (close == std::string::npos) {
        out += "\\[";
        continue;
      }
      std::string body = glob.substr(i + 1, close - i - 1);
      if (!body.empty() && body[0] == '!') body[0] = '^';
      out += "[" + body + "]";
      i = close;
    } else {
      if (c == '\\' && i + 1 < glob.size()) c = glob[++i];
      if (std::strchr(".+()|{}^$\\[]*?", c) != nullptr) out += '\\';
      out += c;
    }
  }
  return out;
}

// The subset of regular expressions a glob can express: literals, '.', ".*",
// bracket expressions and backslash escapes. `wild` tells whether the result
// needs glob matching at all; if not, `literal` is the exact value.
absl::Status RegexToGlob(const std::string& re, std::string* glob, std::string* literal,
                         bool* wild) {
  *wild = false;
  for (size_t i = 0; i < re.size(); ++i) {
    char c = re[i];
    if (c == '.') {
      *wild = true;
      if (i + 1 < re.size() && re[i + 1] == '*') {
        *glob += '*';
        ++i;
      } else {
        *glob += '?';
      }
    } else if (c == '[') {
      size_t j = i + 1;
      if (j < re.size() && re[j] == '^') ++j;
      if (j < re.size() && re[j] == ']') ++j;
      size_t close = re.find(']', j);
      if (close == std::string::npos) {
        return absl::InvalidArgumentError(StrCat("regex \"", re, "\": unclosed \"[\""));
      }
      std::string body = re.substr(i + 1, close - i - 1);
      if (body.find('\\') != std::string::npos || body.find("[:") != std::string::npos) {
        return absl::InvalidArgumentError(
            StrCat("regex \"", re, "\": escapes and classes inside [...] have no glob form"));
      }
      if (!body.empty() && body[0] == '^') body[0] = '!';
      *glob += "[" + body + "]";
      *wild = true;
      i = close;
    } else if (c == '\\') {
      if (i + 1 >= re.size()) {
        return absl::InvalidArgumentError(StrCat("regex \"", re, "\": ends with a backslash"));
      }
      char n = re[++i];
      if ((n >= 'a' && n <= 'z') || (n >= 'A' && n <= 'Z') || (n >= '0' && n <= '9')) {
        return absl::InvalidArgumentError(
            StrCat("regex \"", re, "\": \"\\", std::string(1, n), "\" has no glob form"));
      }
      if (IsWild(n) || n == '\\' || n == ']') *glob += '\\';
      // An escaped * ? [ needs glob matching (with its escape) to stay literal.
      if (IsWild(n)) *wild = true;
      *glob += n;
      *literal += n;
    } else if (std::strchr("+()|{}^$*?", c) != nullptr) {
      return absl::InvalidArgumentError(
          StrCat("regex \"", re, "\": \"", std::string(1, c),
                 "\" has no glob form (only literals, ., .*, [...] and \\-escapes do)"));
    } else {
      *glob += c;
      *literal += c;
    }
  }
  return absl::OkStatus();
}

struct QueryMatcher {
  std::string name;
  std::string op;  // = != =~ !~
  std::string value;
};

struct Query {
  std::string function;  // "", "sum_over_time" or "count_over_time"
  std::string metric;
  std::vector<QueryMatcher> matchers;
};

class QueryParser {
 public:
  explicit QueryParser(const std::string& text) : text_(text) {}

  absl::StatusOr<Query> Parse() {
    Query q;
    SkipSpace();
    std::string ident = Ident(true);
    SkipSpace();
    if ((ident == "sum_over_time" || ident == "count_over_time") && Peek() == '(') {
      q.function = ident;
      ++pos_;
      SkipSpace();
      ident = Ident(true);
      SkipSpace();
    } else if (Peek() == '(') {
      return Fail(StrCat("function \"", ident,
                         "\" is not supported (a plain series selector is expected)"));
    }
    if (ident.empty()) return Fail("expected a metric name");
    q.metric = ident;
    if (Peek() == '{') {
      ++pos_;
      while (true) {
        SkipSpace();
        if (Peek() == '}') {
          ++pos_;
          break;
        }
        QueryMatcher m;
        m.name = Ident(false);
        if (m.name.empty()) return Fail("expected a label name");
        SkipSpace();
        if (Take("=~")) {
          m.op = "=~";
        } else if (Take("!~")) {
          m.op = "!~";
        } else if (Take("!=")) {
          m.op = "!=";
        } else if (Take("=")) {
          m.op = "=";
        } else {
          return Fail("expected one of = != =~ !~");
        }
        SkipSpace();
        absl::StatusOr<std::string> value = String();
        if (!value.ok()) return value.status();
        m.value = *value;
        q.matchers.push_back(std::move(m));
        SkipSpace();
        if (Peek() == ',') {
          ++pos_;
        } else if (Peek() != '}') {
          return Fail("expected \",\" or \"}\"");
        }
      }
    }
    SkipSpace();
    if (!q.function.empty()) {
      if (!Take("[")) return Fail("expected \"[\" and a range");
      size_t close = text_.find(']', pos_);
      if (close == std::string::npos || !ParseShorthand(text_.substr(pos_, close - pos_))) {
        return Fail("expected a range such as [1m]");
      }
      pos_ = close + 1;
      SkipSpace();
      if (!Take(")")) return Fail("expected \")\"");
      SkipSpace();
    }
    if (pos_ != text_.size()) return Fail("unexpected text");
    return q;
  }

 private:
  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool Take(std::string_view s) {
    if (text_.compare(pos_, s.size(), s) != 0) return false;
    pos_ += s.size();
    return true;
  }
  void SkipSpace() {
    while (pos_ < text_.size() && std::strchr(" \t\r\n", text_[pos_]) != nullptr &&
           text_[pos_] != '\0') {
      ++pos_;
    }
  }
  std::string Ident(bool colon) {
    size_t start = pos_;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                (colon && c == ':') || (pos_ > start && c >= '0' && c <= '9');
      if (!ok) break;
      ++pos_;
    }
    return text_.substr(start, pos_ - start);
  }
  absl::StatusOr<std::string> String() {
    char quote = Peek();
    if (quote != '"' && quote != '\'') return Fail("expected a quoted label value");
    ++pos_;
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      char c = text_[pos_++];
      if (c == '\\') {
        if (pos_ >= text_.size()) break;
        char e = text_[pos_++];
        if (e == 'n') {
          out += '\n';
        } else if (e == 't') {
          out += '\t';
        } else if (e == '\\' || e == '"' || e == '\'') {
          out += e;
        } else {
          --pos_;
          return Fail(StrCat("unknown escape \"\\", std::string(1, e), "\""));
        }
      } else {
        out += c;
      }
    }
    if (pos_ >= text_.size()) return Fail("unterminated label value");
    ++pos_;
    return out;
  }
  absl::Status Fail(std::string_view what) const {
    return absl::InvalidArgumentError(
        StrCat(what, " at offset ", pos_, " in \"", text_,
               "\"; expected a series selector such as http_requests_total{code=\"200\"}"));
  }

  const std::string& text_;
  size_t pos_ = 0;
};

std::string QuoteValue(const std::string& v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string FormatSelector(const std::string& metric, const std::vector<LabelMatcher>& match) {
  std::string out = metric;
  if (match.empty()) return out;
  out += "{";
  for (size_t i = 0; i < match.size(); ++i) {
    const LabelMatcher& m = match[i];
    if (i > 0) out += ",";
    switch (m.op) {
      case LabelMatcher::Op::kEqual:
        out += m.name + "=" + QuoteValue(m.value);
        break;
      case LabelMatcher::Op::kNotEqual:
        out += m.name + "!=" + QuoteValue(m.value);
        break;
      case LabelMatcher::Op::kGlob:
        out += m.name + "=~" + QuoteValue(GlobToRegex(m.value));
        break;
    }
  }
  return out + "}";
}

void SortMatchers(std::vector<LabelMatcher>* match) {
  std::sort(match->begin(), match->end(),
            [](const LabelMatcher& a, const LabelMatcher& b) { return a.name < b.name; });
}

// A query's selector as a catalog MetricSelector (matchers sorted by name).
absl::StatusOr<MetricSelector> ToSelector(const Query& q) {
  MetricSelector out;
  out.metric = q.metric;
  RETURN_IF_ERROR(ValidateMetricName(q.metric));
  std::set<std::string> seen;
  for (const QueryMatcher& m : q.matchers) {
    RETURN_IF_ERROR(ValidateLabelName(m.name));
    if (!seen.insert(m.name).second) {
      return absl::InvalidArgumentError(StrCat(
          "label \"", m.name, "\" is matched twice; the catalog takes one matcher per label"));
    }
    LabelMatcher lm;
    lm.name = m.name;
    std::string exact;
    if (m.op == "=") {
      exact = m.value;
    } else if (m.op == "!=") {
      lm.op = LabelMatcher::Op::kNotEqual;
      lm.value = m.value;
    } else if (m.op == "=~") {
      std::string glob, literal;
      bool wild = false;
      RETURN_IF_ERROR(RegexToGlob(m.value, &glob, &literal, &wild));
      if (wild) {
        if (!glob.empty() && glob[0] == '!') {
          return absl::InvalidArgumentError(
              StrCat("label \"", m.name,
                     "\": a pattern starting with \"!\" reads as not-equal in the catalog"));
        }
        lm.op = LabelMatcher::Op::kGlob;
        lm.value = glob;
      } else {
        exact = literal;
      }
    } else {
      return absl::InvalidArgumentError(StrCat(
          "label \"", m.name, "\": negative regex matchers (!~) have no catalog equivalent"));
    }
    if (lm.op == LabelMatcher::Op::kEqual) {
      if ((!exact.empty() && exact[0] == '!') ||
          std::find_if(exact.begin(), exact.end(), IsWild) != exact.end()) {
        return absl::InvalidArgumentError(
            StrCat("label \"", m.name, "\": value \"", exact,
                   "\" would read as a glob or a not-equal in the catalog, which has no exact "
                   "match for it"));
      }
      lm.value = exact;
    }
    RETURN_IF_ERROR(CheckMatchValue(m.name, lm.value));
    out.match.push_back(std::move(lm));
  }
  SortMatchers(&out.match);
  return out;
}

bool SameMatchers(const std::vector<LabelMatcher>& a, const std::vector<LabelMatcher>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].op != b[i].op || a[i].value != b[i].value) return false;
  }
  return true;
}

bool SameSelector(const MetricSelector& a, const MetricSelector& b) {
  return a.metric == b.metric && SameMatchers(a.match, b.match);
}

bool SameSli(const Sli& a, const Sli& b) {
  return a.kind == b.kind && SameSelector(a.good, b.good) && SameSelector(a.bad, b.bad) &&
         SameSelector(a.valid, b.valid) && SameSelector(a.histogram, b.histogram) &&
         a.threshold_seconds == b.threshold_seconds && a.probe == b.probe &&
         SameSelector(a.gauge, b.gauge) && a.op == b.op && a.bound == b.bound;
}

// ---------------------------------------------------------------------------
// Catalog YAML.

void EmitString(YAML::Emitter& out, const char* key, const std::string& value) {
  out << YAML::Key << key << YAML::Value << YAML::DoubleQuoted << value;
}

void EmitNumber(YAML::Emitter& out, const char* key, double value) {
  out << YAML::Key << key << YAML::Value << FormatNumber(value);
}

void EmitStringMap(YAML::Emitter& out, const char* key,
                   const std::map<std::string, std::string>& values) {
  if (values.empty()) return;
  out << YAML::Key << key << YAML::Value << YAML::BeginMap;
  for (const auto& [k, v] : values) {
    out << YAML::Key << YAML::DoubleQuoted << k << YAML::Value << YAML::DoubleQuoted << v;
  }
  out << YAML::EndMap;
}

void EmitStringList(YAML::Emitter& out, const char* key, const std::vector<std::string>& values) {
  if (values.empty()) return;
  out << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const std::string& v : values) out << YAML::DoubleQuoted << v;
  out << YAML::EndSeq;
}

void EmitSelector(YAML::Emitter& out, const char* key, const MetricSelector& s) {
  out << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "metric" << YAML::Value << s.metric;
  if (!s.match.empty()) {
    out << YAML::Key << "match" << YAML::Value << YAML::Flow << YAML::BeginMap;
    for (const LabelMatcher& m : s.match) {
      std::string value = m.op == LabelMatcher::Op::kNotEqual ? "!" + m.value : m.value;
      out << YAML::Key << m.name << YAML::Value << YAML::DoubleQuoted << value;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
}

void EmitSli(YAML::Emitter& out, const Sli& sli) {
  out << YAML::BeginMap;
  EmitString(out, "id", sli.id);
  switch (sli.kind) {
    case Sli::Kind::kRatio:
      out << YAML::Key << "kind" << YAML::Value << "ratio";
      EmitSelector(out, "valid", sli.valid);
      if (!sli.good.metric.empty()) EmitSelector(out, "good", sli.good);
      if (!sli.bad.metric.empty()) EmitSelector(out, "bad", sli.bad);
      break;
    case Sli::Kind::kLatency:
      out << YAML::Key << "kind" << YAML::Value << "latency";
      EmitSelector(out, "histogram", sli.histogram);
      out << YAML::Key << "threshold" << YAML::Value
          << FormatDuration(std::chrono::milliseconds(std::llround(sli.threshold_seconds * 1000)));
      break;
    case Sli::Kind::kProbe:
      out << YAML::Key << "kind" << YAML::Value << "probe";
      EmitString(out, "probe", sli.probe);
      break;
    case Sli::Kind::kThreshold:
      out << YAML::Key << "kind" << YAML::Value << "threshold";
      EmitSelector(out, "gauge", sli.gauge);
      EmitString(out, "op", sli.op);
      EmitNumber(out, "bound", sli.bound);
      break;
  }
  out << YAML::EndMap;
}

void EmitSlo(YAML::Emitter& out, const Slo& slo) {
  const Slo defaults;
  out << YAML::BeginMap;
  EmitString(out, "id", slo.id);
  EmitString(out, "sli", slo.sli);
  EmitNumber(out, "target", slo.target_percent);
  out << YAML::Key << "window" << YAML::Value;
  switch (slo.period) {
    case Slo::Period::kWeek:
      out << "week";
      break;
    case Slo::Period::kMonth:
      out << "month";
      break;
    case Slo::Period::kQuarter:
      out << "quarter";
      break;
    case Slo::Period::kRolling:
      out << FormatDuration(slo.window);
      break;
  }
  if (slo.timeslices) {
    out << YAML::Key << "budgeting" << YAML::Value << "timeslices";
    out << YAML::Key << "timeslice" << YAML::Value << FormatDuration(slo.timeslice);
  }
  if (slo.min_events != defaults.min_events) EmitNumber(out, "min_events", slo.min_events);
  if (slo.importance != defaults.importance) EmitNumber(out, "importance", slo.importance);
  if (slo.critical) out << YAML::Key << "critical" << YAML::Value << true;
  out << YAML::EndMap;
}

// ---------------------------------------------------------------------------
// Import.

// The documents of a YAML stream, each with the line it starts on (0-based):
// split at the lines that start one ("---" alone or followed by a space or
// tab), each read by YAML::Load. Not YAML::LoadAll: on some malformed
// streams yaml-cpp 0.7's LoadAll keeps allocating (past 4 GB on a 91-byte
// file; OpenSloImport.AStreamThatMakesYamlCppLoadAllRunAwayIsAnError),
// where Load of the same text returns. Text before the first marker is a
// document only if it has content other than comments and directives.
struct YamlDocument {
  std::string text;
  int first_line = 0;
};

std::vector<YamlDocument> SplitYamlDocuments(std::string_view text) {
  std::vector<YamlDocument> out;
  YamlDocument current;
  bool content = false;  // the part before the first marker has content
  bool marked = false;   // a marker was seen
  int line_no = 0;
  for (size_t at = 0; at < text.size(); ++line_no) {
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(at, end - at);
    at = end + 1;
    const bool marker = line.substr(0, 3) == "---" &&
                        (line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r');
    if (marker) {
      if (marked || content) out.push_back(std::move(current));
      current = YamlDocument{};
      current.first_line = line_no;
      marked = true;
    } else if (!marked) {
      const size_t first = line.find_first_not_of(" \t\r");
      if (first != std::string_view::npos && line[first] != '#' && line[first] != '%')
        content = true;
    }
    current.text.append(line);
    current.text.push_back('\n');
  }
  if (marked || content) out.push_back(std::move(current));
  return out;
}

// Where a message comes from: "slo.yaml: document 2 (SLO checkout-availability)".
struct Doc {
  std::string file;
  int index = 0;  // 1-based within its file
  std::string kind;
  std::string name;
  YAML::Node node;

  std::string Where() const {
    std::string out = StrCat(file, ": document ", index);
    if (!kind.empty()) {
      out += StrCat(" (", kind, name.empty() ? "" : " ", name, ")");
    }
    return out;
  }
};

std::optional<YAML::Node> Find(const YAML::Node& map, std::string_view key) {
  if (!map.IsMap()) return std::nullopt;
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) {
      if (it->second.IsNull()) return std::nullopt;
      return it->second;
    }
  }
  return std::nullopt;
}

std::string Join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) StrAppend(&out, i > 0 ? sep : "", items[i]);
  return out;
}

// What an indicator (inline, or an SLI document) says.
struct Indicator {
  bool ok = false;
  Sli sli;                        // id set; a threshold SLI's op and bound come from the objective
  std::string service;            // plumbline.dev/service (standalone SLI documents)
  std::optional<std::string> op;  // plumbline.dev/op and /bound (standalone threshold SLIs)
  std::optional<double> bound;
  bool used = false;
  Doc doc;
};

class Importer {
 public:
  explicit Importer(const OpenSloImportOptions& options) : options_(options) {}

  void Read(const OpenSloFile& file) {
    std::vector<YAML::Node> docs;
    for (const YamlDocument& doc : SplitYamlDocuments(file.text)) {
      try {
        docs.push_back(YAML::Load(doc.text));
      } catch (const YAML::Exception& e) {
        errors_.push_back(StrCat(file.name, ":", doc.first_line + e.mark.line + 1, ":",
                                 e.mark.column + 1, ": ", e.msg));
        return;
      }
    }
    for (size_t i = 0; i < docs.size(); ++i) {
      Doc d;
      d.file = file.name;
      d.index = static_cast<int>(i) + 1;
      d.node = docs[i];
      if (!d.node.IsDefined() || d.node.IsNull()) continue;  // an empty document
      if (!d.node.IsMap()) {
        Error(d, "", "expected a mapping with apiVersion, kind, metadata and spec");
        continue;
      }
      std::string api = Scalar(d, d.node, "apiVersion", true);
      d.kind = Scalar(d, d.node, "kind", true);
      YAML::Node metadata = MapAt(d, d.node, "metadata", "metadata", true);
      d.name = Scalar(d, metadata, "name", true, "metadata.");
      if (!api.empty() && api != "openslo/v1") {
        Error(d, "apiVersion", StrCat("expected openslo/v1, got \"", api, "\""));
        continue;
      }
      if (d.kind == "Service") {
        services_.push_back(d);
      } else if (d.kind == "SLI") {
        slis_.push_back(d);
      } else if (d.kind == "SLO") {
        slos_.push_back(d);
      } else if (d.kind == "AlertPolicy") {
        policies_.push_back(d);
      } else if (d.kind == "DataSource" || d.kind == "AlertCondition" ||
                 d.kind == "AlertNotificationTarget") {
        Warn(d, "",
             StrCat(d.kind, " documents are not imported: Plumbline reads its own store ",
                    "and alerts with its standard burn-rate rules"));
      } else if (!d.kind.empty()) {
        Error(d, "kind", StrCat("expected Service, SLI, SLO or AlertPolicy, got \"", d.kind, "\""));
      }
    }
  }

  absl::StatusOr<OpenSloImport> Finish() {
    if (!IsValidCatalogId(options_.business_unit)) {
      errors_.push_back(StrCat("business unit \"", options_.business_unit,
                               "\" is not a valid id (letters, digits, - _ . ; at most 64)"));
    }
    for (const Doc& d : services_) ReadService(d);
    for (const Doc& d : slis_) {
      Indicator ind = ReadIndicator(d, d.node, "", d.name);
      if (!d.name.empty() && !indicators_.emplace(d.name, std::move(ind)).second) {
        Error(d, "metadata.name", StrCat("duplicate SLI name \"", d.name, "\""));
      }
    }
    for (const Doc& d : slos_) ReadSlo(d);
    PlaceUnusedSlis();
    ReportAlertPolicies();
    ResolveDependencies();
    if (!errors_.empty()) return absl::InvalidArgumentError(Join(errors_, "\n"));

    if (needs_default_unit_) AddBusinessUnit(options_.business_unit);
    OpenSloImport result;
    result.catalog_yaml = CatalogToYaml(catalog_);
    absl::StatusOr<Catalog> parsed = ParseCatalog(result.catalog_yaml, "imported catalog");
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          StrCat("the imported catalog does not validate: ", parsed.status().message()));
    }
    result.catalog = std::move(*parsed);
    result.warnings = std::move(warnings_);
    return result;
  }

 private:
  // --- messages
  void Error(const Doc& d, std::string_view field, std::string_view message) {
    errors_.push_back(StrCat(d.Where(), ": ", field, field.empty() ? "" : ": ", message));
  }
  void Warn(const Doc& d, std::string_view field, std::string_view message) {
    warnings_.push_back(StrCat(d.Where(), ": ", field, field.empty() ? "" : ": ", message));
  }

  // --- typed reads; `prefix` is the path of `map` ("spec.", "" for the root)
  std::string Scalar(const Doc& d, const YAML::Node& map, std::string_view key, bool required,
                     std::string_view prefix = "") {
    std::optional<YAML::Node> n = Find(map, key);
    if (!n) {
      if (required) Error(d, StrCat(prefix, key), "required");
      return "";
    }
    if (!n->IsScalar()) {
      Error(d, StrCat(prefix, key), "expected a string");
      return "";
    }
    return n->Scalar();
  }
  std::optional<double> Number(const Doc& d, const YAML::Node& map, std::string_view key,
                               std::string_view prefix) {
    std::optional<YAML::Node> n = Find(map, key);
    if (!n) return std::nullopt;
    std::optional<double> v = n->IsScalar() ? ParseNumber(n->Scalar()) : std::nullopt;
    if (!v) {
      Error(d, StrCat(prefix, key),
            StrCat("expected a number, got \"", n->IsScalar() ? n->Scalar() : "(not a scalar)",
                   "\""));
    }
    return v;
  }
  std::optional<bool> Bool(const Doc& d, const YAML::Node& map, std::string_view key,
                           std::string_view prefix) {
    std::optional<YAML::Node> n = Find(map, key);
    if (!n) return std::nullopt;
    bool v = false;
    if (!n->IsScalar() || !YAML::convert<bool>::decode(*n, v)) {
      Error(d, StrCat(prefix, key), "expected true or false");
      return std::nullopt;
    }
    return v;
  }
  YAML::Node MapAt(const Doc& d, const YAML::Node& map, std::string_view key, std::string_view path,
                   bool required) {
    std::optional<YAML::Node> n = Find(map, key);
    if (!n) {
      if (required) Error(d, path, "required");
      return YAML::Node(YAML::NodeType::Map);
    }
    if (!n->IsMap()) {
      Error(d, path, "expected a mapping");
      return YAML::Node(YAML::NodeType::Map);
    }
    return *n;
  }
  // Warns about keys of `map` nobody reads (typos, newer spec fields).
  void WarnUnknown(const Doc& d, const YAML::Node& map, std::string_view prefix,
                   std::initializer_list<std::string_view> known) {
    if (!map.IsMap()) return;
    for (auto it = map.begin(); it != map.end(); ++it) {
      std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        Warn(d, StrCat(prefix, key), "unknown field, not imported");
      }
    }
  }
  // A string-to-string map (labels may also hold lists, joined with ",").
  std::map<std::string, std::string> StringMap(const Doc& d, const YAML::Node& map,
                                               std::string_view key, std::string_view path) {
    std::map<std::string, std::string> out;
    std::optional<YAML::Node> n = Find(map, key);
    if (!n) return out;
    if (!n->IsMap()) {
      Error(d, path, "expected a mapping");
      return out;
    }
    for (auto it = n->begin(); it != n->end(); ++it) {
      if (!it->first.IsScalar()) continue;
      // A copy: the iterator's pair is a temporary (yaml-cpp).
      const YAML::Node v = it->second;
      if (v.IsScalar()) {
        out[it->first.Scalar()] = v.Scalar();
      } else if (v.IsSequence()) {
        std::vector<std::string> items;
        for (const YAML::Node& item : v) {
          if (item.IsScalar()) items.push_back(item.Scalar());
        }
        out[it->first.Scalar()] = Join(items, ",");
      } else if (v.IsNull()) {
        out[it->first.Scalar()] = "";
      } else {
        Error(d, StrCat(path, ".", it->first.Scalar()), "expected a string");
      }
    }
    return out;
  }

  // The catalog id of a document: its plumbline.dev/id annotation (set by
  // export), else its name.
  std::string IdOf(const Doc& d, const std::map<std::string, std::string>& annotations,
                   const std::string& name, std::string_view path) {
    auto it = annotations.find("plumbline.dev/id");
    std::string id = it != annotations.end() ? it->second : name;
    if (!id.empty() && !IsValidCatalogId(id)) {
      Error(d, path,
            StrCat("\"", id, "\" is not a valid catalog id (letters, digits, - _ . ; at most 64)"));
    }
    return id;
  }

  void AddBusinessUnit(const std::string& id) {
    if (catalog_.FindBusinessUnit(id) != nullptr) return;
    BusinessUnit bu;
    bu.id = id;
    bu.name = id;
    catalog_.business_units.push_back(std::move(bu));
  }

  Service& ServiceAt(size_t index) { return catalog_.services[index]; }

  // --- Service documents
  void ReadService(const Doc& d) {
    if (d.name.empty()) return;
    YAML::Node metadata = MapAt(d, d.node, "metadata", "metadata", true);
    YAML::Node spec = MapAt(d, d.node, "spec", "spec", false);
    WarnUnknown(d, d.node, "", {"apiVersion", "kind", "metadata", "spec"});
    WarnUnknown(d, metadata, "metadata.", {"name", "displayName", "labels", "annotations"});
    WarnUnknown(d, spec, "spec.", {"description"});
    auto annotations = StringMap(d, metadata, "annotations", "metadata.annotations");
    Service s;
    s.id = IdOf(d, annotations, d.name, "metadata.name");
    s.name = Scalar(d, metadata, "displayName", false, "metadata.");
    if (s.name.empty()) s.name = s.id;
    std::string description = Scalar(d, spec, "description", false, "spec.");
    if (!description.empty()) s.metadata["description"] = description;
    // Labels and foreign annotations become service metadata.
    for (const auto& [k, v] : StringMap(d, metadata, "labels", "metadata.labels"))
      s.metadata[k] = v;
    for (const auto& annotation : annotations) {
      const std::string& key = annotation.first;
      const std::string& value = annotation.second;
      std::string_view k = key;
      const std::string path = StrCat("metadata.annotations.", key);
      auto number = [&](double* out, double min, double max) {
        std::optional<double> v = ParseNumber(value);
        if (!v || *v < min || *v > max) {
          Error(d, path,
                StrCat("expected a number in [", min, ", ", max, "], got \"", value, "\""));
        } else {
          *out = *v;
        }
      };
      if (k.substr(0, kMetadataPrefix.size()) == kMetadataPrefix) {
        s.metadata[std::string(k.substr(kMetadataPrefix.size()))] = value;
      } else if (k.substr(0, kAnnotationPrefix.size()) != kAnnotationPrefix) {
        s.metadata[key] = value;
      } else if (k == "plumbline.dev/id") {
      } else if (k == "plumbline.dev/business-unit") {
        if (!IsValidCatalogId(value)) Error(d, path, StrCat("\"", value, "\" is not a valid id"));
        s.business_unit = value;
      } else if (k == "plumbline.dev/owner") {
        s.owner = value;
      } else if (k == "plumbline.dev/tier") {
        double tier = 0;
        number(&tier, 1, 5);
        if (tier != 0) s.tier = static_cast<int>(tier);
        if (tier != std::floor(tier)) Error(d, path, "expected a whole number");
      } else if (k == "plumbline.dev/external") {
        if (value != "true" && value != "false") Error(d, path, "expected true or false");
        s.external = value == "true";
      } else if (k == "plumbline.dev/revenue-per-hour") {
        number(&s.revenue_per_hour, 0, 1e15);
      } else if (k == "plumbline.dev/value-per-transaction") {
        number(&s.value_per_transaction, 0, 1e15);
      } else if (k == "plumbline.dev/users") {
        number(&s.users, 0, 1e12);
      } else if (k == "plumbline.dev/timezone") {
        s.timezone = value;
        timezone_set_.insert(s.id);
      } else if (k == "plumbline.dev/dependencies") {
        pending_dependencies_.push_back({d, s.id, value});
      } else {
        Warn(d, path, "unknown Plumbline annotation, not imported");
      }
    }
    if (s.business_unit.empty() && !s.external) {
      s.business_unit = options_.business_unit;
      needs_default_unit_ = true;
    } else if (!s.business_unit.empty() && IsValidCatalogId(s.business_unit)) {
      AddBusinessUnit(s.business_unit);
    }
    if (service_docs_.count(d.name) != 0 || FindService(s.id) >= 0) {
      Error(d, "metadata.name", StrCat("duplicate Service \"", d.name, "\""));
      return;
    }
    service_docs_[d.name] = catalog_.services.size();
    catalog_.services.push_back(std::move(s));
  }

  int FindService(const std::string& id) const {
    for (size_t i = 0; i < catalog_.services.size(); ++i) {
      if (catalog_.services[i].id == id) return static_cast<int>(i);
    }
    return -1;
  }

  // The service an SLO's spec.service names: a Service document's name, or
  // else the id of a service created for it.
  int ServiceFor(const Doc& d, const std::string& name, std::string_view path) {
    auto it = service_docs_.find(name);
    if (it != service_docs_.end()) return static_cast<int>(it->second);
    int existing = FindService(name);
    if (existing >= 0) return existing;
    if (!IsValidCatalogId(name)) {
      Error(d, path, StrCat("\"", name, "\" is not a valid catalog id"));
      return -1;
    }
    Service s;
    s.id = name;
    s.name = name;
    s.business_unit = options_.business_unit;
    needs_default_unit_ = true;
    catalog_.services.push_back(std::move(s));
    service_docs_[name] = catalog_.services.size() - 1;
    return static_cast<int>(catalog_.services.size() - 1);
  }

  // --- indicators
  // One metricSource; `path` ends in "metricSource".
  std::optional<Query> ReadMetricSource(const Doc& d, const YAML::Node& parent,
                                        const std::string& path) {
    YAML::Node source = MapAt(d, parent, "metricSource", path, true);
    WarnUnknown(d, source, path + ".", {"metricSourceRef", "type", "spec"});
    std::string ref = Scalar(d, source, "metricSourceRef", false, path + ".");
    if (!ref.empty()) {
      Warn(d, path + ".metricSourceRef",
           StrCat("data source \"", ref, "\" not imported: Plumbline reads its own store"));
    }
    std::string type = Scalar(d, source, "type", false, path + ".");
    if (!type.empty() && type != "Prometheus" && type != "Plumbline") {
      Warn(d, path + ".type",
           StrCat("\"", type, "\" dropped: the query is read as a Plumbline series selector"));
    }
    YAML::Node spec = MapAt(d, source, "spec", path + ".spec", true);
    std::string query = Scalar(d, spec, "query", true, path + ".spec.");
    if (query.empty()) return std::nullopt;
    absl::StatusOr<Query> q = QueryParser(query).Parse();
    if (!q.ok()) {
      Error(d, path + ".spec.query", ToStd(q.status().message()));
      return std::nullopt;
    }
    return *q;
  }

  std::optional<MetricSelector> Selector(const Doc& d, const Query& q, const std::string& path) {
    absl::StatusOr<MetricSelector> s = ToSelector(q);
    if (!s.ok()) {
      Error(d, path + ".spec.query", ToStd(s.status().message()));
      return std::nullopt;
    }
    return *s;
  }

  // `node` holds metadata and spec; `prefix` is its path ("spec.indicator.").
  Indicator ReadIndicator(const Doc& d, const YAML::Node& node, const std::string& prefix,
                          const std::string& fallback_id) {
    Indicator ind;
    ind.doc = d;
    YAML::Node metadata = MapAt(d, node, "metadata", prefix + "metadata", false);
    YAML::Node spec = MapAt(d, node, "spec", prefix + "spec", true);
    if (prefix.empty()) {
      WarnUnknown(d, node, prefix, {"apiVersion", "kind", "metadata", "spec"});
    } else {
      WarnUnknown(d, node, prefix, {"metadata", "spec"});
    }
    WarnUnknown(d, metadata, prefix + "metadata.",
                {"name", "displayName", "labels", "annotations"});
    WarnUnknown(d, spec, prefix + "spec.", {"description", "ratioMetric", "thresholdMetric"});
    for (const char* dropped : {"displayName", "labels"}) {
      if (Find(metadata, dropped)) Warn(d, StrCat(prefix, "metadata.", dropped), "not imported");
    }
    if (Find(spec, "description")) Warn(d, prefix + "spec.description", "not imported");
    auto annotations = StringMap(d, metadata, "annotations", prefix + "metadata.annotations");
    std::string name = Scalar(d, metadata, "name", false, prefix + "metadata.");
    if (name.empty()) name = fallback_id;
    ind.sli.id = IdOf(d, annotations, name, prefix + "metadata.name");
    for (const auto& [key, value] : annotations) {
      const std::string path = StrCat(prefix, "metadata.annotations.", key);
      if (key == "plumbline.dev/id") {
      } else if (key == "plumbline.dev/service") {
        ind.service = value;
      } else if (key == "plumbline.dev/op") {
        ind.op = OpFromName(value);
        if (!ind.op) Error(d, path, StrCat("expected lt, lte, gt or gte, got \"", value, "\""));
      } else if (key == "plumbline.dev/bound") {
        ind.bound = ParseNumber(value);
        if (!ind.bound) Error(d, path, StrCat("expected a number, got \"", value, "\""));
      } else {
        Warn(d, path, "not imported");
      }
    }

    const size_t errors_before = errors_.size();
    const bool ratio = Find(spec, "ratioMetric").has_value();
    const bool threshold = Find(spec, "thresholdMetric").has_value();
    if (ratio == threshold) {
      Error(d, prefix + "spec", "needs exactly one of ratioMetric and thresholdMetric");
      return ind;
    }
    if (threshold) {
      const std::string path = prefix + "spec.thresholdMetric";
      YAML::Node metric = MapAt(d, spec, "thresholdMetric", path, true);
      WarnUnknown(d, metric, path + ".", {"metricSource"});
      std::optional<Query> q = ReadMetricSource(d, metric, path + ".metricSource");
      if (q && !q->function.empty()) {
        Error(d, path + ".metricSource.spec.query",
              StrCat("function \"", q->function, "\" is not supported for a threshold metric"));
      } else if (q) {
        std::optional<MetricSelector> s = Selector(d, *q, path + ".metricSource");
        if (s) {
          ind.sli.kind = Sli::Kind::kThreshold;
          ind.sli.gauge = *s;
        }
      }
      ind.ok = errors_.size() == errors_before;
      return ind;
    }

    const std::string path = prefix + "spec.ratioMetric";
    YAML::Node metric = MapAt(d, spec, "ratioMetric", path, true);
    WarnUnknown(d, metric, path + ".", {"counter", "good", "bad", "total", "raw", "rawType"});
    if (Find(metric, "raw") || Find(metric, "rawType")) {
      Error(d, path + ".raw",
            "a precomputed ratio has no catalog equivalent; give good or bad, and total");
      return ind;
    }
    const bool counter = Bool(d, metric, "counter", path + ".").value_or(true);
    const bool good = Find(metric, "good").has_value(), bad = Find(metric, "bad").has_value();
    if (good == bad) {
      Error(d, path, "needs exactly one of good and bad");
      return ind;
    }
    const std::string part = good ? "good" : "bad";
    std::optional<Query> part_query = ReadMetricSource(
        d, MapAt(d, metric, part, path + "." + part, true), path + "." + part + ".metricSource");
    std::optional<Query> total_query = ReadMetricSource(
        d, MapAt(d, metric, "total", path + ".total", true), path + ".total.metricSource");
    if (!part_query || !total_query) return ind;

    if (!counter || !part_query->function.empty() || !total_query->function.empty()) {
      // The one non-counter form: share of successful probe intervals.
      const Query& p = *part_query;
      const Query& t = *total_query;
      bool probe = !counter && good && p.function == "sum_over_time" &&
                   t.function == "count_over_time" && p.metric == "probe_success" &&
                   t.metric == "probe_success" && p.matchers.size() == 1 &&
                   t.matchers.size() == 1 && p.matchers[0].name == "probe" &&
                   p.matchers[0].op == "=" && t.matchers[0].name == "probe" &&
                   t.matchers[0].op == "=" && p.matchers[0].value == t.matchers[0].value;
      if (!probe) {
        Error(d, path,
              "the catalog reads good, bad and total as counters (counter: true, plain "
              "selectors); the only other form understood is a probe SLI: "
              "counter: false, good sum_over_time(probe_success{probe=\"NAME\"}[1m]), total "
              "count_over_time(probe_success{probe=\"NAME\"}[1m])");
        return ind;
      }
      ind.sli.kind = Sli::Kind::kProbe;
      ind.sli.probe = p.matchers[0].value;
      ind.ok = true;
      return ind;
    }
    std::optional<MetricSelector> part_selector =
        Selector(d, *part_query, path + "." + part + ".metricSource");
    std::optional<MetricSelector> total_selector =
        Selector(d, *total_query, path + ".total.metricSource");
    if (!part_selector || !total_selector) return ind;
    ind.sli.kind = Sli::Kind::kRatio;
    ind.sli.valid = *total_selector;
    (good ? ind.sli.good : ind.sli.bad) = *part_selector;
    if (good) DetectLatency(&ind.sli);
    ind.ok = true;
    return ind;
  }

  // good X_bucket{..., le="B"} over total X_count{...} is a latency SLI with
  // threshold B, when B is a whole number of milliseconds written the way the
  // collector writes bucket bounds.
  static void DetectLatency(Sli* sli) {
    const std::string& good = sli->good.metric;
    const std::string& total = sli->valid.metric;
    constexpr std::string_view kBucket = "_bucket", kCount = "_count";
    if (good.size() <= kBucket.size() || total.size() <= kCount.size()) return;
    if (good.compare(good.size() - kBucket.size(), kBucket.size(), kBucket) != 0) return;
    std::string base = good.substr(0, good.size() - kBucket.size());
    if (total != base + std::string(kCount)) return;
    std::vector<LabelMatcher> rest;
    std::optional<std::string> le;
    for (const LabelMatcher& m : sli->good.match) {
      if (m.name == "le" && m.op == LabelMatcher::Op::kEqual) {
        le = m.value;
      } else {
        rest.push_back(m);
      }
    }
    if (!le || !SameMatchers(rest, sli->valid.match)) return;
    std::optional<double> bound = ParseNumber(*le);
    if (!bound || *bound < 0.001 || *bound > 1e9) return;
    const double ms = std::round(*bound * 1000);
    if (FormatNumber(ms / 1000) != *le) return;
    Sli latency;
    latency.id = sli->id;
    latency.kind = Sli::Kind::kLatency;
    latency.histogram.metric = base;
    latency.histogram.match = rest;
    latency.threshold_seconds = ms / 1000;
    *sli = std::move(latency);
  }

  // Adds `sli` to the service unless an equal one is there; a different SLI
  // with the same id is an error.
  bool AddSli(const Doc& d, Service& s, const Sli& sli, std::string_view path) {
    for (const Sli& existing : s.slis) {
      if (existing.id != sli.id) continue;
      if (SameSli(existing, sli)) return true;
      Error(
          d, path,
          StrCat("SLI \"", sli.id, "\" of service \"", s.id, "\" is already defined differently"));
      return false;
    }
    s.slis.push_back(sli);
    return true;
  }

  // --- SLO documents
  void ReadSlo(const Doc& d) {
    if (d.name.empty()) return;
    YAML::Node metadata = MapAt(d, d.node, "metadata", "metadata", true);
    YAML::Node spec = MapAt(d, d.node, "spec", "spec", true);
    WarnUnknown(d, d.node, "", {"apiVersion", "kind", "metadata", "spec"});
    WarnUnknown(d, metadata, "metadata.", {"name", "displayName", "labels", "annotations"});
    WarnUnknown(d, spec, "spec.",
                {"description", "service", "indicator", "indicatorRef", "timeWindow",
                 "budgetingMethod", "objectives", "alertPolicies"});
    for (const char* dropped : {"displayName", "labels"}) {
      if (Find(metadata, dropped)) Warn(d, StrCat("metadata.", dropped), "not imported");
    }
    if (Find(spec, "description")) Warn(d, "spec.description", "not imported");
    auto annotations = StringMap(d, metadata, "annotations", "metadata.annotations");
    Slo base;
    const std::string base_id = IdOf(d, annotations, d.name, "metadata.name");
    for (const auto& [key, value] : annotations) {
      const std::string path = StrCat("metadata.annotations.", key);
      std::optional<double> number = ParseNumber(value);
      if (key == "plumbline.dev/id") {
      } else if (key == "plumbline.dev/min-events") {
        if (!number || *number < 0 || *number > 1e15) {
          Error(d, path, StrCat("expected a number in [0, 1e15], got \"", value, "\""));
        } else {
          base.min_events = *number;
        }
      } else if (key == "plumbline.dev/importance") {
        if (!number || *number < 0 || *number > 10) {
          Error(d, path, StrCat("expected a number in [0, 10], got \"", value, "\""));
        } else {
          base.importance = *number;
        }
      } else if (key == "plumbline.dev/critical") {
        if (value != "true" && value != "false") Error(d, path, "expected true or false");
        base.critical = value == "true";
      } else {
        Warn(d, path, "not imported");
      }
    }

    const std::string service_name = Scalar(d, spec, "service", true, "spec.");
    int service_index = service_name.empty() ? -1 : ServiceFor(d, service_name, "spec.service");

    // The indicator.
    Indicator ind;
    const bool inline_indicator = Find(spec, "indicator").has_value();
    const std::string ref = Scalar(d, spec, "indicatorRef", false, "spec.");
    if (inline_indicator == !ref.empty()) {
      Error(d, "spec", "needs exactly one of indicator and indicatorRef");
    } else if (inline_indicator) {
      ind = ReadIndicator(d, MapAt(d, spec, "indicator", "spec.indicator", true), "spec.indicator.",
                          d.name);
    } else {
      auto it = indicators_.find(ref);
      if (it == indicators_.end()) {
        Error(d, "spec.indicatorRef", StrCat("unknown SLI \"", ref, "\""));
      } else {
        it->second.used = true;
        ind = it->second;
      }
    }

    ReadTimeWindow(d, spec, service_index, &base);
    ReadBudgeting(d, spec, &base);

    std::optional<YAML::Node> objectives = Find(spec, "objectives");
    if (!objectives || !objectives->IsSequence() || objectives->size() == 0) {
      Error(d, "spec.objectives", "expected a list of at least one objective");
      return;
    }
    ReadAlertPolicies(d, spec, service_index);
    const size_t count = objectives->size();
    for (size_t i = 0; i < count; ++i) {
      const YAML::Node objective = (*objectives)[i];
      const std::string path = StrCat("spec.objectives[", i, "]");
      if (!objective.IsMap()) {
        Error(d, path, "expected a mapping");
        continue;
      }
      WarnUnknown(d, objective, path + ".",
                  {"displayName", "op", "value", "target", "targetPercent", "timeSliceTarget",
                   "timeSliceWindow", "indicator", "indicatorRef", "compositeWeight"});
      if (Find(objective, "indicator") || Find(objective, "indicatorRef") ||
          Find(objective, "compositeWeight")) {
        Error(d, path, "composite SLOs (an indicator per objective) are not supported");
        continue;
      }
      if (Find(objective, "displayName")) Warn(d, path + ".displayName", "not imported");
      Slo slo = base;
      slo.id = count > 1 ? StrCat(base_id, "-", i) : base_id;
      std::optional<double> target = Number(d, objective, "target", path + ".");
      std::optional<double> percent = Number(d, objective, "targetPercent", path + ".");
      if (Find(objective, "target").has_value() == Find(objective, "targetPercent").has_value()) {
        Error(d, path, "needs exactly one of target and targetPercent");
      } else if (target) {
        if (!(*target > 0 && *target <= 1)) {
          Error(d, path + ".target", StrCat("must be in (0, 1], got ", FormatNumber(*target)));
        } else {
          // Rounded so 0.999 reads as 99.9, not 99.89999999999999.
          slo.target_percent = std::round(*target * 100 * 1e9) / 1e9;
          if (!(slo.target_percent > 0)) slo.target_percent = *target * 100;
        }
      } else if (percent) {
        if (!(*percent > 0 && *percent <= 100)) {
          Error(d, path + ".targetPercent",
                StrCat("must be in (0, 100], got ", FormatNumber(*percent)));
        } else {
          slo.target_percent = *percent;
        }
      }
      ReadTimeslice(d, objective, path, target, &slo);

      if (!ind.ok || service_index < 0) continue;
      Sli sli = ind.sli;
      if (sli.kind == Sli::Kind::kThreshold) {
        std::string op_name = Scalar(d, objective, "op", true, path + ".");
        std::optional<double> value = Number(d, objective, "value", path + ".");
        if (!Find(objective, "value")) Error(d, path + ".value", "required for a threshold metric");
        std::optional<std::string> op = OpFromName(op_name);
        if (!op_name.empty() && !op) {
          Error(d, path + ".op", StrCat("expected lt, lte, gt or gte, got \"", op_name, "\""));
        }
        if (!op || !value) continue;
        sli.op = *op;
        sli.bound = *value;
        if (count > 1) sli.id = StrCat(sli.id, "-", i);
      } else {
        for (const char* ignored : {"op", "value"}) {
          if (Find(objective, ignored)) {
            Warn(d, StrCat(path, ".", ignored), "only applies to a threshold metric; not imported");
          }
        }
      }
      Service& service = ServiceAt(static_cast<size_t>(service_index));
      if (!AddSli(d, service, sli, inline_indicator ? "spec.indicator" : "spec.indicatorRef")) {
        continue;
      }
      slo.sli = sli.id;
      bool duplicate = false;
      for (const Slo& existing : service.slos) duplicate = duplicate || existing.id == slo.id;
      if (duplicate) {
        Error(d, "metadata.name",
              StrCat("duplicate SLO \"", slo.id, "\" in service \"", service.id, "\""));
        continue;
      }
      service.slos.push_back(std::move(slo));
    }
  }

  void ReadTimeWindow(const Doc& d, const YAML::Node& spec, int service_index, Slo* slo) {
    std::optional<YAML::Node> windows = Find(spec, "timeWindow");
    if (!windows || !windows->IsSequence() || windows->size() != 1) {
      Error(d, "spec.timeWindow", "expected a list of exactly one time window");
      return;
    }
    const YAML::Node w = (*windows)[0];
    const std::string path = "spec.timeWindow[0]";
    if (!w.IsMap()) {
      Error(d, path, "expected a mapping");
      return;
    }
    WarnUnknown(d, w, path + ".", {"duration", "isRolling", "calendar", "unit", "count"});
    const bool has_calendar = Find(w, "calendar").has_value();
    const bool rolling = Bool(d, w, "isRolling", path + ".").value_or(!has_calendar);

    // `duration: 28d` (v1), or `unit: Day` with `count: 28` (the v1alpha form).
    std::optional<Shorthand> length;
    std::string text;
    if (Find(w, "duration")) {
      text = Scalar(d, w, "duration", true, path + ".");
      length = ParseShorthand(text);
      if (!length && !text.empty()) {
        Error(d, path + ".duration",
              StrCat("expected a duration such as 28d, 1w or 1M (s m h d w M Q Y), got \"", text,
                     "\""));
        return;
      }
    } else if (Find(w, "unit")) {
      static const std::map<std::string, char> kUnits = {
          {"Second", 's'}, {"Minute", 'm'}, {"Hour", 'h'},    {"Day", 'd'},
          {"Week", 'w'},   {"Month", 'M'},  {"Quarter", 'Q'}, {"Year", 'Y'}};
      std::string unit = Scalar(d, w, "unit", true, path + ".");
      auto it = kUnits.find(unit);
      std::optional<double> n = Number(d, w, "count", path + ".");
      if (it == kUnits.end()) {
        Error(d, path + ".unit",
              StrCat("expected Day, Week, Month, Quarter ..., got \"", unit, "\""));
        return;
      }
      if (!n || *n < 1 || *n > 1e6 || *n != std::floor(*n)) {
        Error(d, path + ".count", "expected a whole number of at least 1");
        return;
      }
      length = Shorthand{static_cast<int64_t>(*n), it->second};
      text = StrCat(*n, std::string(1, it->second));
    } else {
      Error(d, path + ".duration", "required");
      return;
    }
    if (!length) return;

    if (rolling) {
      if (has_calendar) Warn(d, path + ".calendar", "ignored for a rolling window");
      const int64_t ms = length->Ms();
      if (ms == 0) {
        Error(d, path + ".duration",
              StrCat("a rolling window of ", text,
                     " has no fixed length; give it in days or weeks (e.g. 30d)"));
      } else if (ms < kHourMs || ms > 400 * kDayMs) {
        Error(d, path + ".duration", StrCat("must be between 1h and 400d, got ", text));
      } else {
        slo->period = Slo::Period::kRolling;
        slo->window = std::chrono::milliseconds(ms);
      }
      return;
    }
    if (length->count == 1 && length->unit == 'w') {
      slo->period = Slo::Period::kWeek;
    } else if (length->count == 1 && length->unit == 'M') {
      slo->period = Slo::Period::kMonth;
    } else if (length->count == 1 && length->unit == 'Q') {
      slo->period = Slo::Period::kQuarter;
    } else {
      Error(d, path + ".duration",
            StrCat("a calendar window must be 1w, 1M or 1Q (m is minutes, M months), got ", text));
      return;
    }
    YAML::Node calendar = MapAt(d, w, "calendar", path + ".calendar", false);
    WarnUnknown(d, calendar, path + ".calendar.", {"startTime", "timeZone"});
    std::string start = Scalar(d, calendar, "startTime", false, path + ".calendar.");
    if (!start.empty() && !AlignedStart(start, slo->period)) {
      Warn(d, path + ".calendar.startTime",
           StrCat("\"", start,
                  "\" ignored: Plumbline periods start on a Monday (week), the 1st "
                  "(month) or 1 January/April/July/October (quarter) at 00:00"));
    }
    std::string zone = Scalar(d, calendar, "timeZone", false, path + ".calendar.");
    if (!zone.empty() && zone != "UTC" && zone != "Etc/UTC") {
      Warn(d, path + ".calendar.timeZone",
           StrCat("Plumbline computes calendar periods in UTC; \"", zone,
                  "\" is kept as the service's timezone only"));
      if (service_index >= 0) {
        Service& s = ServiceAt(static_cast<size_t>(service_index));
        if (timezone_set_.insert(s.id).second) {
          s.timezone = zone;
        } else if (s.timezone != zone) {
          Warn(d, path + ".calendar.timeZone",
               StrCat("service \"", s.id, "\" keeps timezone \"", s.timezone, "\""));
        }
      }
    }
  }

  // "YYYY-MM-DD[ T]00:00:00" at the start of a week, month or quarter.
  static bool AlignedStart(const std::string& text, Slo::Period period) {
    int y = 0, m = 0, day = 0, hh = 0, mm = 0, ss = 0;
    char sep = ' ';
    if (std::sscanf(text.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d", &y, &m, &day, &sep, &hh, &mm, &ss) <
        3) {
      return false;
    }
    if (hh != 0 || mm != 0 || ss != 0 || m < 1 || m > 12 || day < 1 || day > 31) return false;
    if (period == Slo::Period::kMonth) return day == 1;
    if (period == Slo::Period::kQuarter) return day == 1 && (m - 1) % 3 == 0;
    // Sakamoto's day of week: 0 = Sunday.
    static const int kOffsets[] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};
    int yy = m < 3 ? y - 1 : y;
    int weekday = (yy + yy / 4 - yy / 100 + yy / 400 + kOffsets[m - 1] + day) % 7;
    return weekday == 1;
  }

  void ReadBudgeting(const Doc& d, const YAML::Node& spec, Slo* slo) {
    std::string method = Scalar(d, spec, "budgetingMethod", false, "spec.");
    std::string lower = method;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
      return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    });
    if (lower.empty() || lower == "occurrences") {
      slo->timeslices = false;
    } else if (lower == "timeslices") {
      slo->timeslices = true;
    } else if (lower == "ratiotimeslices") {
      Error(d, "spec.budgetingMethod",
            "RatioTimeslices is not supported (Occurrences or Timeslices)");
    } else {
      Error(d, "spec.budgetingMethod",
            StrCat("expected Occurrences or Timeslices, got \"", method, "\""));
    }
  }

  void ReadTimeslice(const Doc& d, const YAML::Node& objective, const std::string& path,
                     std::optional<double> target, Slo* slo) {
    const bool has_window = Find(objective, "timeSliceWindow").has_value();
    const bool has_target = Find(objective, "timeSliceTarget").has_value();
    if (!slo->timeslices) {
      if (has_window) Warn(d, path + ".timeSliceWindow", "ignored with Occurrences budgeting");
      if (has_target) Warn(d, path + ".timeSliceTarget", "ignored with Occurrences budgeting");
      return;
    }
    if (!has_window) {
      Error(d, path + ".timeSliceWindow", "required with Timeslices budgeting");
      return;
    }
    std::string text = Scalar(d, objective, "timeSliceWindow", true, path + ".");
    std::optional<Shorthand> slice = ParseShorthand(text);
    std::optional<double> seconds = ParseNumber(text);  // a bare number is seconds
    int64_t ms = -1;
    if (slice) {
      ms = slice->Ms();
    } else if (seconds && *seconds > 0 && *seconds <= 1e9) {
      ms = std::llround(*seconds * 1000);
    }
    if (ms <= 0 || ms % kMinuteMs != 0) {
      Error(d, path + ".timeSliceWindow",
            StrCat("must be a whole number of minutes (at least 1m), got \"", text, "\""));
    } else {
      slo->timeslice = std::chrono::milliseconds(ms);
    }
    std::optional<double> slice_target = Number(d, objective, "timeSliceTarget", path + ".");
    if (slice_target && target && *slice_target != *target) {
      Warn(d, path + ".timeSliceTarget",
           StrCat(FormatNumber(*slice_target), " dropped: Plumbline counts a slice as good when ",
                  "its own ratio meets the objective's target (", FormatNumber(*target), ")"));
    }
  }

  void ReadAlertPolicies(const Doc& d, const YAML::Node& spec, int service_index) {
    std::optional<YAML::Node> policies = Find(spec, "alertPolicies");
    if (!policies) return;
    if (!policies->IsSequence()) {
      Error(d, "spec.alertPolicies", "expected a list");
      return;
    }
    for (size_t i = 0; i < policies->size(); ++i) {
      const YAML::Node p = (*policies)[i];
      const std::string path = StrCat("spec.alertPolicies[", i, "]");
      std::string name;
      if (p.IsScalar()) {
        name = p.Scalar();
      } else if (p.IsMap()) {
        name = Scalar(d, p, "alertPolicyRef", false, path + ".");
        if (name.empty()) {
          name = Scalar(d, MapAt(d, p, "metadata", path + ".metadata", false), "name", false,
                        path + ".metadata.");
          if (!name.empty()) {
            Warn(d, path,
                 StrCat("inline AlertPolicy \"", name,
                        "\": its conditions and notification "
                        "targets are not imported; Plumbline alerts with its standard "
                        "multi-window burn rates"));
          }
        }
      }
      if (name.empty()) {
        Error(d, path, "expected an alertPolicyRef or an inline AlertPolicy with metadata.name");
        continue;
      }
      referenced_policies_.insert(name);
      if (service_index < 0) continue;
      Service& s = ServiceAt(static_cast<size_t>(service_index));
      std::vector<std::string> names;
      for (std::string_view n : Split(s.metadata[kAlertPoliciesKey], ',')) {
        if (!n.empty()) names.emplace_back(n);
      }
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
      s.metadata[kAlertPoliciesKey] = Join(names, ",");
    }
  }

  void PlaceUnusedSlis() {
    for (auto& [name, ind] : indicators_) {
      if (ind.used || !ind.ok) continue;
      int index = ind.service.empty() ? -1 : FindService(ind.service);
      if (index < 0) {
        Warn(ind.doc, "",
             ind.service.empty()
                 ? "not referenced by any SLO and names no service; not imported"
                 : StrCat("names unknown service \"", ind.service, "\"; not imported"));
        continue;
      }
      Sli sli = ind.sli;
      if (sli.kind == Sli::Kind::kThreshold) {
        if (!ind.op || !ind.bound) {
          Warn(ind.doc, "",
               "a threshold SLI without an SLO has no op and value (plumbline.dev/op, "
               "plumbline.dev/bound); not imported");
          continue;
        }
        sli.op = *ind.op;
        sli.bound = *ind.bound;
      }
      AddSli(ind.doc, ServiceAt(static_cast<size_t>(index)), sli, "metadata.name");
    }
  }

  void ReportAlertPolicies() {
    for (const Doc& d : policies_) {
      if (referenced_policies_.count(d.name) == 0) {
        Warn(d, "", "not referenced by any SLO; not imported");
      } else {
        Warn(d, "",
             StrCat("recorded by name in the metadata (", kAlertPoliciesKey,
                    ") of the services whose SLOs use it; its conditions and notification "
                    "targets are not imported: Plumbline alerts on every SLO with its standard "
                    "multi-window burn rates"));
      }
    }
  }

  void ResolveDependencies() {
    for (const PendingDependencies& p : pending_dependencies_) {
      int index = FindService(p.service);
      if (index < 0) continue;
      const std::string path = "metadata.annotations.plumbline.dev/dependencies";
      for (std::string_view item : Split(p.text, ',')) {
        if (item.empty()) continue;
        std::vector<std::string_view> fields = Split(item, ':');
        std::optional<double> weight =
            fields.size() == 3 ? ParseNumber(std::string(fields[2])) : std::nullopt;
        if (fields.size() != 3 || (fields[1] != "hard" && fields[1] != "soft") || !weight ||
            *weight < 0 || *weight > 1) {
          Error(p.doc, path, StrCat("expected service:hard|soft:weight, got \"", item, "\""));
          continue;
        }
        Dependency dep;
        dep.service = std::string(fields[0]);
        dep.hard = fields[1] == "hard";
        dep.weight = *weight;
        if (FindService(dep.service) < 0) {
          Warn(p.doc, path,
               StrCat("dependency on \"", dep.service, "\" dropped: no such service imported"));
          continue;
        }
        ServiceAt(static_cast<size_t>(index)).dependencies.push_back(std::move(dep));
      }
    }
  }

  struct PendingDependencies {
    Doc doc;
    std::string service;
    std::string text;
  };

  const OpenSloImportOptions& options_;
  Catalog catalog_;
  std::vector<std::string> errors_, warnings_;
  std::vector<Doc> services_, slis_, slos_, policies_;
  std::map<std::string, size_t> service_docs_;   // Service name -> index in catalog_.services
  std::map<std::string, Indicator> indicators_;  // SLI documents by name
  std::set<std::string> referenced_policies_;
  std::set<std::string> timezone_set_;  // services whose timezone came from the input
  std::vector<PendingDependencies> pending_dependencies_;
  bool needs_default_unit_ = false;
};

// ---------------------------------------------------------------------------
// Export.

class Exporter {
 public:
  explicit Exporter(const Catalog& catalog) : catalog_(catalog) {}

  OpenSloExport Run() {
    for (const BusinessUnit& bu : catalog_.business_units) {
      if (bu.name != bu.id || !bu.owner.empty() || !bu.metadata.empty()) {
        result_.warnings.push_back(StrCat("business unit \"", bu.id,
                                          "\": name, owner and metadata are not exported ",
                                          "(OpenSLO has no business units; services keep its id)"));
      }
    }
    if (!catalog_.exclusions.empty()) {
      result_.warnings.push_back(StrCat(catalog_.exclusions.size(),
                                        " maintenance window(s) and correction(s) not ",
                                        "exported (OpenSLO has no planned downtime)"));
    }
    if (catalog_.rate_card != nullptr && catalog_.rate_card->defined) {
      result_.warnings.push_back(
          "costs (rate card, host classes, budgets, suppliers) not exported (OpenSLO has no "
          "costs)");
    } else if (!catalog_.currency.empty()) {
      result_.warnings.push_back(
          StrCat("currency \"", catalog_.currency,
                 "\" not exported (OpenSLO has no revenue figures' currency)"));
    }
    for (const Service& s : catalog_.services) {
      if (!s.components.empty()) {
        result_.warnings.push_back(
            StrCat("service \"", s.id, "\": ", s.components.size(),
                   " component(s) not exported (OpenSLO has no measurement selectors)"));
      }
      if (!s.business_hours.empty()) {
        result_.warnings.push_back(StrCat("service \"", s.id, "\": ", s.business_hours.size(),
                                          " business-hours period(s) not exported (OpenSLO has ",
                                          "no business hours)"));
      }
      service_names_[s.id] = Unique(OpenSloName(s.id));
    }
    for (const Service& s : catalog_.services) EmitService(s);
    for (const Service& s : catalog_.services) {
      std::set<std::string> used;
      for (const Slo& slo : s.slos) {
        const Sli* sli = s.FindSli(slo.sli);
        if (sli == nullptr) continue;
        used.insert(sli->id);
        EmitSlo(s, slo, *sli);
      }
      for (const Sli& sli : s.slis) {
        if (used.count(sli.id) == 0) EmitStandaloneSli(s, sli);
      }
    }
    // By size, not up to the first NUL: a truncated export would silently lose documents.
    result_.yaml = std::string(out_.c_str(), out_.size());
    if (!result_.yaml.empty() && result_.yaml.back() != '\n') result_.yaml += '\n';
    return std::move(result_);
  }

 private:
  std::string Unique(std::string name) {
    std::string candidate = name;
    for (int i = 2; !names_.insert(candidate).second; ++i) {
      std::string suffix = StrCat("-", i);
      candidate = name.substr(0, 63 - suffix.size()) + suffix;
    }
    return candidate;
  }

  void Header(const char* kind) {
    out_ << YAML::BeginDoc << YAML::BeginMap;
    out_ << YAML::Key << "apiVersion" << YAML::Value << "openslo/v1";
    out_ << YAML::Key << "kind" << YAML::Value << kind;
  }

  void Annotations(const std::map<std::string, std::string>& annotations) {
    if (annotations.empty()) return;
    out_ << YAML::Key << "annotations" << YAML::Value << YAML::BeginMap;
    for (const auto& [k, v] : annotations) {
      out_ << YAML::Key << k << YAML::Value << YAML::DoubleQuoted << v;
    }
    out_ << YAML::EndMap;
  }

  void EmitService(const Service& s) {
    const Service defaults;
    std::map<std::string, std::string> a;
    const std::string& name = service_names_[s.id];
    if (name != s.id) a["plumbline.dev/id"] = s.id;
    if (!s.business_unit.empty()) a["plumbline.dev/business-unit"] = s.business_unit;
    if (!s.owner.empty()) a["plumbline.dev/owner"] = s.owner;
    if (s.tier != defaults.tier) a["plumbline.dev/tier"] = StrCat(s.tier);
    if (s.external) a["plumbline.dev/external"] = "true";
    if (s.revenue_per_hour != 0)
      a["plumbline.dev/revenue-per-hour"] = FormatNumber(s.revenue_per_hour);
    if (s.value_per_transaction != 0) {
      a["plumbline.dev/value-per-transaction"] = FormatNumber(s.value_per_transaction);
    }
    if (s.users != 0) a["plumbline.dev/users"] = FormatNumber(s.users);
    if (s.timezone != defaults.timezone) a["plumbline.dev/timezone"] = s.timezone;
    std::vector<std::string> deps;
    for (const Dependency& d : s.dependencies) {
      deps.push_back(StrCat(d.service, ":", d.hard ? "hard" : "soft", ":", FormatNumber(d.weight)));
    }
    if (!deps.empty()) a["plumbline.dev/dependencies"] = Join(deps, ",");
    std::string description;
    for (const auto& [k, v] : s.metadata) {
      if (k == "description") {
        description = v;
      } else {
        a[StrCat(kMetadataPrefix, k)] = v;
      }
    }
    Header("Service");
    out_ << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
    out_ << YAML::Key << "name" << YAML::Value << name;
    out_ << YAML::Key << "displayName" << YAML::Value << YAML::DoubleQuoted << s.name;
    Annotations(a);
    out_ << YAML::EndMap;
    out_ << YAML::Key << "spec" << YAML::Value;
    if (description.empty()) out_ << YAML::Flow;
    out_ << YAML::BeginMap;
    if (!description.empty()) {
      out_ << YAML::Key << "description" << YAML::Value << YAML::DoubleQuoted << description;
    }
    out_ << YAML::EndMap << YAML::EndMap;
  }

  void MetricSource(const char* key, const std::string& query) {
    out_ << YAML::Key << key << YAML::Value << YAML::BeginMap;
    out_ << YAML::Key << "metricSource" << YAML::Value << YAML::BeginMap;
    out_ << YAML::Key << "type" << YAML::Value << "Prometheus";
    out_ << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
    out_ << YAML::Key << "query" << YAML::Value << YAML::SingleQuoted << query;
    out_ << YAML::EndMap << YAML::EndMap << YAML::EndMap;
  }

  // The indicator's spec: ratioMetric or thresholdMetric.
  void IndicatorSpec(const Sli& sli) {
    out_ << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
    switch (sli.kind) {
      case Sli::Kind::kRatio: {
        out_ << YAML::Key << "ratioMetric" << YAML::Value << YAML::BeginMap;
        out_ << YAML::Key << "counter" << YAML::Value << true;
        const bool good = !sli.good.metric.empty();
        const MetricSelector& part = good ? sli.good : sli.bad;
        MetricSource(good ? "good" : "bad", FormatSelector(part.metric, part.match));
        MetricSource("total", FormatSelector(sli.valid.metric, sli.valid.match));
        out_ << YAML::EndMap;
        break;
      }
      case Sli::Kind::kLatency: {
        std::vector<LabelMatcher> under = sli.histogram.match;
        under.push_back({"le", LabelMatcher::Op::kEqual, FormatNumber(sli.threshold_seconds)});
        SortMatchers(&under);
        out_ << YAML::Key << "ratioMetric" << YAML::Value << YAML::BeginMap;
        out_ << YAML::Key << "counter" << YAML::Value << true;
        MetricSource("good", FormatSelector(sli.histogram.metric + "_bucket", under));
        MetricSource("total", FormatSelector(sli.histogram.metric + "_count", sli.histogram.match));
        out_ << YAML::EndMap;
        break;
      }
      case Sli::Kind::kProbe: {
        const std::string selector =
            FormatSelector("probe_success", {{"probe", LabelMatcher::Op::kEqual, sli.probe}});
        out_ << YAML::Key << "ratioMetric" << YAML::Value << YAML::BeginMap;
        out_ << YAML::Key << "counter" << YAML::Value << false;
        MetricSource("good", StrCat("sum_over_time(", selector, "[1m])"));
        MetricSource("total", StrCat("count_over_time(", selector, "[1m])"));
        out_ << YAML::EndMap;
        break;
      }
      case Sli::Kind::kThreshold:
        out_ << YAML::Key << "thresholdMetric" << YAML::Value << YAML::BeginMap;
        out_ << YAML::Key << "metricSource" << YAML::Value << YAML::BeginMap;
        out_ << YAML::Key << "type" << YAML::Value << "Prometheus";
        out_ << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
        out_ << YAML::Key << "query" << YAML::Value << YAML::SingleQuoted
             << FormatSelector(sli.gauge.metric, sli.gauge.match);
        out_ << YAML::EndMap << YAML::EndMap << YAML::EndMap;
        break;
    }
    out_ << YAML::EndMap;
  }

  void EmitSlo(const Service& s, const Slo& slo, const Sli& sli) {
    const Slo defaults;
    std::map<std::string, std::string> a = {{"plumbline.dev/id", slo.id}};
    if (slo.min_events != defaults.min_events)
      a["plumbline.dev/min-events"] = FormatNumber(slo.min_events);
    if (slo.importance != defaults.importance)
      a["plumbline.dev/importance"] = FormatNumber(slo.importance);
    if (slo.critical) a["plumbline.dev/critical"] = "true";
    Header("SLO");
    out_ << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
    out_ << YAML::Key << "name" << YAML::Value << Unique(OpenSloName(s.id + "-" + slo.id));
    Annotations(a);
    out_ << YAML::EndMap;
    out_ << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
    out_ << YAML::Key << "service" << YAML::Value << service_names_[s.id];
    out_ << YAML::Key << "indicator" << YAML::Value << YAML::BeginMap;
    out_ << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
    out_ << YAML::Key << "name" << YAML::Value << OpenSloName(s.id + "-" + sli.id);
    Annotations({{"plumbline.dev/id", sli.id}});
    out_ << YAML::EndMap;
    IndicatorSpec(sli);
    out_ << YAML::EndMap;

    out_ << YAML::Key << "timeWindow" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
    switch (slo.period) {
      case Slo::Period::kRolling:
        out_ << YAML::Key << "duration" << YAML::Value << FormatShorthand(slo.window.count());
        out_ << YAML::Key << "isRolling" << YAML::Value << true;
        break;
      case Slo::Period::kWeek:
      case Slo::Period::kMonth:
      case Slo::Period::kQuarter:
        out_ << YAML::Key << "duration" << YAML::Value
             << (slo.period == Slo::Period::kWeek    ? "1w"
                 : slo.period == Slo::Period::kMonth ? "1M"
                                                     : "1Q");
        out_ << YAML::Key << "isRolling" << YAML::Value << false;
        out_ << YAML::Key << "calendar" << YAML::Value << YAML::BeginMap;
        out_ << YAML::Key << "startTime" << YAML::Value << kCalendarStart;
        out_ << YAML::Key << "timeZone" << YAML::Value << "UTC";
        out_ << YAML::EndMap;
        break;
    }
    out_ << YAML::EndMap << YAML::EndSeq;
    out_ << YAML::Key << "budgetingMethod" << YAML::Value
         << (slo.timeslices ? "Timeslices" : "Occurrences");
    out_ << YAML::Key << "objectives" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
    if (sli.kind == Sli::Kind::kThreshold) {
      out_ << YAML::Key << "op" << YAML::Value << OpName(sli.op);
      out_ << YAML::Key << "value" << YAML::Value << FormatNumber(sli.bound);
    }
    // Rounded so 99.9 reads as 0.999, not 0.9990000000000001.
    double ratio = std::round(slo.target_percent / 100 * 1e12) / 1e12;
    if (!(ratio > 0)) ratio = slo.target_percent / 100;
    const std::string target = FormatNumber(ratio);
    out_ << YAML::Key << "target" << YAML::Value << target;
    if (slo.timeslices) {
      out_ << YAML::Key << "timeSliceTarget" << YAML::Value << target;
      out_ << YAML::Key << "timeSliceWindow" << YAML::Value
           << FormatShorthand(slo.timeslice.count());
    }
    out_ << YAML::EndMap << YAML::EndSeq;
    out_ << YAML::EndMap << YAML::EndMap;
  }

  // An SLI no SLO uses: an SLI document naming its service.
  void EmitStandaloneSli(const Service& s, const Sli& sli) {
    std::map<std::string, std::string> a = {{"plumbline.dev/id", sli.id},
                                            {"plumbline.dev/service", s.id}};
    if (sli.kind == Sli::Kind::kThreshold) {
      a["plumbline.dev/op"] = OpName(sli.op);
      a["plumbline.dev/bound"] = FormatNumber(sli.bound);
    }
    Header("SLI");
    out_ << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
    out_ << YAML::Key << "name" << YAML::Value << Unique(OpenSloName(s.id + "-" + sli.id));
    Annotations(a);
    out_ << YAML::EndMap;
    IndicatorSpec(sli);
    out_ << YAML::EndMap;
  }

  const Catalog& catalog_;
  YAML::Emitter out_;
  OpenSloExport result_;
  std::set<std::string> names_;  // OpenSLO names given so far (all kinds)
  std::map<std::string, std::string> service_names_;
};

}  // namespace

absl::StatusOr<OpenSloImport> ImportOpenSlo(const std::vector<OpenSloFile>& files,
                                            const OpenSloImportOptions& options) {
  try {
    Importer importer(options);
    for (const OpenSloFile& f : files) importer.Read(f);
    return importer.Finish();
  } catch (const YAML::Exception& e) {  // yaml-cpp reports misuse by throwing
    return absl::InvalidArgumentError(StrCat("OpenSLO import: ", e.what()));
  }
}

OpenSloExport ExportOpenSlo(const Catalog& catalog) { return Exporter(catalog).Run(); }

std::string CatalogToYaml(const Catalog& catalog) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  if (!catalog.business_units.empty()) {
    out << YAML::Key << "business_units" << YAML::Value << YAML::BeginSeq;
    for (const BusinessUnit& bu : catalog.business_units) {
      out << YAML::BeginMap;
      EmitString(out, "id", bu.id);
      EmitString(out, "name", bu.name);
      if (!bu.owner.empty()) EmitString(out, "owner", bu.owner);
      EmitStringMap(out, "metadata", bu.metadata);
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  const Service defaults;
  out << YAML::Key << "services" << YAML::Value << YAML::BeginSeq;
  for (const Service& s : catalog.services) {
    out << YAML::BeginMap;
    EmitString(out, "id", s.id);
    EmitString(out, "name", s.name);
    if (!s.business_unit.empty()) EmitString(out, "business_unit", s.business_unit);
    if (!s.owner.empty()) EmitString(out, "owner", s.owner);
    if (s.tier != defaults.tier) out << YAML::Key << "tier" << YAML::Value << s.tier;
    if (s.external) out << YAML::Key << "external" << YAML::Value << true;
    if (s.revenue_per_hour != 0) EmitNumber(out, "revenue_per_hour", s.revenue_per_hour);
    if (s.value_per_transaction != 0) {
      EmitNumber(out, "value_per_transaction", s.value_per_transaction);
    }
    if (s.users != 0) EmitNumber(out, "users", s.users);
    if (s.timezone != defaults.timezone) EmitString(out, "timezone", s.timezone);
    EmitStringMap(out, "metadata", s.metadata);
    if (!s.components.empty()) {
      out << YAML::Key << "components" << YAML::Value << YAML::BeginSeq;
      for (const Component& c : s.components) {
        out << YAML::BeginMap;
        EmitString(out, "id", c.id);
        EmitStringList(out, "hosts", c.hosts);
        if (!c.process.empty()) EmitString(out, "process", c.process);
        if (!c.probe.empty()) EmitString(out, "probe", c.probe);
        if (!c.log.empty()) EmitString(out, "log", c.log);
        EmitStringList(out, "metrics", c.metrics);
        out << YAML::EndMap;
      }
      out << YAML::EndSeq;
    }
    if (!s.slis.empty()) {
      out << YAML::Key << "slis" << YAML::Value << YAML::BeginSeq;
      for (const Sli& sli : s.slis) EmitSli(out, sli);
      out << YAML::EndSeq;
    }
    if (!s.slos.empty()) {
      out << YAML::Key << "slos" << YAML::Value << YAML::BeginSeq;
      for (const Slo& slo : s.slos) EmitSlo(out, slo);
      out << YAML::EndSeq;
    }
    if (!s.dependencies.empty()) {
      out << YAML::Key << "dependencies" << YAML::Value << YAML::BeginSeq;
      for (const Dependency& d : s.dependencies) {
        out << YAML::Flow << YAML::BeginMap;
        EmitString(out, "service", d.service);
        out << YAML::Key << "kind" << YAML::Value << (d.hard ? "hard" : "soft");
        EmitNumber(out, "weight", d.weight);
        out << YAML::EndMap;
      }
      out << YAML::EndSeq;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  std::string text(out.c_str(), out.size());
  return text + "\n";
}

}  // namespace plumbline::collector
