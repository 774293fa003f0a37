// Access control for the query surfaces (gRPC Query service and, through it,
// the HTTP API): bearer tokens carrying a role.
//
//   viewer  reads everything
//   sre     viewer + declares incidents and adds notes
//   admin   everything
//
// Tokens are configured by their SHA-256 (never in clear), compared in
// constant time, and never logged. Without configured tokens the query
// surfaces are open (the collector warns at start).
#pragma once

#include <grpcpp/server_context.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "collector/auth_tokens.h"
#include "common/counters.h"
#include "common/status.h"

namespace plumbline::collector {

struct TokenEntry {
  std::string name;  // who holds it, for logs ("grafana", "oncall")
  Role role = Role::kViewer;
  std::array<uint8_t, 32> sha256{};
};

// Lower-case hex SHA-256 of `text`.
std::string Sha256Hex(std::string_view text);

class Authorizer {
 public:
  Authorizer(std::vector<TokenEntry> tokens, Counters* counters)
      : tokens_(std::move(tokens)), counters_(counters) {}

  bool enabled() const { return !tokens_.empty(); }

  // OK when the call's "authorization: Bearer <token>" names a token whose
  // role is at least `needed` (or when no tokens are configured);
  // UNAUTHENTICATED for a missing or unknown token, PERMISSION_DENIED for a
  // role too low. Denials are counted and logged (with the token's name,
  // never the token).
  grpc::Status Check(const grpc::ServerContextBase& context, Role needed,
                     std::string_view method) const;

  // The same for a raw header value (tests, other surfaces).
  grpc::Status CheckHeader(std::string_view authorization, Role needed,
                           std::string_view method) const;

 private:
  std::vector<TokenEntry> tokens_;
  Counters* counters_;
};

}  // namespace plumbline::collector
