// The access log parser on arbitrary bytes: as lines for the built-in
// formats, and as a custom format string (first line) applied to the rest.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/access_log_parser.h"

using plumbline::agent::AccessLogFormat;

namespace {

void Check(const AccessLogFormat& format, std::string_view line) {
  auto r = format.ParseLine(line);
  if (!r.ok()) return;
  if (r->status < 100 || r->status > 599) __builtin_trap();
  if (r->request_time_seconds && !(*r->request_time_seconds >= 0)) __builtin_trap();
  (void)plumbline::agent::StatusClass(r->status);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  static const AccessLogFormat combined = *AccessLogFormat::Parse("combined");
  static const AccessLogFormat with_time = *AccessLogFormat::Parse("combined_request_time");
  static const AccessLogFormat with_us = *AccessLogFormat::Parse("combined_request_time_us");
  Check(combined, text);
  Check(with_time, text);
  Check(with_us, text);
  size_t newline = text.find('\n');
  if (newline != std::string_view::npos) {
    auto custom = AccessLogFormat::Parse(text.substr(0, newline));
    if (custom.ok()) Check(*custom, text.substr(newline + 1));
  }
  return 0;
}
