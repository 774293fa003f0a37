#include "agent/exposition_parser.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_map>
#include <unordered_set>

namespace plumbline::agent {

namespace {

constexpr size_t kMaxMessages = 10;

enum class Kind { kCounter, kGauge, kHistogram, kSummary, kUntyped };

bool IsBlank(char c) { return c == ' ' || c == '\t'; }
bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

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

// A Go-style float: decimal, NaN, Inf, +Inf, -Inf (any case), the whole of
// `text`. Out-of-range numbers such as 1e999 are errors, not infinities.
bool ParseFloat(std::string_view text, double* out) {
  if (text.empty()) return false;
  bool negative = false;
  if (text[0] == '+' || text[0] == '-') {
    negative = text[0] == '-';
    text.remove_prefix(1);
    if (text.empty() || text[0] == '+' || text[0] == '-') return false;
  }
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return false;
  *out = negative ? -v : v;
  return true;
}

bool ParseInt64(std::string_view text, int64_t* out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

// A whole non-negative count that fits uint64 (bucket and sample counts are
// floats in the format, but only whole numbers make sense).
bool ToCount(double v, uint64_t* out) {
  if (!(v >= 0) || v > 9e18) return false;
  *out = static_cast<uint64_t>(std::llround(v));
  return true;
}

struct Sample {
  std::string_view name;
  LabelSet labels;
  double value = 0;
  std::optional<int64_t> timestamp_ms;
};

// Splits a sample line into its parts; the error says what was wrong.
absl::Status ParseSample(std::string_view line, Sample* s) {
  size_t i = 0;
  while (i < line.size() && (IsNameChar(line[i]) || line[i] == ':')) ++i;
  s->name = line.substr(0, i);
  if (s->name.empty()) return absl::InvalidArgumentError("expected a metric name");
  RETURN_IF_ERROR(ValidateMetricName(s->name));
  auto skip_blanks = [&] {
    while (i < line.size() && IsBlank(line[i])) ++i;
  };
  skip_blanks();
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (true) {
      skip_blanks();
      if (i >= line.size()) return absl::InvalidArgumentError("unterminated label set");
      if (line[i] == '}') {
        ++i;
        break;
      }
      size_t start = i;
      while (i < line.size() && IsNameChar(line[i])) ++i;
      std::string_view label = line.substr(start, i - start);
      RETURN_IF_ERROR(ValidateLabelName(label));
      skip_blanks();
      if (i >= line.size() || line[i] != '=') {
        return absl::InvalidArgumentError(StrCat("expected '=' after label ", Quote(label)));
      }
      ++i;
      skip_blanks();
      if (i >= line.size() || line[i] != '"') {
        return absl::InvalidArgumentError(
            StrCat("expected '\"' to open the value of label ", Quote(label)));
      }
      ++i;
      std::string value;
      bool closed = false;
      while (i < line.size()) {
        char c = line[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c != '\\') {
          value.push_back(c);
          continue;
        }
        if (i >= line.size()) break;
        char e = line[i++];
        if (e == '\\' || e == '"') {
          value.push_back(e);
        } else if (e == 'n') {
          value.push_back('\n');
        } else {
          bool printable = e > 0x20 && e < 0x7f;
          std::string shown =
              printable ? StrCat("\"\\", std::string(1, e), "\"")
                        : StrCat("\\x", absl::Hex(static_cast<unsigned char>(e), absl::kZeroPad2));
          return absl::InvalidArgumentError(
              StrCat("invalid escape ", shown, " in the value of label ", Quote(label)));
        }
      }
      if (!closed) {
        return absl::InvalidArgumentError(StrCat("unterminated value of label ", Quote(label)));
      }
      if (absl::Status v = ValidateLabelValue(value); !v.ok()) {
        return absl::InvalidArgumentError(StrCat("label ", Quote(label), ": ", v.message()));
      }
      if (s->labels.size() == kMaxExposedLabels) {
        return absl::InvalidArgumentError(StrCat("more than ", kMaxExposedLabels, " labels"));
      }
      s->labels.emplace_back(std::string(label), std::move(value));
      skip_blanks();
      if (i < line.size() && line[i] == ',') {
        ++i;
      } else if (i >= line.size() || line[i] != '}') {
        return absl::InvalidArgumentError("expected ',' or '}' after a label");
      }
    }
    skip_blanks();
  }
  std::vector<std::string_view> rest = SplitFields(line.substr(i));
  if (rest.empty()) return absl::InvalidArgumentError("no value");
  if (rest.size() > 2) {
    return absl::InvalidArgumentError(
        StrCat("unexpected text after the timestamp: ", Quote(rest[2])));
  }
  if (!ParseFloat(rest[0], &s->value)) {
    return absl::InvalidArgumentError(StrCat("bad value ", Quote(rest[0])));
  }
  if (rest.size() == 2) {
    int64_t ts = 0;
    if (!ParseInt64(rest[1], &ts)) {
      return absl::InvalidArgumentError(StrCat("bad timestamp ", Quote(rest[1])));
    }
    s->timestamp_ms = ts;
  }
  return absl::OkStatus();
}

std::optional<Kind> ParseKind(std::string_view word) {
  if (word == "counter") return Kind::kCounter;
  if (word == "gauge") return Kind::kGauge;
  if (word == "histogram") return Kind::kHistogram;
  if (word == "summary") return Kind::kSummary;
  if (word == "untyped") return Kind::kUntyped;
  return std::nullopt;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A histogram or summary being assembled from its lines.
struct Group {
  size_t series_index;
  size_t first_line;
  std::vector<std::pair<double, double>> points;  // (le, cumulative) or (quantile, value)
  std::optional<double> sum;
  std::optional<double> count;
};

class Parser {
 public:
  explicit Parser(const ExpositionOptions& options) : options_(options) {}

  ExpositionResult Run(std::string_view text) {
    size_t line_number = 0;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string_view::npos) end = text.size();
      std::string_view line = text.substr(pos, end - pos);
      pos = end + 1;
      ++line_number;
      line_ = line_number;
      while (!line.empty() && (IsBlank(line.back()) || line.back() == '\r')) line.remove_suffix(1);
      while (!line.empty() && IsBlank(line.front())) line.remove_prefix(1);
      if (line.empty()) continue;
      absl::Status s = line[0] == '#' ? Comment(line) : SampleLine(line);
      if (!s.ok()) Error(line_number, s.message());
    }
    Assemble();
    return std::move(result_);
  }

 private:
  void Error(size_t line, absl::string_view message) {
    ++result_.errors;
    if (result_.messages.size() < kMaxMessages) {
      result_.messages.push_back(StrCat("line ", line, ": ", message));
    }
  }

  absl::Status Comment(std::string_view line) {
    std::vector<std::string_view> words = SplitFields(line.substr(1));
    if (line.size() < 2 || !IsBlank(line[1]) || words.empty()) return absl::OkStatus();
    if (words[0] != "HELP" && words[0] != "TYPE") return absl::OkStatus();  // a comment
    if (words.size() < 2) return absl::InvalidArgumentError(StrCat(words[0], " without a name"));
    std::string_view name = words[1];
    RETURN_IF_ERROR(ValidateMetricName(name));
    if (words[0] == "HELP") return absl::OkStatus();  // Plumbline keeps no help text
    if (words.size() != 3) {
      return absl::InvalidArgumentError(StrCat("TYPE ", name, ": expected one type"));
    }
    std::optional<Kind> kind = ParseKind(words[2]);
    if (!kind) {
      return absl::InvalidArgumentError(StrCat("TYPE ", name, ": unknown type ", Quote(words[2])));
    }
    std::string family(name);
    if (types_.count(family) != 0) {
      return absl::InvalidArgumentError(StrCat("second TYPE line for ", name));
    }
    for (std::string_view suffix : {"", "_total", "_bucket", "_sum", "_count"}) {
      if (seen_.count(StrCat(name, suffix)) != 0) {
        return absl::InvalidArgumentError(StrCat("TYPE ", name, " after its samples"));
      }
    }
    types_.emplace(std::move(family), *kind);
    return absl::OkStatus();
  }

  std::optional<Kind> TypeOf(std::string_view name) const {
    auto it = types_.find(std::string(name));
    if (it == types_.end()) return std::nullopt;
    return it->second;
  }

  absl::Status SampleLine(std::string_view line) {
    Sample s;
    RETURN_IF_ERROR(ParseSample(line, &s));
    if (seen_.size() < 100000) seen_.insert(std::string(s.name));

    if (std::optional<Kind> kind = TypeOf(s.name)) {
      switch (*kind) {
        case Kind::kCounter:
          return Simple(s, v1::METRIC_TYPE_COUNTER);
        case Kind::kGauge:
        case Kind::kUntyped:
          return Simple(s, v1::METRIC_TYPE_GAUGE);
        case Kind::kSummary:
          return GroupSample(s, s.name, Kind::kSummary, Part::kPoint);
        case Kind::kHistogram:
          return absl::InvalidArgumentError(
              StrCat("histogram ", s.name, " has samples named _bucket, _sum and _count only"));
      }
    }
    struct Suffix {
      std::string_view text;
      Part part;
    };
    for (const Suffix& suffix : {Suffix{"_bucket", Part::kPoint}, Suffix{"_sum", Part::kSum},
                                 Suffix{"_count", Part::kCount}, Suffix{"_total", Part::kPoint}}) {
      if (!EndsWith(s.name, suffix.text)) continue;
      std::string_view base = s.name.substr(0, s.name.size() - suffix.text.size());
      std::optional<Kind> kind = TypeOf(base);
      if (!kind) continue;
      if (*kind == Kind::kCounter && suffix.text == "_total") {
        return Simple(s, v1::METRIC_TYPE_COUNTER);
      }
      if (*kind == Kind::kHistogram && suffix.text != "_total") {
        return GroupSample(s, base, Kind::kHistogram, suffix.part);
      }
      if (*kind == Kind::kSummary && (suffix.part == Part::kSum || suffix.part == Part::kCount)) {
        return GroupSample(s, base, Kind::kSummary, suffix.part);
      }
    }
    return Simple(s, v1::METRIC_TYPE_GAUGE);  // untyped
  }

  // The text that identifies a series: name and sorted labels.
  static absl::StatusOr<std::string> Key(std::string_view name, LabelSet labels) {
    RETURN_IF_ERROR(SortLabels(&labels));
    return StrCat(name, "{", CanonicalLabels(labels), "}");
  }

  // Room for one more series? Counts the sample as dropped when not.
  bool Room() {
    if (result_.series.size() < options_.max_series) return true;
    ++result_.dropped_samples;
    return false;
  }

  absl::Status Simple(Sample& s, v1::MetricType type) {
    if (type == v1::METRIC_TYPE_COUNTER && !(s.value >= 0 && std::isfinite(s.value))) {
      return absl::InvalidArgumentError(
          StrCat("counter ", s.name, " has value ", s.value, ", not a finite number >= 0"));
    }
    ASSIGN_OR_RETURN(std::string key, Key(s.name, s.labels));
    if (!keys_.insert(std::move(key)).second) {
      return absl::InvalidArgumentError(StrCat("second sample for the same series of ", s.name));
    }
    if (!Room()) return absl::OkStatus();
    ExposedSeries& out = result_.series.emplace_back();
    out.name = std::string(s.name);
    out.type = type;
    out.labels = std::move(s.labels);
    out.number = s.value;
    out.timestamp_ms = s.timestamp_ms;
    return absl::OkStatus();
  }

  enum class Part { kPoint, kSum, kCount };

  absl::Status GroupSample(Sample& s, std::string_view family, Kind kind, Part part) {
    const std::string_view special = kind == Kind::kHistogram ? "le" : "quantile";
    std::optional<double> position;  // le or quantile
    LabelSet labels;
    for (auto& [name, value] : s.labels) {
      if (name != special) {
        labels.emplace_back(std::move(name), std::move(value));
        continue;
      }
      if (part != Part::kPoint) {
        return absl::InvalidArgumentError(StrCat(s.name, " must not carry label ", special));
      }
      double p = 0;
      if (!ParseFloat(value, &p) || std::isnan(p)) {
        return absl::InvalidArgumentError(
            StrCat(s.name, ": ", special, " ", Quote(value), " is not a number"));
      }
      if (kind == Kind::kSummary && !(p >= 0 && p <= 1)) {
        return absl::InvalidArgumentError(
            StrCat(s.name, ": quantile ", value, " is outside [0, 1]"));
      }
      if (kind == Kind::kHistogram && p == -std::numeric_limits<double>::infinity()) {
        return absl::InvalidArgumentError(StrCat(s.name, ": le -Inf is not a bucket bound"));
      }
      position = p;
    }
    if (part == Part::kPoint && !position) {
      return absl::InvalidArgumentError(StrCat(s.name, " without label ", special));
    }
    ASSIGN_OR_RETURN(std::string key, Key(family, labels));
    auto it = groups_by_key_.find(key);
    if (it == groups_by_key_.end()) {
      if (!Room()) return absl::OkStatus();
      ExposedSeries& out = result_.series.emplace_back();
      out.name = std::string(family);
      out.type = kind == Kind::kHistogram ? v1::METRIC_TYPE_HISTOGRAM : v1::METRIC_TYPE_SUMMARY;
      out.labels = std::move(labels);
      groups_.push_back(Group{result_.series.size() - 1, line_, {}, {}, {}});
      it = groups_by_key_.emplace(std::move(key), groups_.size() - 1).first;
    }
    Group& g = groups_[it->second];
    result_.series[g.series_index].timestamp_ms = s.timestamp_ms;
    switch (part) {
      case Part::kPoint:
        for (const auto& [p, v] : g.points) {
          if (p == *position) {
            return absl::InvalidArgumentError(
                StrCat("second ", s.name, " with ", special, " ", *position));
          }
        }
        if (g.points.size() > kMaxExposedBuckets) {
          return absl::InvalidArgumentError(
              StrCat(family, ": more than ", kMaxExposedBuckets, " ",
                     kind == Kind::kHistogram ? "buckets" : "quantiles"));
        }
        g.points.emplace_back(*position, s.value);
        return absl::OkStatus();
      case Part::kSum:
        if (g.sum) return absl::InvalidArgumentError(StrCat("second ", s.name));
        g.sum = s.value;
        return absl::OkStatus();
      case Part::kCount:
        if (g.count) return absl::InvalidArgumentError(StrCat("second ", s.name));
        g.count = s.value;
        return absl::OkStatus();
    }
    return absl::OkStatus();
  }

  static absl::Status BuildHistogram(Group& g, v1::Histogram* h) {
    std::sort(g.points.begin(), g.points.end());
    constexpr double kInf = std::numeric_limits<double>::infinity();
    double total = 0;
    if (!g.points.empty() && g.points.back().first == kInf) {
      total = g.points.back().second;
      g.points.pop_back();
    } else if (g.count) {
      total = *g.count;  // the +Inf bucket may be left out; _count is the same number
    } else {
      return absl::InvalidArgumentError("no +Inf bucket and no _count");
    }
    uint64_t total_count = 0;
    if (!ToCount(total, &total_count)) {
      return absl::InvalidArgumentError(StrCat("bucket count ", total, " is not a count"));
    }
    uint64_t previous = 0;
    for (const auto& [le, cumulative] : g.points) {
      uint64_t c = 0;
      if (!ToCount(cumulative, &c)) {
        return absl::InvalidArgumentError(StrCat("bucket count ", cumulative, " is not a count"));
      }
      if (c < previous || c > total_count) {
        return absl::InvalidArgumentError(
            "cumulative bucket counts decrease or exceed the +Inf bucket");
      }
      h->add_bounds(le);
      h->add_bucket_counts(c - previous);
      previous = c;
    }
    h->add_bucket_counts(total_count - previous);
    h->set_count(total_count);
    h->set_sum(g.sum.value_or(0));
    return absl::OkStatus();
  }

  static absl::Status BuildSummary(Group& g, v1::Summary* s) {
    std::sort(g.points.begin(), g.points.end());
    for (const auto& [q, v] : g.points) {
      v1::Summary::Quantile* out = s->add_quantiles();
      out->set_quantile(q);
      out->set_value(v);
    }
    uint64_t count = 0;
    if (g.count && !ToCount(*g.count, &count)) {
      return absl::InvalidArgumentError(StrCat("_count ", *g.count, " is not a count"));
    }
    s->set_count(count);
    s->set_sum(g.sum.value_or(0));
    return absl::OkStatus();
  }

  // Builds every histogram and summary; drops those that do not add up.
  void Assemble() {
    std::vector<bool> failed(result_.series.size(), false);
    bool any_failed = false;
    for (Group& g : groups_) {
      ExposedSeries& s = result_.series[g.series_index];
      absl::Status st = s.type == v1::METRIC_TYPE_HISTOGRAM ? BuildHistogram(g, &s.histogram)
                                                            : BuildSummary(g, &s.summary);
      if (!st.ok()) {
        Error(g.first_line, StrCat(s.type == v1::METRIC_TYPE_HISTOGRAM ? "histogram " : "summary ",
                                   s.name, ": ", st.message()));
        failed[g.series_index] = true;
        any_failed = true;
      }
    }
    if (!any_failed) return;
    std::vector<ExposedSeries> kept;
    kept.reserve(result_.series.size());
    for (size_t i = 0; i < result_.series.size(); ++i) {
      if (!failed[i]) kept.push_back(std::move(result_.series[i]));
    }
    result_.series = std::move(kept);
  }

  const ExpositionOptions& options_;
  ExpositionResult result_;
  size_t line_ = 0;
  std::unordered_map<std::string, Kind> types_;
  std::unordered_set<std::string> seen_;  // sample names, to catch a late TYPE
  std::unordered_set<std::string> keys_;  // counters and gauges already read
  std::vector<Group> groups_;
  std::unordered_map<std::string, size_t> groups_by_key_;
};

}  // namespace

ExpositionResult ParseExposition(std::string_view text, const ExpositionOptions& options) {
  return Parser(options).Run(text);
}

}  // namespace plumbline::agent
