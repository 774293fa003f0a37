// plumbline-load-gen's Prometheus remote-write mode: the simulated agents'
// batches (tools/load_series.h) sent as Prometheus remote write 1.0, the way
// a Prometheus server sends them. Each batch becomes one WriteRequest (one
// TimeSeries per series, labelled with the agent id as `instance`),
// snappy block-compressed and POSTed with
//   Content-Encoding: snappy
//   Content-Type: application/x-protobuf
//   X-Prometheus-Remote-Write-Version: 0.1.0
//
// Like Prometheus' queue manager, a fixed number of senders (one HTTP/1.1
// keep-alive connection each, like its shards) each have one request in
// flight; an agent's batches go out one at a time and in order, since the
// receiver refuses out-of-order samples. A 5xx, a 429 or no answer is retried
// after Retry-After if the server gave one, else with exponential backoff
// (30 ms doubling up to 5 s, Prometheus' defaults); any other 4xx drops the
// batch, as Prometheus does.
//
// Fixed interval: every agent produces a batch per interval, senders drain the
// backlog. Max rate: every agent always has its next batch ready, so the
// senders send as fast as the server answers; with start_ago_ms > 0
// timestamps start that far back and an agent waits rather than send a
// timestamp ahead of the wall clock.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "tools/load_series.h"
#include "tools/load_summary.h"

namespace plumbline::load_gen {

struct RemoteWriteLoadOptions {
  std::string url;              // http://host:port/path
  std::string prefix = "load";  // agent ids are <prefix>-<nnnn>
  int agents = 10;
  int connections = 16;
  double duration_s = 10;
  double drain_timeout_s = 120;
  bool max_rate = false;
  int64_t start_ago_ms = 0;
  double status_every_s = 1;
  int timeout_ms = 30000;  // per request, as Prometheus' remote_timeout
};

// Runs the load until duration_s has passed or `stop` is set, then drains
// what was produced (up to drain_timeout_s). An error only for options that
// cannot work (a malformed URL); failed requests are counted in the summary.
// Prints status lines to stdout while it runs.
absl::StatusOr<RunSummary> RunRemoteWriteLoad(const RemoteWriteLoadOptions& options,
                                              const LoadSeries& series,
                                              const std::atomic<bool>& stop);

}  // namespace plumbline::load_gen
