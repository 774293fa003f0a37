#include "common/counters.h"

namespace plumbline {

void Counters::Add(std::string_view name, const LabelSet& labels, double delta) {
  std::lock_guard lock(mu_);
  values_[{std::string(name), labels}] += delta;
}

void Counters::Set(std::string_view name, const LabelSet& labels, double value) {
  std::lock_guard lock(mu_);
  values_[{std::string(name), labels}] = value;
}

double Counters::Get(std::string_view name, const LabelSet& labels) const {
  std::lock_guard lock(mu_);
  auto it = values_.find({std::string(name), labels});
  return it == values_.end() ? 0 : it->second;
}

std::vector<CounterValue> Counters::Snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<CounterValue> out;
  out.reserve(values_.size());
  for (const auto& [key, value] : values_) out.push_back({key.first, key.second, value});
  return out;
}

}  // namespace plumbline
