// What one plumbline-load-gen run achieved, the same fields for every target,
// printed as one machine-readable line and one sentence:
//
//   summary {"target": "plumbline", ..., "samples_per_s": 251234.5, ...}
//   load-gen plumbline: 1000 agents x 500 series, max rate: 15073 k samples
//   acknowledged in 60.0 s = 251,234 samples/s; ...
//
// The measured window is the production phase (--duration): samples/s is
// the samples acknowledged within it over its length; what is acknowledged
// while draining afterwards counts in samples_acked, not in the rate.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace plumbline::load_gen {

struct RunSummary {
  std::string target;  // "plumbline" or "prometheus"
  std::string shape;   // "sequence" or "host"
  int agents = 0;
  int series = 0;
  bool max_rate = false;
  double window_s = 0;    // the production phase
  double elapsed_s = 0;   // with the drain
  uint64_t requests = 0;  // batches written (gRPC) or POSTs answered or failed (HTTP), with resends
  uint64_t samples_sent = 0;   // in those requests
  uint64_t samples_acked = 0;  // acknowledged: STORED or DUPLICATE, HTTP 2xx
  uint64_t samples_acked_in_window = 0;
  // Attempts that did not store: ACK_RETRY, ACK_REJECTED or a broken stream;
  // HTTP non-2xx or no answer.
  uint64_t errors = 0;
  uint64_t retries = 0;          // of those, sent again
  uint64_t samples_dropped = 0;  // refused for good (ACK_REJECTED, HTTP 4xx other than 429)
  uint64_t samples_unacked = 0;  // still unacknowledged when the run gave up
  double load_gen_cpu_s = 0;     // this process, user + system

  double SamplesPerSecond() const {
    return window_s > 0 ? static_cast<double>(samples_acked_in_window) / window_s : 0;
  }
};

// `summary {...}` (one line of JSON) then a sentence, to `out`.
void PrintRunSummary(const RunSummary& summary, std::FILE* out);

// User + system CPU seconds of this process so far.
double ProcessCpuSeconds();

}  // namespace plumbline::load_gen
