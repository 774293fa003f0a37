#include "collector/ingest_service.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <mutex>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace plumbline::collector {

namespace {

using RawReactor = grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>;

// A request parsed into its own arena, whose first block is about twice the
// wire size (the parsed form of a batch takes a little more than that).
struct ArenaRequest {
  explicit ArenaRequest(size_t wire_bytes) : arena(Options(wire_bytes)) {
    request = google::protobuf::Arena::CreateMessage<v1::IngestRequest>(&arena);
  }
  static google::protobuf::ArenaOptions Options(size_t wire_bytes) {
    google::protobuf::ArenaOptions o;
    o.start_block_size = std::clamp<size_t>(2 * wire_bytes + 1024, 4096, 8 << 20);
    o.max_block_size = 8 << 20;
    return o;
  }
  google::protobuf::Arena arena;
  v1::IngestRequest* request = nullptr;
};

// The retry hint for a batch refused because the queue is full: the
// configured retry_after, spread uniformly over [0.5, 1.5) of it. Agents
// pause for the hint; with one fixed value, every agent refused in the same
// burst would come back in the same instant, fill the queue again and leave
// it idle in between, so under overload the collector would store far less
// than it can.
uint32_t JitteredRetryAfterMs(uint32_t retry_after_ms) {
  thread_local std::minstd_rand rng(std::random_device{}());
  std::uniform_int_distribution<uint32_t> spread(
      retry_after_ms / 2, retry_after_ms / 2 + std::max(retry_after_ms, 1u) - 1);
  return spread(rng);
}

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
    if (!Authenticate()) {
      reading_ = false;
      return;
    }
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
    const size_t message_bytes = read_buffer_.Length();
    // Parsed into an arena sized for the message: a batch's hundreds of
    // series, labels and points are carved from a few blocks instead of
    // thousands of heap allocations, and freed at once when the batch is
    // committed (the arena lives as long as the request).
    auto owner = std::make_shared<ArenaRequest>(message_bytes);
    v1::IngestRequest& request = *owner->request;
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
        if (message_bytes > service_->options_.max_message_bytes) {
          service_->counters_->Add("plumbline_ingest_rejected_total", {{"reason", "too_large"}});
          return FinishLocked(grpc::Status(
              grpc::StatusCode::RESOURCE_EXHAUSTED,
              StrCat("hello of ", message_bytes, " bytes exceeds ingest.max_message_size")));
        }
        if (!HandleHello(request.hello())) return;
        break;
      case v1::IngestRequest::kBatch:
        if (message_bytes > service_->options_.max_message_bytes) {
          if (!RefuseOversized(request.batch(), message_bytes)) return;
          break;
        }
        if (!HandleBatch(std::shared_ptr<v1::IngestRequest>(owner, owner->request))) return;
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
  // Decides what this stream may write as; false (stream finished) if its
  // credentials are refused.
  bool Authenticate() {
    AgentAuthenticator* auth = service_->auth_;
    if (auth == nullptr) return true;
    std::string pem, chain, authorization;
    if (std::shared_ptr<const grpc::AuthContext> ctx = context_->auth_context()) {
      for (const grpc::string_ref& v : ctx->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME)) {
        pem.assign(v.data(), v.size());
      }
      for (const grpc::string_ref& v :
           ctx->FindPropertyValues(GRPC_X509_PEM_CERT_CHAIN_PROPERTY_NAME)) {
        chain.append(v.data(), v.size());
      }
    }
    const auto& metadata = context_->client_metadata();
    if (auto it = metadata.find("authorization"); it != metadata.end()) {
      authorization.assign(it->second.data(), it->second.size());
    }
    absl::StatusOr<AgentGrant> grant = auth->Authenticate(pem, chain, authorization);
    if (!grant.ok()) {
      spdlog::warn("ingest from {}: refused: {}", context_->peer(), grant.status().message());
      FinishLocked(
          grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(grant.status().message())));
      return false;
    }
    grant_ = std::move(*grant);
    return true;
  }

  bool RefuseOversized(const v1::Batch& batch, size_t bytes) {
    if (agent_id_.empty()) {
      service_->counters_->Add("plumbline_ingest_rejected_total", {{"reason", "no_hello"}});
      FinishLocked(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                "send hello (AgentInfo) before the first batch"));
      return false;
    }
    service_->counters_->Add("plumbline_ingest_rejected_total", {{"reason", "too_large"}});
    v1::BatchAck ack;
    ack.set_epoch(batch.epoch());
    ack.set_sequence(batch.sequence());
    ack.set_result(v1::ACK_REJECTED);
    ack.set_message(StrCat("batch of ", bytes, " bytes exceeds ingest.max_message_size (",
                           service_->options_.max_message_bytes, " bytes); send smaller batches"));
    EnqueueAckLocked(ack, false);
    return true;
  }

  bool HandleHello(const v1::AgentInfo& info) {
    absl::Status valid = ValidateLabelValue(info.agent_id());
    if (info.agent_id().empty() || !valid.ok()) {
      service_->counters_->Add("plumbline_ingest_rejected_total", {{"reason", "invalid_hello"}});
      FinishLocked(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          StrCat("hello: invalid agent_id: ", valid.ok() ? "empty" : valid.message())));
      return false;
    }
    if (!grant_.Allows(info.agent_id())) {
      service_->counters_->Add("plumbline_ingest_rejected_total", {{"reason", "identity"}});
      std::string allowed = absl::StrJoin(grant_.agent_ids, ", ");
      if (!grant_.id_prefix.empty()) {
        allowed += StrCat(allowed.empty() ? "" : ", ", grant_.id_prefix, "*");
      }
      spdlog::warn("ingest from {}: {} may not write as agent \"{}\"", context_->peer(),
                   grant_.Describe(), info.agent_id());
      FinishLocked(grpc::Status(
          grpc::StatusCode::PERMISSION_DENIED,
          StrCat("hello: agent_id \"", info.agent_id(), "\" is not allowed for ", grant_.Describe(),
                 " (allowed: ", allowed.empty() ? "none" : allowed, ")")));
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
      const int open = service_->agents_->Connected(agent_id_);
      const int limit = service_->options_.max_streams_per_agent;
      if (limit > 0 && open > limit) {
        service_->counters_->Add("plumbline_ingest_rejected_total", {{"reason", "streams"}});
        spdlog::warn("ingest from {}: agent \"{}\" already has {} streams open", context_->peer(),
                     agent_id_, open - 1);
        FinishLocked(grpc::Status(
            grpc::StatusCode::RESOURCE_EXHAUSTED,
            StrCat("agent \"", agent_id_, "\" already has ", open - 1,
                   " streams open (ingest.max_streams_per_agent); close one or retry later")));
        return false;  // OnDone forgets this stream
      }
    }
    service_->RecordAgent(info, service_->clock_->NowMs());
    return true;
  }

  bool HandleBatch(std::shared_ptr<v1::IngestRequest> request) {
    Counters& counters = *service_->counters_;
    if (agent_id_.empty()) {
      counters.Add("plumbline_ingest_rejected_total", {{"reason", "no_hello"}});
      FinishLocked(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                "send hello (AgentInfo) before the first batch"));
      return false;
    }
    const v1::Batch& batch = request->batch();
    if (service_->auth_ != nullptr) {
      // A revoked token or an expired certificate ends an open stream.
      if (absl::Status still = service_->auth_->StillValid(grant_); !still.ok()) {
        spdlog::warn("ingest from agent {}: {}", agent_id_, still.message());
        FinishLocked(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(still.message())));
        return false;
      }
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
    if (uint32_t wait = service_->limiter_.AdmitBatch(agent_id_); wait > 0) {
      counters.Add("plumbline_ingest_throttled_total", {{"reason", "batch_rate"}});
      ack.set_result(v1::ACK_RETRY);
      ack.set_retry_after_ms(wait);
      ack.set_message(StrCat("rate limit: agent \"", agent_id_, "\" sends more than ",
                             service_->options_.limiter.max_batches_per_second,
                             " batches per second (ingest.max_batches_per_second); retry after ",
                             wait, " ms"));
      EnqueueAckLocked(ack, false);
      return true;
    }
    ValidationResult v = ValidateBatch(batch, service_->options_.limits, service_->clock_->NowMs());
    if (!v.batch.ok()) {
      counters.Add("plumbline_ingest_rejected_total", {{"reason", "invalid_batch"}});
      ack.set_result(v1::ACK_REJECTED);
      ack.set_message(std::string(v.batch.message()));
      EnqueueAckLocked(ack, false);
      return true;
    }
    IngestLimiter::SeriesAdmission admission =
        service_->limiter_.AdmitSeries(agent_id_, batch, v.valid_series);
    if (admission.retry_after_ms > 0) {
      counters.Add("plumbline_ingest_throttled_total", {{"reason", "new_series"}});
      ack.set_result(v1::ACK_RETRY);
      ack.set_retry_after_ms(admission.retry_after_ms);
      ack.set_message(StrCat("cardinality guard: agent \"", agent_id_, "\" introduces more than ",
                             service_->options_.limiter.max_new_series_per_minute,
                             " new series per minute (ingest.max_new_series_per_minute); retry "
                             "after ",
                             admission.retry_after_ms, " ms"));
      EnqueueAckLocked(ack, false);
      return true;
    }
    if (!admission.refused.empty()) {
      std::vector<int> kept;
      kept.reserve(v.valid_series.size() - admission.refused.size());
      size_t r = 0;
      for (size_t i = 0; i < v.valid_series.size(); ++i) {
        if (r < admission.refused.size() && admission.refused[r] == i) {
          ++r;
          continue;
        }
        kept.push_back(v.valid_series[i]);
      }
      v.valid_series = std::move(kept);
      const auto refused = static_cast<uint32_t>(admission.refused.size());
      v.rejected_series += refused;
      v.reasons.emplace_back("cardinality", refused);
      v.errors.push_back(StrCat(refused, " new series: agent \"", agent_id_,
                                "\" exceeds ingest.max_new_series_per_minute (",
                                service_->options_.limiter.max_new_series_per_minute, ")"));
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
      ack.set_retry_after_ms(JitteredRetryAfterMs(service_->pipeline_->options().retry_after_ms));
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
  AgentGrant grant_;    // what this stream may write as
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
      options_(options),
      limiter_(options.limiter, clock),
      agent_writer_([this] { WriteAgents(); }) {}

IngestService::~IngestService() {
  {
    std::lock_guard lock(agents_mu_);
    agents_stopping_ = true;
  }
  agents_cv_.notify_all();
  agent_writer_.join();
}

void IngestService::RecordAgent(const v1::AgentInfo& info, int64_t now_ms) {
  {
    std::lock_guard lock(agents_mu_);
    agents_pending_[info.agent_id()] = {info, now_ms};
  }
  agents_cv_.notify_one();
}

void IngestService::WriteAgents() {
  std::unique_lock lock(agents_mu_);
  for (;;) {
    agents_cv_.wait(lock, [&] { return agents_stopping_ || !agents_pending_.empty(); });
    if (agents_pending_.empty()) return;  // stopping, nothing left
    auto pending = std::move(agents_pending_);
    agents_pending_.clear();
    lock.unlock();
    std::vector<AgentSighting> agents;
    agents.reserve(pending.size());
    for (auto& entry : pending) {
      agents.push_back({std::move(entry.second.first), entry.second.second});
    }
    absl::Status stored = store_->UpsertAgents(agents);
    if (!stored.ok()) {
      spdlog::error("recording {} agent(s) ({}...): {}", agents.size(),
                    agents.front().info.agent_id(), stored.message());
    }
    lock.lock();
  }
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* IngestService::Stream(
    grpc::CallbackServerContext* context) {
  return new IngestReactor(this, context);
}

}  // namespace plumbline::collector
