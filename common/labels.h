// Metric and label naming rules shared by agent (before sending) and
// collector (before storing). Names follow Prometheus conventions so that
// everything Plumbline stores can be exposed to Prometheus unchanged.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace plumbline {

inline constexpr size_t kMaxMetricNameLength = 200;
inline constexpr size_t kMaxLabelNameLength = 100;
inline constexpr size_t kMaxLabelValueLength = 1024;

using LabelSet = std::vector<std::pair<std::string, std::string>>;

// [a-zA-Z_:][a-zA-Z0-9_:]*, at most kMaxMetricNameLength bytes.
absl::Status ValidateMetricName(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, at most kMaxLabelNameLength bytes, no "__" prefix
// (reserved).
absl::Status ValidateLabelName(std::string_view name);
// Valid UTF-8 without control characters, at most kMaxLabelValueLength bytes.
absl::Status ValidateLabelValue(std::string_view value);

// Sorted by name; fails on a duplicate name.
absl::Status SortLabels(LabelSet* labels);

// Canonical text of a sorted label set: name="value",... with \\, \" and \n
// escaped, as in the Prometheus exposition format. Equal sets give equal text.
std::string CanonicalLabels(const LabelSet& sorted_labels);
// Inverse of CanonicalLabels.
absl::StatusOr<LabelSet> ParseCanonicalLabels(std::string_view text);

// Replaces every character not allowed in a label name by '_'.
std::string SanitizeLabelName(std::string_view name);

}  // namespace plumbline
