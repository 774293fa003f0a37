// /proc/stat and /proc/meminfo parsers on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/proc_parsers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto stat = plumbline::agent::ParseProcStat(text, 100);
  if (stat.ok()) {
    volatile double busy = stat->total.Busy();
    (void)busy;
  }
  auto mem = plumbline::agent::ParseMemInfo(text);
  if (mem.ok() && mem->available > mem->total) __builtin_trap();
  return 0;
}
