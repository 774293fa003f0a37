// Process presence and usage: for each configured matcher, whether a
// matching process runs and what the matched processes use (CPU, resident
// memory, open file descriptors, threads), when they started and how often
// they were restarted. Everything is read through ProcFs, so tests use
// fixture trees.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/proc_parsers.h"
#include "agent/sources/source.h"
#include "common/yaml_config.h"

namespace plumbline::agent {

struct ProcessMatcher {
  enum class Kind { kComm, kCmdline, kPidfile, kSystemdUnit };
  std::string name;  // the `process` label
  Kind kind = Kind::kComm;
  // The process name (as in /proc/PID/comm, which the kernel cuts to 15
  // bytes), a regular expression searched in the command line (its first
  // 4 KiB, arguments joined by spaces), a pid file path, or a systemd unit
  // ("nginx" means "nginx.service").
  std::string pattern;
};

struct ProcessSourceOptions {
  std::vector<ProcessMatcher> match;
};

// Reads the `sources.processes` section: `match:` is a list of
// {name, and one of comm, cmdline, pidfile, systemd_unit}.
void ParseProcessSourceOptions(ConfigMap section, ProcessSourceOptions* out);

class ProcessSource final : public Source {
 public:
  // `page_size` is sysconf(_SC_PAGESIZE), `ticks_per_second` sysconf(_SC_CLK_TCK).
  ProcessSource(ProcFs fs, ProcessSourceOptions options, double ticks_per_second,
                uint64_t page_size);
  std::string_view name() const override { return "process"; }
  // Fails if a cmdline pattern is not a valid regular expression.
  absl::Status Start() override;
  // Writes every matcher's series; only a /proc that cannot be listed is an
  // error. Processes that vanish between listing and reading are skipped.
  absl::Status Collect(MetricWriter& out) override;

 private:
  // The processes at the top of a matcher's set (whose parent is not in the
  // set), as (pid, start ticks): a change there is a restart, while workers
  // coming and going below a master are not.
  using Identity = std::set<std::pair<int64_t, uint64_t>>;
  struct MatcherState {
    Identity last_roots;  // last non-empty identity seen
    uint64_t restarts = 0;
  };

  ProcFs fs_;
  ProcessSourceOptions options_;
  double ticks_per_second_;
  uint64_t page_size_;
  absl::Status patterns_status_;
  std::vector<std::optional<std::regex>> cmdline_patterns_;  // per matcher
  std::vector<MatcherState> states_;                         // per matcher
  std::optional<int64_t> boot_time_s_;
};

}  // namespace plumbline::agent
