// Who may write as which agent on the Ingest stream.
//
// An agent proves its identity with a client certificate (mTLS: signed by
// tls.client_ca; its CN and DNS SANs are the agent ids it may use) or with an
// enrollment token (gRPC metadata "authorization: Bearer <token>"; the
// token's entry grants one agent id or an id prefix). Tokens are configured
// by SHA-256, compared in constant time and never logged.
//
// Certificates are verified here, not in the TLS handshake (the gRPC port
// requests a certificate but lets the handshake finish without one), so an
// expired or untrusted certificate is refused with a reason the agent can
// read, and counted. The TLS handshake still proves that the agent holds the
// certificate's private key.
//
// Thread-safe. The CA bundle is re-read when its file changes; tokens are
// replaced with SetEnrollment (SIGHUP).
#pragma once

#include <openssl/x509.h>

#include <array>
#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/counters.h"
#include "common/status.h"

namespace plumbline::collector {

struct EnrollmentEntry {
  std::string name;  // for logs and messages ("web-fleet")
  std::array<uint8_t, 32> sha256{};
  std::string agent_id;   // exactly this id, or
  std::string id_prefix;  // every id with this prefix
};

// What an authenticated stream may write as.
struct AgentGrant {
  enum class Kind { kOpen, kCertificate, kToken };
  Kind kind = Kind::kOpen;
  std::string name;  // certificate subject CN or token name
  std::vector<std::string> agent_ids;
  std::string id_prefix;
  std::array<uint8_t, 32> token_sha256{};
  int64_t not_after_ms = 0;  // certificate expiry; 0: none

  bool Allows(std::string_view agent_id) const;
  // "certificate \"web-01\"", "enrollment token \"web-fleet\"", "no authentication".
  std::string Describe() const;
};

struct AgentAuthOptions {
  std::string client_ca;  // PEM file; empty: client certificates are not accepted
  // Agents must authenticate (a valid certificate or, if tokens are
  // configured, a token). Also implied by configured tokens.
  bool require_client_cert = false;
  std::vector<EnrollmentEntry> tokens;
  std::vector<std::array<uint8_t, 32>> revoked;
};

class AgentAuthenticator {
 public:
  AgentAuthenticator(AgentAuthOptions options, Counters* counters, const Clock* clock);
  ~AgentAuthenticator();

  // Loads the CA bundle; an error names the file.
  absl::Status Init();

  // Replaces the enrollment tokens and the revocation list (SIGHUP). Open
  // streams whose token is gone are ended at their next batch.
  void SetEnrollment(std::vector<EnrollmentEntry> tokens,
                     std::vector<std::array<uint8_t, 32>> revoked);

  // True when a stream without credentials is refused.
  bool required() const;

  // Decides what a new stream may write as, from the peer's PEM certificate
  // (leaf, and the chain the peer sent; empty without one) and its
  // "authorization" metadata. Denials are UNAUTHENTICATED with a reason for
  // the agent, counted in plumbline_ingest_auth_denied_total{reason}.
  absl::StatusOr<AgentGrant> Authenticate(std::string_view pem_cert, std::string_view pem_chain,
                                          std::string_view authorization);

  // OK while the grant still holds: its token not revoked or removed, its
  // certificate not expired. Counted like Authenticate when it fails.
  absl::Status StillValid(const AgentGrant& grant);

 private:
  absl::Status Deny(const char* reason, std::string message);
  absl::StatusOr<AgentGrant> VerifyCertificate(std::string_view pem_cert,
                                               std::string_view pem_chain);
  // Re-reads the CA file when its modification time or size changed.
  absl::Status RefreshCaLocked();

  const AgentAuthOptions options_;
  Counters* counters_;
  const Clock* clock_;
  mutable std::mutex mu_;
  std::vector<EnrollmentEntry> tokens_;
  std::vector<std::array<uint8_t, 32>> revoked_;
  X509_STORE* ca_store_ = nullptr;
  std::timespec ca_mtime_{};
  off_t ca_size_ = -1;
};

// SHA-256 of `text`.
std::array<uint8_t, 32> Sha256(std::string_view text);

}  // namespace plumbline::collector
