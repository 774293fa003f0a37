// The agent's YAML configuration (see configs/agent.yaml for every key).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "agent/sources/host_source.h"
#include "agent/sources/log_source.h"
#include "agent/sources/probe_source.h"
#include "agent/sources/process_source.h"
#include "agent/sources/prometheus_source.h"
#include "agent/sources/self_source.h"
#include "agent/sources/statsd_source.h"
#include "agent/spool.h"
#include "common/status.h"

namespace plumbline::agent {

struct AgentConfig {
  std::string agent_id;  // default: the hostname
  std::map<std::string, std::string> labels;
  std::chrono::milliseconds interval{10000};
  std::string log_level = "info";
  // Read /proc below this directory (tests point it at fixtures).
  std::string proc_root;

  struct Collector {
    std::vector<std::string> addresses{"127.0.0.1:7070"};
    int64_t max_in_flight = 32;
    // After an outage, backlog batches sent per second at most (fresh
    // batches are not limited); 0: no limit.
    double replay_batches_per_second = 20;
    std::chrono::milliseconds ack_timeout{30000};
    std::chrono::milliseconds backoff_initial{500};
    std::chrono::milliseconds backoff_max{30000};
    std::chrono::milliseconds shutdown_timeout{5000};
  } collector;

  // TLS to the collector. On when `ca` or `cert` is set; else plaintext
  // (the agent warns at start).
  struct Tls {
    std::string ca;    // PEM CA bundle that signs the collector; empty: system roots
    std::string cert;  // PEM client certificate (mTLS); its CN or a DNS SAN is the agent id
    std::string key;   // PEM private key of `cert`
    // Name expected in the collector's certificate; default: the host of
    // each collector address.
    std::string server_name;
    // Without ca/cert: the agent sends plaintext to collectors on this host
    // only, unless this says plaintext is wanted on the network too.
    bool plaintext = false;
    // How often the files are checked for changes (rotation without restart).
    std::chrono::milliseconds reload_interval{60000};
    bool enabled() const { return !ca.empty() || !cert.empty(); }
  } tls;

  // A file holding an enrollment token (first line), sent as
  // "authorization: Bearer <token>" on the ingest stream; re-read at every
  // connection. Empty: none.
  std::string enrollment_token_file;

  struct Queue {
    uint64_t max_bytes = 64ull << 20;
  } queue;

  // Where the agent keeps state (spool, log offsets). Created if missing.
  std::string state_dir = "/var/lib/plumbline/agent";

  // The disk spool (agent/spool.h); an empty dir means <state_dir>/spool.
  SpoolOptions spool;

  // One member per source, parsed by that source's own Parse*Options().
  HostSourceOptions host;
  ProcessSourceOptions processes;
  ProbeSourceOptions probes;
  LogSourceOptions access_logs;
  StatsdSourceOptions statsd;
  PrometheusSourceOptions prometheus;
  SelfSourceOptions self;
};

// Reads and validates a config file; errors name file, line and key.
absl::StatusOr<AgentConfig> LoadAgentConfig(const std::string& file);
// Same, from text; `name` stands for the file name in messages.
absl::StatusOr<AgentConfig> ParseAgentConfig(std::string_view text, const std::string& name);

}  // namespace plumbline::agent
