#include <fnmatch.h>

#include <algorithm>
#include <string>
#include <vector>

#include "collector/store/store.h"

namespace plumbline::collector {

std::string JoinIds(const std::vector<std::string>& ids) {
  std::string out;
  for (const std::string& id : ids) {
    if (!out.empty()) out += ',';
    out += id;
  }
  return out;
}

std::vector<std::string> SplitIds(const std::string& joined) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < joined.size()) {
    size_t comma = joined.find(',', at);
    if (comma == std::string::npos) comma = joined.size();
    if (comma > at) out.push_back(joined.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

bool LabelMatcher::Matches(const LabelSet& sorted_labels) const {
  auto it = std::lower_bound(sorted_labels.begin(), sorted_labels.end(), name,
                             [](const auto& l, const std::string& n) { return l.first < n; });
  const std::string empty;
  const std::string& actual = (it != sorted_labels.end() && it->first == name) ? it->second : empty;
  switch (op) {
    case Op::kEqual:
      return actual == value;
    case Op::kNotEqual:
      return actual != value;
    case Op::kGlob:
      return fnmatch(value.c_str(), actual.c_str(), 0) == 0;
  }
  return false;
}

void Aggregate::Merge(const Aggregate& later) {
  if (later.count == 0) return;
  if (count == 0) {
    *this = later;
    return;
  }
  count += later.count;
  sum += later.sum;
  min = std::min(min, later.min);
  max = std::max(max, later.max);
  if (later.first_ms < first_ms) {
    first = later.first;
    first_ms = later.first_ms;
  }
  if (later.last_ms >= last_ms) {
    last = later.last;
    last_ms = later.last_ms;
  }
  increase += later.increase;
}

}  // namespace plumbline::collector
