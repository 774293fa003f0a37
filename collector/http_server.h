// The collector's HTTP surface (cpp-httplib): a JSON API with the content of
// the gRPC Query service (docs/api.md), Prometheus exposition of every
// business KPI and the collector's own counters on /metrics, and /healthz,
// /readyz for load balancers and orchestrators.
//
// Every API call goes through the Query service over an in-process gRPC
// channel, so both surfaces answer the same thing, with the same checks.
#pragma once

#include <grpcpp/channel.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "collector/query_params.h"
#include "common/counters.h"
#include "common/status.h"
#include "plumbline/v1/query.grpc.pb.h"

namespace httplib {
class Server;
}

namespace plumbline::collector {

class HttpServer {
 public:
  // `ready` says whether the collector accepts data (for /readyz).
  HttpServer(std::shared_ptr<grpc::Channel> query_channel, Counters* counters,
             std::function<bool()> ready);
  ~HttpServer();

  // Binds "host:port" (port 0: a free one) and serves in a thread, over
  // HTTPS when `tls_cert` and `tls_key` (PEM files) are given; they are read
  // once here (a restart picks up a renewed certificate). Returns the bound
  // port.
  absl::StatusOr<int> Start(const std::string& listen, const std::string& tls_cert = "",
                            const std::string& tls_key = "");
  void Stop();

  // The /metrics body: business KPIs and the collector's counters, read
  // with the given Authorization header value.
  std::string Metrics(const std::string& authorization = "");

 private:
  void Routes();

  std::unique_ptr<v1::Query::Stub> stub_;
  Counters* counters_;
  std::function<bool()> ready_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

// Prometheus text exposition of one sample: name{labels} value.
void AppendSample(std::string* out, const std::string& name,
                  const std::vector<std::pair<std::string, std::string>>& labels, double value);

}  // namespace plumbline::collector
