// The Ingest gRPC service: one bidirectional stream per agent, many batches
// in flight, each answered with a BatchAck once durably stored.
//
// Each stream is authenticated when it opens (collector/agent_auth.h) and may
// then write only as the agent ids its credentials grant; per-agent rate and
// cardinality limits (collector/ingest_limiter.h) answer ACK_RETRY with a
// retry hint or refuse series, each counted by reason.
//
// Messages arrive as raw bytes and are decoded here, so malformed protobuf is
// counted and answered with a clear status instead of vanishing inside gRPC.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "collector/agent_auth.h"
#include "collector/agent_registry.h"
#include "collector/batch_validator.h"
#include "collector/ingest_limiter.h"
#include "collector/ingest_pipeline.h"
#include "common/clock.h"
#include "common/counters.h"
#include "plumbline/v1/ingest.grpc.pb.h"

namespace plumbline::collector {

struct IngestServiceOptions {
  ValidationLimits limits;
  // Batches one stream may have waiting for storage before the service
  // stops reading from it (HTTP/2 flow control then slows the agent down).
  size_t max_pending_per_stream = 64;
  // Streams one agent id may have open at once (a reconnect overlaps its
  // old stream for a moment); beyond, RESOURCE_EXHAUSTED. 0: no limit.
  int max_streams_per_agent = 4;
  // A serialized IngestRequest above this is refused (counted, explained);
  // gRPC itself drops the stream above twice this.
  size_t max_message_bytes = 16u << 20;
  IngestLimiterOptions limiter;
};

class IngestService final : public v1::Ingest::WithRawCallbackMethod_Stream<v1::Ingest::Service> {
 public:
  IngestService(IngestPipeline* pipeline, Store* store, Counters* counters, AgentRegistry* agents,
                const Clock* clock, IngestServiceOptions options);

  // Agents must then authenticate (certificate or enrollment token) and may
  // write only as the ids their credentials grant. Null: open. Not owned.
  void SetAuthenticator(AgentAuthenticator* auth) { auth_ = auth; }

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Stream(
      grpc::CallbackServerContext* context) override;

  // From now on, batches are answered ACK_RETRY ("collector shutting down").
  void StartDraining() { draining_ = true; }

  // Writes the agent descriptions still waiting, then stops the writer.
  ~IngestService() override;

 private:
  friend class IngestReactor;
  // The agent's description (hello) is stored by a background thread, the
  // newest per agent: a store write (a transaction, an fsync, behind the
  // store's lock) on the gRPC callback thread stalled a fleet's reconnect.
  void RecordAgent(const v1::AgentInfo& info, int64_t now_ms);
  void WriteAgents();

  IngestPipeline* pipeline_;
  Store* store_;
  Counters* counters_;
  AgentRegistry* agents_;
  const Clock* clock_;
  IngestServiceOptions options_;
  AgentAuthenticator* auth_ = nullptr;
  IngestLimiter limiter_;
  std::atomic<bool> draining_{false};
  std::mutex agents_mu_;
  std::condition_variable agents_cv_;
  std::map<std::string, std::pair<v1::AgentInfo, int64_t>> agents_pending_;
  bool agents_stopping_ = false;
  std::thread agent_writer_;  // last: started once the rest is set up
};

}  // namespace plumbline::collector
