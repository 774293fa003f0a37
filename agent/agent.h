// The agent: one Asio event loop drives every source on a timer aligned to
// the collection interval; each tick's readings become one batch that goes
// to the queue, and the shipper (its own thread) delivers the queue.
#pragma once

#include <asio.hpp>
#include <memory>
#include <string>
#include <vector>

#include "agent/batch_queue.h"
#include "agent/config.h"
#include "agent/metric_writer.h"
#include "agent/shipper.h"
#include "agent/sources/source.h"
#include "agent/spool.h"
#include "common/counters.h"

namespace plumbline::agent {

class Agent {
 public:
  // `config_file` is re-read on SIGHUP (empty: no reload).
  Agent(AgentConfig config, std::string config_file);
  ~Agent();

  // Runs until SIGTERM or SIGINT; returns the process exit code.
  int Run();
  // Collects one batch without shipping it (for --dry-run and tests).
  v1::Batch CollectOnce();
  const Counters& counters() const { return counters_; }

 private:
  // (Re)creates every configured source from config_ and starts it; a source
  // that fails to start is logged, counted and left out.
  void BuildSources();
  void StopSources();
  SourceContext MakeSourceContext();
  void ScheduleTick();
  void Tick();
  // Copies queue and shipper figures into counters_, where the self source
  // finds them.
  void PublishDeliveryStats();
  // The disk spool when spool.enabled and its directory opens, else the
  // memory queue (loudly).
  std::unique_ptr<BatchQueue> MakeQueue();
  // Copies the spool's figures into counters_ as plumbline_agent_spool_*.
  void PublishSpoolStats();
  void Reload();
  v1::AgentInfo Describe() const;
  ShipperOptions MakeShipperOptions() const;

  AgentConfig config_;
  std::string config_file_;
  asio::io_context io_;
  asio::steady_timer timer_{io_};
  asio::steady_timer release_timer_{io_};  // ReleaseStartupCode, once
  asio::signal_set signals_{io_};
  Counters counters_;  // the agent's own counters (parse errors by source, ...)
  std::vector<std::unique_ptr<Source>> sources_;
  Labels common_labels_;
  std::unique_ptr<BatchQueue> queue_;
  DiskSpool* spool_ = nullptr;  // queue_ when it is the disk spool
  std::unique_ptr<Shipper> shipper_;
  uint64_t epoch_;
  uint64_t sequence_ = 0;
  uint64_t collect_errors_ = 0;
};

}  // namespace plumbline::agent
