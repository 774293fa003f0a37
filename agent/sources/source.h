// A metric source: one thing the agent measures (host usage, a probe, a log,
// a StatsD listener). Sources live on the agent's single Asio event loop:
// Start() may open sockets and files and schedule asynchronous work on
// context.io; Collect() is called once per interval and must not block for
// long (reading small /proc files is fine; network I/O is asynchronous).
// Adding a source: one .h/.cpp pair in agent/sources/, its options struct in
// AgentConfig, one line in Agent::BuildSources.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <string>
#include <string_view>

#include "agent/metric_writer.h"
#include "agent/proc_parsers.h"
#include "common/clock.h"
#include "common/counters.h"
#include "common/status.h"

namespace plumbline::agent {

// What a source may use. Everything outlives the source.
struct SourceContext {
  asio::io_context* io = nullptr;
  ProcFs proc;
  // Directory the agent may write (log offsets, spool); exists.
  std::string state_dir;
  // The agent's own counters. Sources count bad input here as
  // plumbline_agent_parse_errors_total{source="<name>"} and similar.
  Counters* counters = nullptr;
  const Clock* clock = &SystemClock::Instance();
  std::chrono::milliseconds interval{10000};
};

class Source {
 public:
  virtual ~Source() = default;
  // Short stable name used in logs and in the agent's own error counters.
  virtual std::string_view name() const = 0;
  // Opens what the source needs; an error disables this source only.
  virtual absl::Status Start() { return absl::OkStatus(); }
  // Appends this interval's measurements. An error means the whole reading
  // failed (the agent counts it and carries on with the other sources); a
  // partial reading writes what it has and returns OK.
  virtual absl::Status Collect(MetricWriter& out) = 0;
  // Closes sockets and files; pending asynchronous work must not touch the
  // source afterwards.
  virtual void Stop() {}
};

}  // namespace plumbline::agent
