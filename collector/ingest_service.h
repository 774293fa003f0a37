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

 private:
  friend class IngestReactor;
  IngestPipeline* pipeline_;
  Store* store_;
  Counters* counters_;
  AgentRegistry* agents_;
  const Clock* clock_;
  IngestServiceOptions options_;
  AgentAuthenticator* auth_ = nullptr;
  IngestLimiter limiter_;
  std::atomic<bool> draining_{false};
};

}  // namespace plumbline::collector
