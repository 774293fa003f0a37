// The Query gRPC service: what clients (plumb, dashboards, scripts) ask.
#pragma once

#include "collector/agent_registry.h"
#include "collector/auth.h"
#include "collector/catalog/catalog_holder.h"
#include "collector/engine/incidents.h"
#include "collector/store/store.h"
#include "common/clock.h"
#include "common/counters.h"
#include "plumbline/v1/query.grpc.pb.h"

namespace plumbline::collector {

// The window a cost question asks for: a calendar month (YYYY-MM), or
// [from, to) with to 0 for now, at most 92 days. Without from, the
// `default_days` before to; with neither from nor to, the `default_days`
// whole UTC days before today's midnight. default_days 0: from is required.
// Errors are InvalidArgument, their messages for the caller.
absl::StatusOr<TimeRange> RequestedWindow(const std::string& month, int64_t from_ms, int64_t to_ms,
                                          int64_t now_ms, int default_days);

class QueryService final : public v1::Query::CallbackService {
 public:
  QueryService(Store* store, Counters* counters, AgentRegistry* agents, const Clock* clock,
               const CatalogHolder* catalog)
      : store_(store), counters_(counters), agents_(agents), clock_(clock), catalog_(catalog) {}

  grpc::ServerUnaryReactor* ListServices(grpc::CallbackServerContext* context,
                                         const v1::ListServicesRequest* request,
                                         v1::ListServicesResponse* response) override;
  grpc::ServerUnaryReactor* GetSloStatus(grpc::CallbackServerContext* context,
                                         const v1::GetSloStatusRequest* request,
                                         v1::GetSloStatusResponse* response) override;
  grpc::ServerUnaryReactor* GetSliSeries(grpc::CallbackServerContext* context,
                                         const v1::GetSliSeriesRequest* request,
                                         v1::GetSliSeriesResponse* response) override;

  grpc::ServerUnaryReactor* GetHealth(grpc::CallbackServerContext* context,
                                      const v1::GetHealthRequest* request,
                                      v1::GetHealthResponse* response) override;
  grpc::ServerUnaryReactor* ListIncidents(grpc::CallbackServerContext* context,
                                          const v1::ListIncidentsRequest* request,
                                          v1::ListIncidentsResponse* response) override;
  grpc::ServerUnaryReactor* DeclareIncident(grpc::CallbackServerContext* context,
                                            const v1::DeclareIncidentRequest* request,
                                            v1::DeclareIncidentResponse* response) override;
  grpc::ServerUnaryReactor* GetIncident(grpc::CallbackServerContext* context,
                                        const v1::GetIncidentRequest* request,
                                        v1::GetIncidentResponse* response) override;
  grpc::ServerUnaryReactor* CloseIncident(grpc::CallbackServerContext* context,
                                          const v1::CloseIncidentRequest* request,
                                          v1::CloseIncidentResponse* response) override;
  grpc::ServerUnaryReactor* AnnotateIncident(grpc::CallbackServerContext* context,
                                             const v1::AnnotateIncidentRequest* request,
                                             v1::AnnotateIncidentResponse* response) override;
  grpc::ServerUnaryReactor* GetImpact(grpc::CallbackServerContext* context,
                                      const v1::GetImpactRequest* request,
                                      v1::GetImpactResponse* response) override;

  grpc::ServerUnaryReactor* GetChargeback(grpc::CallbackServerContext* context,
                                          const v1::GetChargebackRequest* request,
                                          v1::GetChargebackResponse* response) override;
  grpc::ServerUnaryReactor* GetServiceReport(grpc::CallbackServerContext* context,
                                             const v1::GetServiceReportRequest* request,
                                             v1::GetServiceReportResponse* response) override;

  grpc::ServerUnaryReactor* GetMaturity(grpc::CallbackServerContext* context,
                                        const v1::GetMaturityRequest* request,
                                        v1::GetMaturityResponse* response) override;

  grpc::ServerUnaryReactor* GetCapacity(grpc::CallbackServerContext* context,
                                        const v1::GetCapacityRequest* request,
                                        v1::GetCapacityResponse* response) override;

  grpc::ServerUnaryReactor* ListAgents(grpc::CallbackServerContext* context,
                                       const v1::ListAgentsRequest* request,
                                       v1::ListAgentsResponse* response) override;
  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* context,
                                     const v1::GetStatsRequest* request,
                                     v1::GetStatsResponse* response) override;
  grpc::ServerUnaryReactor* QuerySeries(grpc::CallbackServerContext* context,
                                        const v1::QuerySeriesRequest* request,
                                        v1::QuerySeriesResponse* response) override;

  // Who may call what; set before serving (null: open).
  void SetAuthorizer(const Authorizer* auth) { auth_ = auth; }
  // How incidents are detected; set before serving.
  void SetIncidentOptions(const IncidentOptions& options) { incident_options_ = options; }

  // The series `plumb agents` shows for each agent.
  static const std::vector<std::string>& HeadlineSeries();

 private:
  Store* store_;
  Counters* counters_;
  AgentRegistry* agents_;
  const Clock* clock_;
  grpc::Status Authorize(const grpc::ServerContextBase& context, Role needed,
                         std::string_view method) const {
    return auth_ == nullptr ? grpc::Status::OK : auth_->Check(context, needed, method);
  }

  const CatalogHolder* catalog_;
  IncidentOptions incident_options_;
  const Authorizer* auth_ = nullptr;
};

}  // namespace plumbline::collector
