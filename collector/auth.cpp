#include "collector/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

namespace plumbline::collector {

namespace {

std::array<uint8_t, 32> Digest(std::string_view text) {
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

}  // namespace

std::string Sha256Hex(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : Digest(text)) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

grpc::Status Authorizer::Check(const grpc::ServerContextBase& context, Role needed,
                               std::string_view method) const {
  if (tokens_.empty()) return grpc::Status::OK;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  std::string_view header;
  if (it != metadata.end()) header = std::string_view(it->second.data(), it->second.size());
  return CheckHeader(header, needed, method);
}

grpc::Status Authorizer::CheckHeader(std::string_view authorization, Role needed,
                                     std::string_view method) const {
  if (tokens_.empty()) return grpc::Status::OK;
  auto deny = [&](grpc::StatusCode code, const char* reason, std::string message,
                  std::string_view who) {
    counters_->Add("plumbline_auth_denied_total",
                   {{"method", std::string(method)}, {"reason", reason}});
    spdlog::warn("denied {}: {}{}{}", method, reason, who.empty() ? "" : " for token ", who);
    return grpc::Status(code, std::move(message));
  };
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.substr(0, kBearer.size()) != kBearer ||
      authorization.size() == kBearer.size()) {
    return deny(grpc::StatusCode::UNAUTHENTICATED, "missing",
                "a bearer token is required (plumb --token, or the Authorization header)", "");
  }
  const std::array<uint8_t, 32> presented = Digest(authorization.substr(kBearer.size()));
  // Every entry is compared, in constant time, whatever matches.
  const TokenEntry* match = nullptr;
  for (const TokenEntry& t : tokens_) {
    if (CRYPTO_memcmp(t.sha256.data(), presented.data(), presented.size()) == 0) match = &t;
  }
  if (match == nullptr) {
    return deny(grpc::StatusCode::UNAUTHENTICATED, "unknown", "the bearer token is not valid", "");
  }
  if (static_cast<int>(match->role) < static_cast<int>(needed)) {
    return deny(grpc::StatusCode::PERMISSION_DENIED, "role",
                StrCat(method, " needs the ", RoleName(needed), " role; the token of \"",
                       match->name, "\" has ", RoleName(match->role)),
                match->name);
  }
  return grpc::Status::OK;
}

}  // namespace plumbline::collector
