// Host usage from /proc: CPU time by mode and utilisation, memory and swap.
#pragma once

#include <optional>

#include "agent/proc_parsers.h"
#include "agent/sources/source.h"
#include "common/yaml_config.h"

namespace plumbline::agent {

struct HostSourceOptions {
  bool enabled = true;
  bool per_cpu = false;  // also ship host_cpu_seconds_total per core
};

// Reads the `sources.host` section of the agent config.
void ParseHostSourceOptions(ConfigMap section, HostSourceOptions* out);

class HostSource final : public Source {
 public:
  HostSource(ProcFs fs, HostSourceOptions options, double ticks_per_second);
  std::string_view name() const override { return "host"; }
  absl::Status Collect(MetricWriter& out) override;

 private:
  absl::Status CollectCpu(MetricWriter& out);
  absl::Status CollectMemory(MetricWriter& out);

  ProcFs fs_;
  HostSourceOptions options_;
  double ticks_per_second_;
  std::optional<CpuTimes> previous_;  // for utilisation over the last interval
};

}  // namespace plumbline::agent
