#include "collector/collector.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "collector/engine/report.h"
#include "collector/store/postgres_store.h"
#include "collector/store/sqlite_store.h"
#include "common/net.h"

namespace plumbline::collector {

namespace {

absl::StatusOr<std::vector<EnrollmentEntry>> EnrollmentEntries(
    const CollectorConfig::Enrollment& enrollment) {
  std::vector<EnrollmentEntry> out;
  for (const CollectorConfig::EnrollmentToken& t : enrollment.tokens) {
    ASSIGN_OR_RETURN(auto digest, ParseSha256(t.sha256));
    out.push_back({t.name, digest, t.agent_id, t.id_prefix});
  }
  return out;
}

absl::StatusOr<std::vector<std::array<uint8_t, 32>>> Revoked(
    const CollectorConfig::Enrollment& enrollment) {
  std::vector<std::array<uint8_t, 32>> out;
  for (const std::string& r : enrollment.revoked) {
    ASSIGN_OR_RETURN(auto digest, ParseSha256(r));
    out.push_back(digest);
  }
  return out;
}

// The gRPC port's credentials. With TLS, the collector's certificate and key
// are watched for changes (rotation without restart). A client certificate
// is requested but checked by AgentAuthenticator, not the handshake, so
// refusals carry a reason and a counter (collector/agent_auth.h).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const CollectorConfig::Tls& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  for (const std::string& file : {tls.cert, tls.key}) {
    if (!std::ifstream(file)) return absl::NotFoundError(StrCat("tls: cannot read ", file));
  }
  const auto interval_s =
      static_cast<unsigned int>(std::max<int64_t>(1, tls.reload_interval.count() / 1000));
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      tls.key, tls.cert, interval_s);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(tls.client_ca.empty()
                                    ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                    : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace

Collector::Collector(CollectorConfig config) : config_(std::move(config)) {}

absl::Status Collector::ReloadEnrollment(const CollectorConfig::Enrollment& enrollment) {
  if (agent_auth_ == nullptr) return absl::FailedPreconditionError("collector not started");
  ASSIGN_OR_RETURN(auto tokens, EnrollmentEntries(enrollment));
  ASSIGN_OR_RETURN(auto revoked, Revoked(enrollment));
  if (tokens.empty() && !config_.enrollment.tokens.empty() && !config_.tls.require_client_cert) {
    // Removing the last token would open ingest to anyone; refuse.
    return absl::FailedPreconditionError(
        "enrollment: removing every token would let any agent write without credentials; "
        "restart the collector to turn enrollment off");
  }
  agent_auth_->SetEnrollment(std::move(tokens), std::move(revoked));
  counters_.Set("plumbline_ingest_enrollment_tokens", {},
                static_cast<double>(enrollment.tokens.size()));
  return absl::OkStatus();
}

Collector::~Collector() { Stop(); }

absl::Status Collector::ReloadCatalog() {
  if (config_.catalog.empty()) return absl::OkStatus();
  absl::Status s = catalog_.Reload(config_.catalog);
  counters_.Add("plumbline_catalog_reloads_total", {{"result", s.ok() ? "ok" : "error"}});
  counters_.Set("plumbline_catalog_last_reload_ok", {}, s.ok() ? 1 : 0);
  return s;
}

absl::StatusOr<std::string> Collector::Start() {
  if (!config_.tls.enabled() && !config_.tls.plaintext) {
    // Plaintext off this host only when asked for explicitly.
    for (const std::string& address : {config_.listen, config_.http_listen}) {
      if (address.empty() || IsLoopbackAddress(address)) continue;
      return absl::FailedPreconditionError(StrCat(
          "listen address ", address,
          " is reachable from the network and no tls is configured: set tls.cert and tls.key "
          "(docs/security.md), or tls.plaintext: true to serve plaintext on a trusted network"));
    }
  }
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
    ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> sqlite,
                     SqliteStore::Open(config_.storage.path, durability));
    sqlite->SetMinuteRollupStep(config_.storage.minute_rollup_step.count());
    sqlite->SetQueryRollups(config_.storage.query_rollups);
    store_ = std::move(sqlite);
  }
  const Clock* clock = &SystemClock::Instance();
  PipelineOptions pipeline;
  pipeline.max_queued_batches = static_cast<size_t>(config_.ingest.max_queued_batches);
  pipeline.max_group_batches = static_cast<size_t>(config_.ingest.max_group_batches);
  pipeline.retry_after_ms = static_cast<uint32_t>(config_.ingest.retry_after.count());
  pipeline_ = std::make_unique<IngestPipeline>(store_.get(), &counters_, clock, pipeline);

  IngestServiceOptions ingest;
  ingest.limits.max_series_per_batch = static_cast<int>(config_.ingest.max_series_per_batch);
  ingest.limits.max_future_skew_ms = config_.ingest.max_future_skew.count();
  ingest.limits.max_sample_age_ms = config_.ingest.max_sample_age.count();
  ingest.max_pending_per_stream = static_cast<size_t>(config_.ingest.max_pending_per_stream);
  ingest.max_streams_per_agent = static_cast<int>(config_.ingest.max_streams_per_agent);
  ingest.max_message_bytes = static_cast<size_t>(config_.ingest.max_message_bytes);
  ingest.limiter.max_batches_per_second = config_.ingest.max_batches_per_second;
  ingest.limiter.max_new_series_per_minute = config_.ingest.max_new_series_per_minute;
  ingest_ = std::make_unique<IngestService>(pipeline_.get(), store_.get(), &counters_, &agents_,
                                            clock, ingest);

  AgentAuthOptions agent_auth;
  agent_auth.client_ca = config_.tls.client_ca;
  agent_auth.require_client_cert = config_.tls.require_client_cert;
  ASSIGN_OR_RETURN(agent_auth.tokens, EnrollmentEntries(config_.enrollment));
  ASSIGN_OR_RETURN(agent_auth.revoked, Revoked(config_.enrollment));
  const bool agents_authenticate = agent_auth.require_client_cert || !agent_auth.tokens.empty();
  counters_.Set("plumbline_ingest_enrollment_tokens", {},
                static_cast<double>(agent_auth.tokens.size()));
  agent_auth_ = std::make_unique<AgentAuthenticator>(std::move(agent_auth), &counters_, clock);
  RETURN_IF_ERROR(agent_auth_->Init());
  ingest_->SetAuthenticator(agent_auth_.get());
  if (!config_.tls.enabled()) {
    spdlog::warn(
        "SECURITY: no tls configured: agents and query clients talk to {} in PLAINTEXT; anyone "
        "on the network path can read measurements and bearer tokens and inject data. "
        "Configure tls (docs/security.md) for anything but a loopback test.",
        config_.listen);
  }
  if (!agents_authenticate) {
    spdlog::warn(
        "SECURITY: agents are not authenticated (no tls.require_client_cert, no enrollment "
        "tokens): anyone who reaches {} can write measurements as any agent id.",
        config_.listen);
  }
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

  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                   ServerCredentials(config_.tls));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config_.listen, credentials, &port);
  // Up to twice the limit reaches the ingest service, which refuses it with
  // a reason and a counter; beyond that gRPC ends the stream itself.
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<uint64_t>(2 * config_.ingest.max_message_bytes, 1ull << 30)));
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
    absl::StatusOr<int> http_port =
        http_->Start(config_.http_listen, config_.tls.cert, config_.tls.key);
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
  constexpr int64_t kDayMs = 24LL * 3600 * 1000;
  std::optional<std::chrono::steady_clock::time_point> last_warm;  // none yet
  std::optional<std::chrono::steady_clock::time_point> last_trim;  // none yet
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
      counters_.Add("plumbline_store_minute_rollups_total", {},
                    static_cast<double>(report->minutes_rolled_up));
      counters_.Add("plumbline_store_late_minute_rollups_recomputed_total", {},
                    static_cast<double>(report->late_minutes_recomputed));
      counters_.Add("plumbline_store_retention_deleted_total", {{"kind", "raw"}},
                    static_cast<double>(report->raw_deleted));
      counters_.Add("plumbline_store_retention_deleted_total", {{"kind", "rollup"}},
                    static_cast<double>(report->rollups_deleted));
      counters_.Add("plumbline_store_raw_windows_compacted_total", {},
                    static_cast<double>(report->windows_compacted));
      counters_.Set("plumbline_store_wal_frames_pending", {},
                    static_cast<double>(report->wal_frames_left));
      counters_.Add("plumbline_store_corrupt_blocks_total", {},
                    static_cast<double>(report->corrupt_blocks));
      if (report->corrupt_blocks > 0) {
        spdlog::error(
            "store: {} damaged raw sample block(s) found; their samples up to the damage are "
            "kept, the rest is skipped",
            report->corrupt_blocks);
      }
    }
    // The default service report (the last 30 whole days), computed in the
    // background so that the days it needs are kept before anyone asks,
    // and computed again as data changes them (late data, a new day).
    const auto steady = std::chrono::steady_clock::now();
    const int64_t now_ms = SystemClock::Instance().NowMs();
    if (config_.storage.report_warm_interval.count() > 0 && report.ok() && !report->more &&
        (!last_warm || steady - *last_warm >= config_.storage.report_warm_interval) &&
        store_->DayVersion(FloorTo(now_ms, kDayMs) - kDayMs).has_value()) {
      last_warm = steady;
      const int64_t to = FloorTo(now_ms, kDayMs);
      absl::StatusOr<ServiceReport> warm =
          EvaluateServiceReport(*store_, *catalog_.Get(), {to - 30 * kDayMs, to}, now_ms, "");
      if (!warm.ok())
        spdlog::debug("service report in the background: {}", warm.status().message());
    }
    // Memory that roll-up steps, window merges and group commits freed goes
    // back to the system: glibc keeps freed memory in each thread's arena
    // (10,000 agents: RSS stepped from 685 to 969 MiB at a maintenance
    // burst and stayed; malloc_trim gave back 304 MiB of it).
    if (!last_trim || steady - *last_trim >= std::chrono::minutes(1)) {
      last_trim = steady;
      const auto trim_start = std::chrono::steady_clock::now();
      malloc_trim(0);
      counters_.Add("plumbline_collector_memory_trims_total");
      counters_.Add(
          "plumbline_collector_memory_trim_seconds_total", {},
          std::chrono::duration<double>(std::chrono::steady_clock::now() - trim_start).count());
    }
    const DayCacheStats cache = store_->day_cache().Stats();
    counters_.Set("plumbline_query_day_cache_hits_total", {}, static_cast<double>(cache.hits));
    counters_.Set("plumbline_query_day_cache_misses_total", {}, static_cast<double>(cache.misses));
    counters_.Set("plumbline_query_day_cache_entries", {}, static_cast<double>(cache.entries));
    counters_.Set("plumbline_query_day_cache_bytes", {}, static_cast<double>(cache.bytes));
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
  agent_auth_.reset();
  http_.reset();
  query_.reset();
  auth_.reset();
  pipeline_.reset();
  store_.reset();
}

}  // namespace plumbline::collector
