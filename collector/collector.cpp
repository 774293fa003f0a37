#include "collector/collector.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "collector/store/postgres_store.h"
#include "collector/store/sqlite_store.h"

namespace plumbline::collector {

Collector::Collector(CollectorConfig config) : config_(std::move(config)) {}

Collector::~Collector() { Stop(); }

absl::Status Collector::ReloadCatalog() {
  if (config_.catalog.empty()) return absl::OkStatus();
  absl::Status s = catalog_.Reload(config_.catalog);
  counters_.Add("plumbline_catalog_reloads_total", {{"result", s.ok() ? "ok" : "error"}});
  counters_.Set("plumbline_catalog_last_reload_ok", {}, s.ok() ? 1 : 0);
  return s;
}

absl::StatusOr<std::string> Collector::Start() {
  if (!config_.catalog.empty()) {
    absl::StatusOr<Catalog> catalog = LoadCatalog(config_.catalog);
    if (!catalog.ok()) return catalog.status();
    catalog_.Set(std::move(*catalog));
    counters_.Set("plumbline_catalog_last_reload_ok", {}, 1);
  }
  const Durability durability =
      config_.storage.relaxed_durability ? Durability::kRelaxed : Durability::kFull;
  if (config_.storage.backend == CollectorConfig::Storage::Backend::kPostgres) {
    ASSIGN_OR_RETURN(store_, PostgresStore::Open(config_.storage.dsn, durability));
  } else {
    ASSIGN_OR_RETURN(store_, SqliteStore::Open(config_.storage.path, durability));
  }
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
  std::vector<TokenEntry> tokens;
  for (const CollectorConfig::Token& t : config_.tokens) {
    ASSIGN_OR_RETURN(Role role, ParseRole(t.role));
    ASSIGN_OR_RETURN(auto digest, ParseSha256(t.sha256));
    tokens.push_back({t.name, role, digest});
  }
  if (tokens.empty()) {
    spdlog::warn(
        "no auth.tokens configured: the query API (gRPC and HTTP) is open to anyone "
        "who can reach it");
  }
  auth_ = std::make_unique<Authorizer>(std::move(tokens), &counters_);
  query_ = std::make_unique<QueryService>(store_.get(), &counters_, &agents_, clock, &catalog_);
  query_->SetAuthorizer(auth_.get());
  query_->SetIncidentOptions({static_cast<int>(config_.incidents.open_after.count() / 60000),
                              static_cast<int>(config_.incidents.close_after.count() / 60000)});

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
  if (!config_.http_listen.empty()) {
    http_ = std::make_unique<HttpServer>(server_->InProcessChannel(grpc::ChannelArguments()),
                                         &counters_, [this] {
                                           std::lock_guard lock(maintenance_mu_);
                                           return !stopping_;
                                         });
    absl::StatusOr<int> http_port = http_->Start(config_.http_listen);
    if (!http_port.ok()) {
      server_->Shutdown();
      server_.reset();
      return http_port.status();
    }
    http_port_ = *http_port;
  }
  maintenance_ = std::thread([this] { MaintenanceLoop(); });
  std::string host = config_.listen.substr(0, config_.listen.rfind(':'));
  return StrCat(host, ":", port);
}

void Collector::MaintenanceLoop() {
  RetentionPolicy retention;
  retention.raw_ms = config_.storage.raw_retention.count();
  retention.minute_ms = config_.storage.minute_retention.count();
  retention.hour_ms = config_.storage.hour_retention.count();
  std::unique_lock lock(maintenance_mu_);
  while (!stopping_) {
    lock.unlock();
    auto started = std::chrono::steady_clock::now();
    absl::StatusOr<MaintenanceReport> report =
        store_->RunMaintenance(SystemClock::Instance().NowMs(), retention);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    counters_.Add("plumbline_store_maintenance_runs_total");
    counters_.Add("plumbline_store_maintenance_seconds_total", {}, seconds);
    if (!report.ok()) {
      counters_.Add("plumbline_store_maintenance_errors_total");
      spdlog::error("store maintenance: {}", report.status().message());
    } else {
      counters_.Add("plumbline_store_rollup_minutes_total", {},
                    static_cast<double>(report->minutes_rolled_up));
      counters_.Add("plumbline_store_late_minutes_recomputed_total", {},
                    static_cast<double>(report->late_minutes_recomputed));
      counters_.Add("plumbline_store_retention_deleted_total", {{"kind", "raw"}},
                    static_cast<double>(report->raw_deleted));
      counters_.Add("plumbline_store_retention_deleted_total", {{"kind", "rollup"}},
                    static_cast<double>(report->rollups_deleted));
    }
    // A backlog (a backfilled or restored history) is worked off in steps
    // with short pauses for ingest and queries, not one step per interval.
    const bool more = report.ok() && report->more;
    lock.lock();
    maintenance_cv_.wait_for(lock,
                             more ? std::chrono::milliseconds(50)
                                  : std::chrono::milliseconds(config_.storage.maintenance_interval),
                             [this] { return stopping_; });
  }
}

void Collector::Stop() {
  if (server_ == nullptr) return;
  {
    std::lock_guard lock(maintenance_mu_);
    stopping_ = true;
  }
  maintenance_cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
  if (http_ != nullptr) http_->Stop();  // its calls go through server_
  ingest_->StartDraining();
  pipeline_->Stop();  // commits and answers everything already queued
  server_->Shutdown(std::chrono::system_clock::now() + config_.shutdown_grace);
  server_->Wait();
  server_.reset();
  ingest_.reset();
  http_.reset();
  query_.reset();
  auth_.reset();
  pipeline_.reset();
  store_.reset();
}

}  // namespace plumbline::collector
