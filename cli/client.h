// What every plumb command shares: global flags, the connection to the
// collector, exit codes and time formatting.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "plumbline/v1/query.grpc.pb.h"

namespace plumbline::cli {

enum ExitCode { kOk = 0, kServerError = 1, kUsage = 2, kUnreachable = 3 };

struct Global {
  std::string collector = "127.0.0.1:7070";
  double timeout_s = 10;
  bool json = false;
  bool csv = false;
  std::string token;  // bearer token for the collector's query API
  // TLS: the PEM CA bundle that signs the collector's certificate (empty:
  // plaintext), and the name expected in it (default: the host).
  std::string tls_ca;
  std::string tls_server_name;
};

inline std::string Rfc3339(int64_t ms) {
  if (ms <= 0) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

inline int Fail(const grpc::Status& status, const Global& g) {
  bool unreachable = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                     status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
  std::cerr << "plumb: " << (unreachable ? "cannot reach collector at " + g.collector + ": " : "")
            << status.error_message() << "\n";
  return unreachable ? kUnreachable : kServerError;
}

inline std::unique_ptr<plumbline::v1::Query::Stub> Connect(const Global& g) {
  if (g.tls_ca.empty()) {
    return plumbline::v1::Query::NewStub(
        grpc::CreateChannel(g.collector, grpc::InsecureChannelCredentials()));
  }
  grpc::SslCredentialsOptions ssl;
  std::ifstream in(g.tls_ca);
  ssl.pem_root_certs.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  grpc::ChannelArguments args;
  if (!g.tls_server_name.empty()) args.SetSslTargetNameOverride(g.tls_server_name);
  return plumbline::v1::Query::NewStub(
      grpc::CreateCustomChannel(g.collector, grpc::SslCredentials(ssl), args));
}

// The deadline and, when given, the bearer token of every call.
inline void SetDeadline(grpc::ClientContext* ctx, const Global& g) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(g.timeout_s * 1000)));
  if (!g.token.empty()) ctx->AddMetadata("authorization", "Bearer " + g.token);
}

// One Query call with the deadline and token of `g`:
//   grpc::Status status = Call(g, &v1::Query::Stub::GetHealth, request, &response);
template <typename Request, typename Response>
grpc::Status Call(const Global& g,
                  grpc::Status (plumbline::v1::Query::Stub::*method)(grpc::ClientContext*,
                                                                     const Request&, Response*),
                  const Request& request, Response* response) {
  auto stub = Connect(g);
  grpc::ClientContext ctx;
  SetDeadline(&ctx, g);
  return (stub.get()->*method)(&ctx, request, response);
}

}  // namespace plumbline::cli
