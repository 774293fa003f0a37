// A metric source: one thing the agent measures (host usage, a probe, a log).
// The agent calls Collect() on its event loop once per interval; a source
// must not block for long (file reads of /proc are fine; network I/O is
// asynchronous on the same loop).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "agent/metric_writer.h"
#include "common/status.h"

namespace plumbline::agent {

class Source {
 public:
  virtual ~Source() = default;
  // Short stable name used in logs and in the agent's own error counters.
  virtual std::string_view name() const = 0;
  // Appends this interval's measurements. An error means the whole reading
  // failed (the agent counts it and carries on with the other sources); a
  // partial reading writes what it has and returns OK.
  virtual absl::Status Collect(MetricWriter& out) = 0;
};

}  // namespace plumbline::agent
