// Label validation and the canonical label text round trip.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/labels.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)plumbline::ValidateMetricName(text);
  (void)plumbline::ValidateLabelName(text);
  bool value_ok = plumbline::ValidateLabelValue(text).ok();
  auto parsed = plumbline::ParseCanonicalLabels(text);
  if (parsed.ok()) (void)plumbline::CanonicalLabels(*parsed);
  if (value_ok) {
    plumbline::LabelSet set = {{"k", std::string(text)}};
    auto back = plumbline::ParseCanonicalLabels(plumbline::CanonicalLabels(set));
    if (!back.ok() || *back != set) __builtin_trap();
  }
  return 0;
}
