// Logging setup shared by every binary: spdlog to stderr, journald-friendly.
// Under systemd (JOURNAL_STREAM set) lines carry a "<N>" syslog priority
// prefix and no timestamp, since journald adds its own.
#pragma once

#include <string>

#include "common/status.h"

namespace plumbline {

// level: trace, debug, info, warn, error, critical, off.
absl::Status SetUpLogging(const std::string& program, const std::string& level);

}  // namespace plumbline
