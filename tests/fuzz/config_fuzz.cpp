// Agent and collector YAML config loaders on arbitrary text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/config.h"
#include "collector/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto agent = plumbline::agent::ParseAgentConfig(text, "fuzz.yaml");
  if (agent.ok() && agent->collector.addresses.empty()) __builtin_trap();
  auto collector = plumbline::collector::ParseCollectorConfig(text, "fuzz.yaml");
  (void)collector;
  return 0;
}
