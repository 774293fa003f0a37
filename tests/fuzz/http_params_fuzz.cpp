// Query parameters of the HTTP API: the raw request target is untrusted.
// Splitting, URL decoding, times (RFC 3339, "now", "-2h", epoch ms) and
// durations must never crash or hang, and what they accept must be sane.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "collector/query_params.h"
#include "common/yaml_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string target =
      "/api/v1/series?" + std::string(reinterpret_cast<const char*>(data), size);
  constexpr int64_t kNow = 1800000000000;
  for (const char* key : {"match", "from", "to", "at", "window"}) {
    for (const std::string& value : plumbline::collector::QueryParamValues(target, key)) {
      int64_t ms = 0;
      if (plumbline::ParseWhen(value, kNow, &ms) && value[0] == '-' && ms > kNow) {
        __builtin_trap();  // "that long ago" must lie in the past
      }
      (void)plumbline::ParseDuration(value);
    }
  }
  // The whole input as one value, too (no '&' splitting in the way).
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  if (plumbline::collector::DecodeQueryComponent(raw).size() > size) __builtin_trap();
  int64_t ms = 0;
  (void)plumbline::ParseWhen(std::string(reinterpret_cast<const char*>(data), size), kNow, &ms);
  return 0;
}
