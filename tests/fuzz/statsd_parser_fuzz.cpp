// The StatsD line parser on arbitrary datagrams.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/statsd_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  plumbline::agent::StatsdPacket packet = plumbline::agent::ParseStatsdPacket(text);
  for (const auto& m : packet.metrics) {
    if (m.name.empty() || m.name.size() > plumbline::agent::kMaxStatsdNameLength) __builtin_trap();
    if (!std::isfinite(m.value)) __builtin_trap();
    if (!(m.sample_rate > 0 && m.sample_rate <= 1)) __builtin_trap();
    if (m.tags.size() > plumbline::agent::kMaxStatsdTags) __builtin_trap();
    // Views point into the packet.
    if (m.name.data() < text.data() || m.name.data() + m.name.size() > text.data() + text.size()) {
      __builtin_trap();
    }
  }
  if (packet.errors > 0 && packet.first_error.empty()) __builtin_trap();
  return 0;
}
