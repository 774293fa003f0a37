#include "common/yaml_config.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace plumbline {

namespace {

struct Unit {
  std::string_view suffix;
  double factor;
};

// Splits "12.5ms" into number and suffix; false if there is no leading number.
bool SplitNumber(std::string_view text, double* number, std::string_view* suffix) {
  std::string s(text);
  const char* begin = s.c_str();
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(begin, &end);
  if (end == begin || errno == ERANGE || !std::isfinite(v)) return false;
  *number = v;
  *suffix = text.substr(static_cast<size_t>(end - begin));
  return true;
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return StrCat("\"", node.Scalar(), "\"");
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "an undefined value";
  }
}

}  // namespace

bool ParseWhen(std::string_view text, int64_t now_ms, int64_t* out_ms) {
  if (text.empty()) return false;
  if (text == "now") {
    *out_ms = now_ms;
    return true;
  }
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, std::string(text), &t, &err)) {
    *out_ms = absl::ToUnixMillis(t);
    return true;
  }
  if (text.size() <= 15 &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    *out_ms = std::stoll(std::string(text));
    return true;
  }
  if (text[0] == '-') text.remove_prefix(1);
  auto ago = ParseDuration(text);
  if (!ago.ok() || ago->count() <= 0) return false;
  *out_ms = now_ms - ago->count();
  return true;
}

absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  static constexpr Unit kUnits[] = {{"ms", 1},      {"s", 1000},     {"m", 60000},
                                    {"h", 3600000}, {"d", 86400000}, {"w", 604800000}};
  double number = 0;
  std::string_view suffix;
  if (!SplitNumber(text, &number, &suffix) || number < 0) {
    return absl::InvalidArgumentError(
        StrCat("expected a duration such as 10s or 500ms, got \"", text, "\""));
  }
  for (const Unit& unit : kUnits) {
    if (suffix == unit.suffix) {
      double ms = number * unit.factor;
      if (ms > 1e15) return absl::InvalidArgumentError(StrCat("duration too long: ", text));
      return std::chrono::milliseconds(static_cast<int64_t>(std::llround(ms)));
    }
  }
  return absl::InvalidArgumentError(
      StrCat("expected a duration with a unit (ms, s, m, h, d, w), got \"", text, "\""));
}

absl::StatusOr<uint64_t> ParseByteSize(std::string_view text) {
  static constexpr Unit kUnits[] = {{"", 1},
                                    {"B", 1},
                                    {"KiB", 1024.0},
                                    {"MiB", 1024.0 * 1024},
                                    {"GiB", 1024.0 * 1024 * 1024},
                                    {"TiB", 1024.0 * 1024 * 1024 * 1024},
                                    {"KB", 1e3},
                                    {"MB", 1e6},
                                    {"GB", 1e9},
                                    {"TB", 1e12}};
  double number = 0;
  std::string_view suffix;
  if (!SplitNumber(text, &number, &suffix) || number < 0) {
    return absl::InvalidArgumentError(
        StrCat("expected a size such as 256MiB or 1GB, got \"", text, "\""));
  }
  for (const Unit& unit : kUnits) {
    if (suffix == unit.suffix) {
      double bytes = number * unit.factor;
      if (bytes > 1.8e19) return absl::InvalidArgumentError(StrCat("size too large: ", text));
      return static_cast<uint64_t>(std::llround(bytes));
    }
  }
  return absl::InvalidArgumentError(StrCat(
      "expected a size with a unit (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB), got \"", text, "\""));
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms != 0 && ms % 86400000 == 0) return StrCat(ms / 86400000, "d");
  if (ms != 0 && ms % 3600000 == 0) return StrCat(ms / 3600000, "h");
  if (ms != 0 && ms % 60000 == 0) return StrCat(ms / 60000, "m");
  if (ms % 1000 == 0) return StrCat(ms / 1000, "s");
  return StrCat(ms, "ms");
}

struct ConfigMap::State {
  struct Entry {
    YAML::Node node;
    std::string path;
    std::shared_ptr<std::set<std::string>> known;
  };
  struct Message {
    int line;
    std::string text;
  };
  std::string file;
  YAML::Node root;
  std::vector<Entry> maps;
  std::vector<Message> errors;

  std::shared_ptr<std::set<std::string>> KnownFor(const YAML::Node& node, const std::string& path) {
    for (Entry& e : maps) {
      if (e.node.is(node)) return e.known;
    }
    maps.push_back({node, path, std::make_shared<std::set<std::string>>()});
    return maps.back().known;
  }
  void Add(const YAML::Mark& mark, std::string text) {
    int line = mark.is_null() ? 0 : mark.line + 1;
    errors.push_back({line, std::move(text)});
  }
};

ConfigMap::ConfigMap(std::shared_ptr<State> doc, YAML::Node node, std::string path)
    : doc_(std::move(doc)), node_(std::move(node)), path_(std::move(path)) {
  known_ = doc_->KnownFor(node_, path_);
}

std::string ConfigMap::KeyPath(std::string_view key) const {
  if (path_.empty()) return std::string(key);
  if (key.empty()) return path_;
  return StrCat(path_, ".", key);
}

int ConfigMap::Line() const {
  const YAML::Mark mark = node_.Mark();
  return mark.is_null() ? 0 : mark.line + 1;
}

YAML::Node ConfigMap::Get(std::string_view key) {
  known_->insert(std::string(key));
  if (!node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) return it->second;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

bool ConfigMap::Has(std::string_view key) {
  YAML::Node n = Get(key);
  return n.IsDefined() && !n.IsNull();
}

void ConfigMap::Error(std::string_view key, std::string_view message) {
  YAML::Node n = key.empty() ? node_ : Get(key);
  YAML::Mark mark = n.IsDefined() ? n.Mark() : node_.Mark();
  doc_->Add(mark, StrCat(KeyPath(key), ": ", message));
}

void ConfigMap::Require(std::string_view key) {
  if (!Has(key)) Error("", StrCat("missing required key \"", key, "\""));
}

void ConfigMap::TypeError(std::string_view key, const YAML::Node& node, std::string_view expected) {
  doc_->Add(node.Mark(), StrCat(KeyPath(key), ": expected ", expected, ", got ", Describe(node)));
}

void ConfigMap::String(std::string_view key, std::string* out) {
  YAML::Node n = Get(key);
  if (!n.IsDefined() || n.IsNull()) return;
  if (!n.IsScalar()) return TypeError(key, n, "a string");
  *out = n.Scalar();
}

void ConfigMap::Bool(std::string_view key, bool* out) {
  YAML::Node n = Get(key);
  if (!n.IsDefined() || n.IsNull()) return;
  bool value = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, value)) {
    return TypeError(key, n, "true or false");
  }
  *out = value;
}

void ConfigMap::Int(std::string_view key, int64_t* out, int64_t min, int64_t max) {
  YAML::Node n = Get(key);
  if (!n.IsDefined() || n.IsNull()) return;
  int64_t value = 0;
  if (!n.IsScalar() || !YAML::convert<int64_t>::decode(n, value)) {
    return TypeError(key, n, "an integer");
  }
  if (value < min || value > max) {
    return doc_->Add(
        n.Mark(), StrCat(KeyPath(key), ": must be between ", min, " and ", max, ", got ", value));
  }
  *out = value;
}

void ConfigMap::Double(std::string_view key, double* out, double min, double max) {
  YAML::Node n = Get(key);
  if (!n.IsDefined() || n.IsNull()) return;
  double value = 0;
  if (!n.IsScalar() || !YAML::convert<double>::decode(n, value) || !std::isfinite(value)) {
    return TypeError(key, n, "a number");
  }
  if (value < min || value > max) {
    return doc_->Add(n.Mark(), StrCat(KeyPath(key), ": must be between ", min, " and ", max,
                                      ", got ", n.Scalar()));
  }
  *out = value;
}

void ConfigMap::Duration(std::string_view key, std::chrono::milliseconds* out,
                         std::chrono::milliseconds min) {
  YAML::Node n = Get(key);
  if (!n.IsDefined() || n.IsNull()) return;
  if (!n.IsScalar()) return TypeError(key, n, "a duration such as 10s");
  absl::StatusOr<std::chrono::milliseconds> d = ParseDuration(n.Scalar());
  if (!d.ok()) return doc_->Add(n.Mark(), StrCat(KeyPath(key), ": ", d.status().message()));
  if (*d < min) {
    return doc_->Add(n.Mark(), StrCat(KeyPath(key), ": must be at least ", FormatDuration(min),
                                      ", got ", n.Scalar()));
  }
  *out = *d;
}

void ConfigMap::ByteSize(std::string_view key, uint64_t* out) {
  YAML::Node n = Get(key);
  if (!n.IsDefined() || n.IsNull()) return;
  if (!n.IsScalar()) return TypeError(key, n, "a size such as 256MiB");
  absl::StatusOr<uint64_t> size = ParseByteSize(n.Scalar());
  if (!size.ok()) {
    return doc_->Add(n.Mark(), StrCat(KeyPath(key), ": ", size.status().message()));
  }
  *out = *size;
}

void ConfigMap::StringList(std::string_view key, std::vector<std::string>* out) {
  YAML::Node n = Get(key);
  if (!n.IsDefined() || n.IsNull()) return;
  if (n.IsScalar()) {  // a single string is a list of one
    *out = {n.Scalar()};
    return;
  }
  if (!n.IsSequence()) return TypeError(key, n, "a list of strings");
  std::vector<std::string> values;
  for (const YAML::Node& item : n) {
    if (!item.IsScalar()) return TypeError(key, item, "a string");
    values.push_back(item.Scalar());
  }
  *out = std::move(values);
}

void ConfigMap::StringMap(std::string_view key, std::map<std::string, std::string>* out) {
  YAML::Node n = Get(key);
  if (!n.IsDefined() || n.IsNull()) return;
  if (!n.IsMap()) return TypeError(key, n, "a mapping of strings");
  std::map<std::string, std::string> values;
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (!it->first.IsScalar()) return TypeError(key, it->first, "a string key");
    if (!it->second.IsScalar()) {
      return TypeError(StrCat(key, ".", it->first.Scalar()), it->second, "a string");
    }
    values[it->first.Scalar()] = it->second.Scalar();
  }
  *out = std::move(values);
}

ConfigMap ConfigMap::Map(std::string_view key) {
  YAML::Node n = Get(key);
  if (n.IsDefined() && !n.IsNull() && !n.IsMap()) {
    TypeError(key, n, "a mapping");
    n = YAML::Node(YAML::NodeType::Undefined);
  }
  if (!n.IsDefined() || n.IsNull()) {
    // An empty map that still reports errors against this key's position.
    YAML::Node empty(YAML::NodeType::Map);
    return ConfigMap(doc_, empty, KeyPath(key));
  }
  return ConfigMap(doc_, n, KeyPath(key));
}

std::vector<ConfigMap> ConfigMap::MapList(std::string_view key) {
  std::vector<ConfigMap> result;
  YAML::Node n = Get(key);
  if (!n.IsDefined() || n.IsNull()) return result;
  if (!n.IsSequence()) {
    TypeError(key, n, "a list");
    return result;
  }
  size_t i = 0;
  for (const YAML::Node& item : n) {
    std::string item_path = StrCat(KeyPath(key), "[", i++, "]");
    if (!item.IsMap()) {
      doc_->Add(item.Mark(), StrCat(item_path, ": expected a mapping, got ", Describe(item)));
      continue;
    }
    result.push_back(ConfigMap(doc_, item, item_path));
  }
  return result;
}

absl::StatusOr<YamlDocument> YamlDocument::Parse(std::string_view text, const std::string& name) {
  auto state = std::make_shared<ConfigMap::State>();
  state->file = name;
  try {
    state->root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        StrCat(name, ":", e.mark.line + 1, ":", e.mark.column + 1, ": YAML syntax error: ", e.msg));
  }
  if (!state->root.IsDefined() || state->root.IsNull()) {
    state->root = YAML::Node(YAML::NodeType::Map);
  } else if (!state->root.IsMap()) {
    int line = state->root.Mark().is_null() ? 1 : state->root.Mark().line + 1;
    return absl::InvalidArgumentError(StrCat(
        name, ":", line, ": expected a mapping at the top level, got ", Describe(state->root)));
  }
  return YamlDocument(std::move(state));
}

absl::StatusOr<YamlDocument> YamlDocument::Load(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat(file, ": cannot open: ", std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(StrCat(file, ": read error"));
  return Parse(text.str(), file);
}

ConfigMap YamlDocument::Root() { return ConfigMap(state_, state_->root, ""); }

absl::Status YamlDocument::Finish() {
  ConfigMap::State& s = *state_;
  for (const auto& entry : s.maps) {
    if (!entry.node.IsMap()) continue;
    for (auto it = entry.node.begin(); it != entry.node.end(); ++it) {
      std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
      if (entry.known->count(key) == 0) {
        std::string path = entry.path.empty() ? key : StrCat(entry.path, ".", key);
        s.Add(it->first.Mark(), StrCat(path, ": unknown key"));
      }
    }
  }
  if (s.errors.empty()) return absl::OkStatus();
  std::stable_sort(s.errors.begin(), s.errors.end(),
                   [](const auto& a, const auto& b) { return a.line < b.line; });
  std::vector<std::string> lines;
  for (const auto& e : s.errors) lines.push_back(StrCat(s.file, ":", e.line, ": ", e.text));
  lines.erase(std::unique(lines.begin(), lines.end()), lines.end());
  return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
}

}  // namespace plumbline
