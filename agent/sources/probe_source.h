// Service probes: TCP connect probes and HTTP(S) GET probes, each on its own
// interval timer on the agent's event loop. Collect() reports the latest
// result of every probe that has finished at least once.
//
// TCP probes run entirely on the loop (async resolve + connect, a timer for
// the deadline). HTTP(S) probes use cpp-httplib, whose calls block, on a
// small thread pool owned by the source; results are posted back to the loop,
// which also enforces each probe's deadline, so the loop never blocks.
// A failed probe is data (probe_success 0), not an error of the source.
#pragma once

#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/sources/source.h"
#include "common/yaml_config.h"

namespace plumbline::agent {

struct ProbeOptions {
  enum class Kind { kTcp, kHttp };
  std::string name;  // the `probe` label
  Kind kind = Kind::kTcp;
  // TCP: host and port to connect to.
  std::string host, port;
  // HTTP: "http://host:port" or "https://host:port", and the path with query.
  std::string scheme_host_port, path = "/";
  bool https = false;
  std::chrono::milliseconds interval{0};  // 0: the agent's interval
  // Whole probe: resolve, connect, TLS handshake, request and response.
  // Capped at the interval.
  std::chrono::milliseconds timeout{5000};
  // HTTP: accepted status codes as inclusive ranges (default 200-299).
  std::vector<std::pair<int, int>> expect_status = {{200, 299}};
  std::string body_contains;  // empty: the body is not looked at
  bool follow_redirects = true;
  bool tls_verify = true;  // certificate chain and host name
  std::string ca_file;     // PEM bundle instead of the system's trust store
};

struct ProbeSourceOptions {
  std::vector<ProbeOptions> probes;
};

// Reads the `sources.probes` section: lists `tcp:` of {name, address,
// interval, timeout} and `http:` of {name, url, interval, timeout,
// expect_status, body_contains, follow_redirects, tls_verify, ca_file}.
void ParseProbeSourceOptions(ConfigMap section, ProbeSourceOptions* out);

// The outcome of one probe run.
struct ProbeResult {
  bool success = false;
  double duration_seconds = 0;
  std::optional<int> http_status;          // when a response arrived
  std::optional<double> cert_expiry_days;  // https, when the handshake got a certificate
  std::string error;                       // why it failed; empty on success
};

class ProbeSource final : public Source {
 public:
  ProbeSource(SourceContext context, ProbeSourceOptions options);
  ~ProbeSource() override;
  std::string_view name() const override { return "probe"; }
  // Runs every probe right away, then on its interval.
  absl::Status Start() override;
  absl::Status Collect(MetricWriter& out) override;
  // Cancels timers and connections, and waits for HTTP requests in progress
  // on the pool to notice (at most a resolve or connect step).
  void Stop() override;

  // The latest result of probe `index` (in options order), if any; for tests.
  std::optional<ProbeResult> LatestResult(size_t index) const;

  class Runner;  // one probe's timers and state; shared with pending handlers

 private:
  SourceContext context_;
  ProbeSourceOptions options_;
  std::unique_ptr<asio::thread_pool> pool_;  // for HTTP probes only
  std::vector<std::shared_ptr<Runner>> runners_;
  bool stopped_ = false;
};

}  // namespace plumbline::agent
