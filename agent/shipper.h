// Ships batches from a BatchQueue to the collector over one gRPC stream with
// several batches in flight. Reconnects with exponential backoff and full
// jitter, fails over across the configured addresses, and resends every
// unacknowledged batch after a reconnect (the collector deduplicates by
// (agent, epoch, sequence), so a resend never double-counts).
//
// Replay: when a stream comes up, whatever is queued becomes the backlog
// (BatchQueue::MarkBacklog). Batches pushed from then on are sent at once,
// newest first; the backlog drains oldest first beside them, in at most
// three quarters of the in-flight window and at most
// replay_batches_per_second (agent/send_window.h). An ACK_RETRY pauses both
// for the collector's retry hint.
//
// Runs on its own thread; Start/Stop/Stats may be called from any thread.
#pragma once

#include <grpcpp/security/credentials.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agent/batch_queue.h"
#include "plumbline/v1/ingest.pb.h"

namespace plumbline::agent {

struct ShipperOptions {
  std::vector<std::string> addresses;
  int max_in_flight = 32;
  // Backlog batches sent per second at most, resends included; 0: no limit.
  double replay_batches_per_second = 20;
  std::chrono::milliseconds ack_timeout{30000};
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{30000};
  // TLS (on when tls_ca or tls_cert is set); files are watched for changes.
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
  std::chrono::milliseconds tls_reload_interval{60000};
  // First line sent as "authorization: Bearer ..." on every stream; read at
  // every connection, never logged.
  std::string enrollment_token_file;
};

struct ShipperStats {
  uint64_t sent = 0;          // batch sends, including resends
  uint64_t sent_backlog = 0;  // of those, sends of backlog batches
  uint64_t stored = 0;        // acknowledged as stored
  uint64_t duplicates = 0;    // acknowledged as already stored
  uint64_t rejected = 0;      // permanently refused by the collector
  uint64_t retry_acks = 0;    // collector asked to retry later
  uint64_t rejected_series = 0;
  uint64_t connects = 0;
  uint64_t connect_failures = 0;
  bool connected = false;
};

class Shipper {
 public:
  Shipper(ShipperOptions options, BatchQueue* queue, v1::AgentInfo info);
  ~Shipper();
  Shipper(const Shipper&) = delete;
  Shipper& operator=(const Shipper&) = delete;

  void Start();
  // Gives the shipper up to `drain` to deliver what is queued, then stops.
  void Stop(std::chrono::milliseconds drain);
  ShipperStats Stats() const;

 private:
  void Run();
  // One connection's life. Returns true if at least one ack arrived.
  bool Session(const std::string& address);
  // Sleeps up to `d`; returns early (false) when stopping.
  bool SleepFor(std::chrono::milliseconds d);

  ShipperOptions options_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  BatchQueue* queue_;
  v1::AgentInfo info_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
  mutable std::mutex stats_mu_;
  ShipperStats stats_;
  std::mt19937_64 rng_;
};

}  // namespace plumbline::agent
