// The agent measuring itself: its memory, CPU and file descriptors from
// /proc/self (through SourceContext::proc, so tests inject a tree), and every
// figure in the agent's own counters (parse errors and drops by source,
// queue depth, batches sent, retried, dropped, ...).
//
//   plumbline_agent_resident_memory_bytes   gauge, VmRSS
//   plumbline_agent_cpu_seconds_total       counter, user + system time
//   plumbline_agent_open_fds                gauge, entries of /proc/self/fd
//   plumbline_agent_threads                 gauge
//   plumbline_agent_start_time_seconds      gauge, Unix time the process started
//                                           (a change means a restart)
//   <each counter>                          a name ending in _total is a
//                                           counter, any other a gauge
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "agent/sources/source.h"
#include "common/yaml_config.h"

namespace plumbline::agent {

struct SelfSourceOptions {
  bool enabled = true;
};

// Reads the `sources.self` section of the agent config.
void ParseSelfSourceOptions(ConfigMap section, SelfSourceOptions* out);

struct ProcessStatus {
  uint64_t resident_bytes = 0;  // VmRSS
  uint64_t threads = 0;
};
// Parses /proc/<pid>/status; VmRSS is required.
absl::StatusOr<ProcessStatus> ParseProcessStatus(std::string_view text);
struct ProcessStat {
  double cpu_seconds = 0;         // user + system
  double started_after_boot = 0;  // seconds
};
// Parses /proc/<pid>/stat. `ticks_per_second` is sysconf(_SC_CLK_TCK).
absl::StatusOr<ProcessStat> ParseProcessStat(std::string_view text, double ticks_per_second);

class SelfSource final : public Source {
 public:
  SelfSource(SourceContext context, double ticks_per_second);
  std::string_view name() const override { return "self"; }
  absl::Status Collect(MetricWriter& out) override;

 private:
  SourceContext context_;
  double ticks_per_second_;
  std::optional<double> start_time_;  // Unix seconds; read once
};

}  // namespace plumbline::agent
