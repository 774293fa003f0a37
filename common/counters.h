// Operational counters and gauges of a process (batches stored, rejected by
// reason, parse errors by source, ...), keyed by name and label set.
// Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/labels.h"

namespace plumbline {

struct CounterValue {
  std::string name;
  LabelSet labels;
  double value;
};

class Counters {
 public:
  void Add(std::string_view name, const LabelSet& labels = {}, double delta = 1);
  void Set(std::string_view name, const LabelSet& labels, double value);
  double Get(std::string_view name, const LabelSet& labels = {}) const;
  std::vector<CounterValue> Snapshot() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, LabelSet>, double> values_;
};

}  // namespace plumbline
