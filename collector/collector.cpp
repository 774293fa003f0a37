#include "collector/collector.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "collector/store/sqlite_store.h"

namespace plumbline::collector {

Collector::Collector(CollectorConfig config) : config_(std::move(config)) {}

Collector::~Collector() { Stop(); }

absl::StatusOr<std::string> Collector::Start() {
  ASSIGN_OR_RETURN(store_, SqliteStore::Open(config_.storage.path,
                                             config_.storage.relaxed_durability
                                                 ? Durability::kRelaxed
                                                 : Durability::kFull));
  const Clock* clock = &SystemClock::Instance();
  PipelineOptions pipeline;
  pipeline.max_queued_batches = static_cast<size_t>(config_.ingest.max_queued_batches);
  pipeline.max_group_batches = static_cast<size_t>(config_.ingest.max_group_batches);
  pipeline.retry_after_ms = static_cast<uint32_t>(config_.ingest.retry_after.count());
  pipeline_ = std::make_unique<IngestPipeline>(store_.get(), &counters_, clock, pipeline);

  IngestServiceOptions ingest;
  ingest.limits.max_series_per_batch = static_cast<int>(config_.ingest.max_series_per_batch);
  ingest.max_pending_per_stream = static_cast<size_t>(config_.ingest.max_pending_per_stream);
  ingest_ = std::make_unique<IngestService>(pipeline_.get(), store_.get(), &counters_, &agents_,
                                            clock, ingest);
  query_ = std::make_unique<QueryService>(store_.get(), &counters_, &agents_, clock);

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config_.listen, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config_.ingest.max_message_bytes));
  builder.RegisterService(ingest_.get());
  builder.RegisterService(query_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    return absl::UnavailableError(StrCat("cannot listen on ", config_.listen));
  }
  std::string host = config_.listen.substr(0, config_.listen.rfind(':'));
  return StrCat(host, ":", port);
}

void Collector::Stop() {
  if (server_ == nullptr) return;
  ingest_->StartDraining();
  pipeline_->Stop();  // commits and answers everything already queued
  server_->Shutdown(std::chrono::system_clock::now() + config_.shutdown_grace);
  server_->Wait();
  server_.reset();
  ingest_.reset();
  query_.reset();
  pipeline_.reset();
  store_.reset();
}

}  // namespace plumbline::collector
