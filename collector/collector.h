// Wires the collector's parts: store, ingest pipeline, gRPC services.
#pragma once

#include <grpcpp/server.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "collector/agent_auth.h"
#include "collector/agent_registry.h"
#include "collector/catalog/catalog_holder.h"
#include "collector/config.h"
#include "collector/http_server.h"
#include "collector/ingest_pipeline.h"
#include "collector/ingest_service.h"
#include "collector/query_service.h"
#include "collector/store/store.h"
#include "common/counters.h"

namespace plumbline::collector {

class Collector {
 public:
  explicit Collector(CollectorConfig config);
  ~Collector();

  // Opens the store and starts serving. Returns the bound gRPC address.
  absl::StatusOr<std::string> Start();
  // Graceful stop: new batches get ACK_RETRY, queued ones are committed and
  // answered, then streams are closed and the store is closed.
  void Stop();
  // The bound HTTP port (0: no HTTP server).
  int http_port() const { return http_port_; }
  // Re-reads the catalog file; on error the running catalog stays in force.
  absl::Status ReloadCatalog();
  // Replaces the agents' enrollment tokens and revocation list (SIGHUP);
  // open streams whose token is gone end at their next batch.
  absl::Status ReloadEnrollment(const CollectorConfig::Enrollment& enrollment);

 private:
  void MaintenanceLoop();

  CollectorConfig config_;
  Counters counters_;
  AgentRegistry agents_;
  CatalogHolder catalog_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<IngestPipeline> pipeline_;
  std::unique_ptr<AgentAuthenticator> agent_auth_;
  std::unique_ptr<IngestService> ingest_;
  std::unique_ptr<Authorizer> auth_;
  std::unique_ptr<QueryService> query_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpServer> http_;
  int http_port_ = 0;
  // Rollups and retention, every storage.maintenance_interval.
  std::thread maintenance_;
  std::mutex maintenance_mu_;
  std::condition_variable maintenance_cv_;
  bool stopping_ = false;
};

}  // namespace plumbline::collector
