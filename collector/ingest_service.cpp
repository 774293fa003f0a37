#include "collector/ingest_service.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <deque>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace plumbline::collector {

namespace {

using RawReactor = grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>;

}  // namespace

// One agent stream. Reads are paused while too many of its batches wait for
// storage; acks are written one at a time in completion order.
//
// Lifetime: gRPC deletes nothing; OnDone deletes the reactor. Pipeline
// callbacks may outlive it, so they reach it only through `Shared`, whose
// pointer OnDone clears under the same mutex.
class IngestReactor final : public RawReactor {
 public:
  struct Shared {
    std::mutex mu;
    IngestReactor* reactor = nullptr;
  };

  IngestReactor(IngestService* service, grpc::CallbackServerContext* context)
      : service_(service), context_(context), shared_(std::make_shared<Shared>()) {
    shared_->reactor = this;
    service_->counters_->Add("plumbline_ingest_streams_total");
    StartRead(&read_buffer_);
  }

  void OnReadDone(bool ok) override {
    std::lock_guard lock(shared_->mu);
    reading_ = false;
    if (finished_) return;
    if (!ok) {
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    v1::IngestRequest request;
    grpc::Status decoded =
        grpc::SerializationTraits<v1::IngestRequest>::Deserialize(&read_buffer_, &request);
    if (!decoded.ok()) {
      service_->counters_->Add("plumbline_ingest_decode_errors_total");
      spdlog::warn("ingest from {}: malformed message: {}", context_->peer(),
                   decoded.error_message());
      return FinishLocked(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                       "malformed IngestRequest: not a valid protobuf message"));
    }
    switch (request.kind_case()) {
      case v1::IngestRequest::kHello:
        if (!HandleHello(request.hello())) return;
        break;
      case v1::IngestRequest::kBatch:
        if (!HandleBatch(std::make_shared<v1::IngestRequest>(std::move(request)))) return;
        break;
      default:
        service_->counters_->Add("plumbline_ingest_decode_errors_total");
        return FinishLocked(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                         "IngestRequest carries neither hello nor batch"));
    }
    MaybeReadLocked();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(shared_->mu);
    writing_ = false;
    if (!writes_.empty()) writes_.pop_front();
    if (finished_) return;
    if (!ok) {
      return FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
    }
    StartNextWriteLocked();
    MaybeFinishLocked();
  }

  void OnCancel() override {
    std::lock_guard lock(shared_->mu);
    if (!finished_) FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    if (!agent_id_.empty()) service_->agents_->Disconnected(agent_id_);
    {
      std::lock_guard lock(shared_->mu);
      shared_->reactor = nullptr;
    }
    delete this;
  }

 private:
  bool HandleHello(const v1::AgentInfo& info) {
    absl::Status valid = ValidateLabelValue(info.agent_id());
    if (info.agent_id().empty() || !valid.ok()) {
      service_->counters_->Add("plumbline_ingest_rejected_total", {{"reason", "invalid_hello"}});
      FinishLocked(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          StrCat("hello: invalid agent_id: ", valid.ok() ? "empty" : valid.message())));
      return false;
    }
    if (!agent_id_.empty() && agent_id_ != info.agent_id()) {
      service_->counters_->Add("plumbline_ingest_rejected_total", {{"reason", "identity"}});
      FinishLocked(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                "hello: agent_id cannot change within a stream"));
      return false;
    }
    if (agent_id_.empty()) {
      agent_id_ = info.agent_id();
      service_->agents_->Connected(agent_id_);
    }
    absl::Status stored = service_->store_->UpsertAgent(info, service_->clock_->NowMs());
    if (!stored.ok()) spdlog::error("recording agent {}: {}", agent_id_, stored.message());
    return true;
  }

  bool HandleBatch(std::shared_ptr<v1::IngestRequest> request) {
    const v1::Batch& batch = request->batch();
    Counters& counters = *service_->counters_;
    if (agent_id_.empty()) {
      counters.Add("plumbline_ingest_rejected_total", {{"reason", "no_hello"}});
      FinishLocked(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                "send hello (AgentInfo) before the first batch"));
      return false;
    }
    v1::BatchAck ack;
    ack.set_epoch(batch.epoch());
    ack.set_sequence(batch.sequence());
    if (batch.agent_id() != agent_id_) {
      counters.Add("plumbline_ingest_rejected_total", {{"reason", "identity"}});
      ack.set_result(v1::ACK_REJECTED);
      ack.set_message(StrCat("batch for agent \"", batch.agent_id(), "\" on the stream of agent \"",
                             agent_id_, "\": an agent may write only as itself"));
      EnqueueAckLocked(ack, false);
      return true;
    }
    if (service_->draining_) {
      counters.Add("plumbline_ingest_batches_total", {{"result", "retry"}});
      ack.set_result(v1::ACK_RETRY);
      ack.set_retry_after_ms(1000);
      ack.set_message("collector shutting down");
      EnqueueAckLocked(ack, false);
      return true;
    }
    ValidationResult v = ValidateBatch(batch, service_->options_.limits);
    if (!v.batch.ok()) {
      counters.Add("plumbline_ingest_rejected_total", {{"reason", "invalid_batch"}});
      ack.set_result(v1::ACK_REJECTED);
      ack.set_message(std::string(v.batch.message()));
      EnqueueAckLocked(ack, false);
      return true;
    }
    IngestItem item;
    item.request = std::move(request);
    item.series = std::move(v.valid_series);
    item.rejected_series = v.rejected_series;
    item.rejected_reasons = std::move(v.reasons);
    if (!v.errors.empty()) {
      item.message = StrCat(v.rejected_series, " series refused: ", absl::StrJoin(v.errors, "; "));
    }
    std::weak_ptr<Shared> weak = shared_;
    item.done = [weak](const v1::BatchAck& done_ack) {
      std::shared_ptr<Shared> shared = weak.lock();
      if (!shared) return;
      std::lock_guard lock(shared->mu);
      if (shared->reactor != nullptr) shared->reactor->EnqueueAckLocked(done_ack, true);
    };
    ++pending_;
    if (!service_->pipeline_->Submit(std::move(item))) {
      --pending_;
      counters.Add("plumbline_ingest_batches_total", {{"result", "retry"}});
      counters.Add("plumbline_ingest_backpressure_total");
      ack.set_result(v1::ACK_RETRY);
      ack.set_retry_after_ms(service_->pipeline_->options().retry_after_ms);
      ack.set_message("collector busy: ingest queue full");
      EnqueueAckLocked(ack, false);
    }
    return true;
  }

  void EnqueueAckLocked(const v1::BatchAck& ack, bool from_pipeline) {
    if (from_pipeline) --pending_;
    if (finished_) return;
    v1::IngestResponse response;
    *response.mutable_ack() = ack;
    grpc::ByteBuffer buffer;
    bool own = false;
    grpc::Status s =
        grpc::SerializationTraits<v1::IngestResponse>::Serialize(response, &buffer, &own);
    if (!s.ok()) return FinishLocked(s);
    writes_.push_back(std::move(buffer));
    StartNextWriteLocked();
    MaybeReadLocked();
  }

  void StartNextWriteLocked() {
    if (writing_ || writes_.empty() || finished_) return;
    writing_ = true;
    StartWrite(&writes_.front());
  }

  void MaybeReadLocked() {
    if (reading_ || reads_done_ || finished_) return;
    if (pending_ >= service_->options_.max_pending_per_stream) return;  // resumes on ack
    reading_ = true;
    StartRead(&read_buffer_);
  }

  void MaybeFinishLocked() {
    if (reads_done_ && pending_ == 0 && writes_.empty() && !writing_ && !finished_) {
      FinishLocked(grpc::Status::OK);
    }
  }

  void FinishLocked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  IngestService* service_;
  grpc::CallbackServerContext* context_;
  std::shared_ptr<Shared> shared_;
  grpc::ByteBuffer read_buffer_;
  std::deque<grpc::ByteBuffer> writes_;  // front is being written
  std::string agent_id_;
  size_t pending_ = 0;  // batches submitted, not yet answered
  bool reading_ = true;
  bool reads_done_ = false;
  bool writing_ = false;
  bool finished_ = false;
};

IngestService::IngestService(IngestPipeline* pipeline, Store* store, Counters* counters,
                             AgentRegistry* agents, const Clock* clock,
                             IngestServiceOptions options)
    : pipeline_(pipeline),
      store_(store),
      counters_(counters),
      agents_(agents),
      clock_(clock),
      options_(options) {}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* IngestService::Stream(
    grpc::CallbackServerContext* context) {
  return new IngestReactor(this, context);
}

}  // namespace plumbline::collector
