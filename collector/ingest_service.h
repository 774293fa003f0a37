// The Ingest gRPC service: one bidirectional stream per agent, many batches
// in flight, each answered with a BatchAck once durably stored.
//
// Messages arrive as raw bytes and are decoded here, so malformed protobuf is
// counted and answered with a clear status instead of vanishing inside gRPC.
#pragma once

#include <atomic>

#include "collector/agent_registry.h"
#include "collector/batch_validator.h"
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
};

class IngestService final : public v1::Ingest::WithRawCallbackMethod_Stream<v1::Ingest::Service> {
 public:
  IngestService(IngestPipeline* pipeline, Store* store, Counters* counters, AgentRegistry* agents,
                const Clock* clock, IngestServiceOptions options);

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
  std::atomic<bool> draining_{false};
};

}  // namespace plumbline::collector
