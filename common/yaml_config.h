// Reading YAML configuration with errors that name file, line and key.
//
//   ASSIGN_OR_RETURN(auto doc, YamlDocument::Load("agent.yaml"));
//   ConfigMap root = doc.Root();
//   root.Duration("interval", &config.interval);
//   ConfigMap collector = root.Map("collector");
//   collector.StringList("addresses", &config.addresses);
//   RETURN_IF_ERROR(doc.Finish());   // also reports unknown keys
//
// Every reader records the keys it asks for; Finish() reports keys nobody
// asked for (typos) and every type or range error, each as
// "agent.yaml:12: interval: expected a duration such as 10s or 500ms, got \"ten\"".
// Not thread-safe; a document is read by one thread, once.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace plumbline {

// Parses "250ms", "10s", "5m", "2h", "7d" (an integer or decimal and a unit).
absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);
// Parses "512", "64KiB", "256MiB", "1GiB", "10MB", "1GB".
absl::StatusOr<uint64_t> ParseByteSize(std::string_view text);
// A point in time as people type it: "2026-11-27T08:00:00Z" (RFC 3339),
// "now", "-2h" or "2h" (that long ago), or milliseconds since the epoch
// (up to 15 digits). False on anything else.
bool ParseWhen(std::string_view text, int64_t now_ms, int64_t* out_ms);
// Formats a duration the way ParseDuration reads it ("10s", "1500ms").
std::string FormatDuration(std::chrono::milliseconds d);

class YamlDocument;

// A view of one YAML mapping inside a document. Copyable; copies share the
// document's error list and the map's record of known keys.
class ConfigMap {
 public:
  // True if the key is present (and records it as known).
  bool Has(std::string_view key);
  // Each reader leaves *out unchanged when the key is absent, so callers set
  // defaults first. A present key of the wrong type records an error.
  void String(std::string_view key, std::string* out);
  void Bool(std::string_view key, bool* out);
  void Int(std::string_view key, int64_t* out, int64_t min, int64_t max);
  void Double(std::string_view key, double* out, double min, double max);
  void Duration(std::string_view key, std::chrono::milliseconds* out,
                std::chrono::milliseconds min = std::chrono::milliseconds(1));
  void ByteSize(std::string_view key, uint64_t* out);
  void StringList(std::string_view key, std::vector<std::string>* out);
  void StringMap(std::string_view key, std::map<std::string, std::string>* out);
  // A nested mapping; an absent key gives an empty map whose readers do nothing.
  ConfigMap Map(std::string_view key);
  // A sequence of mappings.
  std::vector<ConfigMap> MapList(std::string_view key);
  // Records an error for `key` (or for the map itself when key is empty).
  void Error(std::string_view key, std::string_view message);
  // Records an error if the key is absent.
  void Require(std::string_view key);
  int Line() const;                                  // 1-based line of this map
  const std::string& path() const { return path_; }  // e.g. "collector"

 private:
  friend class YamlDocument;
  struct State;
  ConfigMap(std::shared_ptr<State> doc, YAML::Node node, std::string path);
  YAML::Node Get(std::string_view key);
  std::string KeyPath(std::string_view key) const;
  void TypeError(std::string_view key, const YAML::Node& node, std::string_view expected);

  std::shared_ptr<State> doc_;
  YAML::Node node_;
  std::string path_;
  std::shared_ptr<std::set<std::string>> known_;
};

class YamlDocument {
 public:
  // Reads and parses a file; a syntax error names file, line and column.
  static absl::StatusOr<YamlDocument> Load(const std::string& file);
  // Parses text; `name` stands for the file name in messages.
  static absl::StatusOr<YamlDocument> Parse(std::string_view text, const std::string& name);

  // The top-level mapping (an empty document reads as an empty map).
  ConfigMap Root();
  // OK, or InvalidArgument listing every error, one per line, in document order.
  absl::Status Finish();

 private:
  explicit YamlDocument(std::shared_ptr<ConfigMap::State> state) : state_(std::move(state)) {}
  std::shared_ptr<ConfigMap::State> state_;
};

}  // namespace plumbline
