#include "collector/agent_auth.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "common/strings.h"

namespace plumbline::collector {

namespace {

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct StackDeleter {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
struct StoreCtxDeleter {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

// Every certificate in a PEM text, in order.
std::vector<X509Ptr> ReadPem(std::string_view pem) {
  std::vector<X509Ptr> out;
  if (pem.empty()) return out;
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  ERR_clear_error();
  return out;
}

std::string CommonName(X509* cert) {
  X509_NAME* subject = X509_get_subject_name(cert);
  int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (i < 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return "";
  std::string cn(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return cn;
}

std::vector<std::string> DnsNames(X509* cert) {
  std::vector<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type != GEN_DNS) continue;
    const ASN1_IA5STRING* dns = n->d.dNSName;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                     static_cast<size_t>(ASN1_STRING_length(dns)));
  }
  GENERAL_NAMES_free(names);
  return out;
}

int64_t NotAfterMs(X509* cert) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

}  // namespace

std::array<uint8_t, 32> Sha256(std::string_view text) {
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

bool AgentGrant::Allows(std::string_view agent_id) const {
  if (kind == Kind::kOpen) return true;
  for (const std::string& id : agent_ids) {
    if (id == agent_id) return true;
  }
  return !id_prefix.empty() && agent_id.substr(0, id_prefix.size()) == id_prefix;
}

std::string AgentGrant::Describe() const {
  switch (kind) {
    case Kind::kCertificate:
      return StrCat("certificate \"", name, "\"");
    case Kind::kToken:
      return StrCat("enrollment token \"", name, "\"");
    case Kind::kOpen:
      break;
  }
  return "no authentication";
}

AgentAuthenticator::AgentAuthenticator(AgentAuthOptions options, Counters* counters,
                                       const Clock* clock)
    : options_(std::move(options)),
      counters_(counters),
      clock_(clock),
      tokens_(options_.tokens),
      revoked_(options_.revoked) {}

AgentAuthenticator::~AgentAuthenticator() {
  if (ca_store_ != nullptr) X509_STORE_free(ca_store_);
}

absl::Status AgentAuthenticator::Init() {
  std::lock_guard lock(mu_);
  return RefreshCaLocked();
}

void AgentAuthenticator::SetEnrollment(std::vector<EnrollmentEntry> tokens,
                                       std::vector<std::array<uint8_t, 32>> revoked) {
  std::lock_guard lock(mu_);
  tokens_ = std::move(tokens);
  revoked_ = std::move(revoked);
}

bool AgentAuthenticator::required() const {
  std::lock_guard lock(mu_);
  return options_.require_client_cert || !tokens_.empty();
}

absl::Status AgentAuthenticator::RefreshCaLocked() {
  if (options_.client_ca.empty()) return absl::OkStatus();
  struct stat st {};
  if (::stat(options_.client_ca.c_str(), &st) != 0) {
    if (ca_store_ != nullptr) return absl::OkStatus();  // keep the last good bundle
    return absl::NotFoundError(StrCat("tls.client_ca: cannot read ", options_.client_ca));
  }
  if (ca_store_ != nullptr && st.st_mtim.tv_sec == ca_mtime_.tv_sec &&
      st.st_mtim.tv_nsec == ca_mtime_.tv_nsec && st.st_size == ca_size_) {
    return absl::OkStatus();
  }
  X509_STORE* store = X509_STORE_new();
  if (X509_STORE_load_file(store, options_.client_ca.c_str()) != 1) {
    X509_STORE_free(store);
    ERR_clear_error();
    if (ca_store_ != nullptr) {
      spdlog::error("tls.client_ca {}: no certificates in the changed file; keeping the last one",
                    options_.client_ca);
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(
        StrCat("tls.client_ca: no PEM certificates in ", options_.client_ca));
  }
  if (ca_store_ != nullptr) {
    X509_STORE_free(ca_store_);
    spdlog::info("tls.client_ca {} changed: reloaded", options_.client_ca);
  }
  ca_store_ = store;
  ca_mtime_ = st.st_mtim;
  ca_size_ = st.st_size;
  return absl::OkStatus();
}

absl::Status AgentAuthenticator::Deny(const char* reason, std::string message) {
  counters_->Add("plumbline_ingest_auth_denied_total", {{"reason", reason}});
  return absl::UnauthenticatedError(std::move(message));
}

absl::StatusOr<AgentGrant> AgentAuthenticator::VerifyCertificate(std::string_view pem_cert,
                                                                 std::string_view pem_chain) {
  std::vector<X509Ptr> leaf = ReadPem(pem_cert);
  if (leaf.empty()) return Deny("certificate_invalid", "the client certificate cannot be parsed");
  std::vector<X509Ptr> chain = ReadPem(pem_chain);
  std::unique_ptr<STACK_OF(X509), StackDeleter> untrusted(sk_X509_new_null());
  for (X509Ptr& c : chain) {
    if (X509_cmp(c.get(), leaf[0].get()) == 0) continue;
    sk_X509_push(untrusted.get(), c.release());
  }
  int error = X509_V_OK;
  {
    std::lock_guard lock(mu_);
    if (absl::Status s = RefreshCaLocked(); !s.ok()) spdlog::error("{}", s.message());
    if (ca_store_ == nullptr) {
      return Deny("certificate_untrusted", "this collector accepts no client certificates");
    }
    std::unique_ptr<X509_STORE_CTX, StoreCtxDeleter> ctx(X509_STORE_CTX_new());
    X509_STORE_CTX_init(ctx.get(), ca_store_, leaf[0].get(), untrusted.get());
    X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()),
                               static_cast<time_t>(clock_->NowMs() / 1000));
    if (X509_verify_cert(ctx.get()) != 1) error = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
  }
  const std::string cn = CommonName(leaf[0].get());
  if (error == X509_V_ERR_CERT_HAS_EXPIRED) {
    return Deny("certificate_expired", StrCat("the client certificate \"", cn, "\" has expired"));
  }
  if (error == X509_V_ERR_CERT_NOT_YET_VALID) {
    return Deny("certificate_not_yet_valid",
                StrCat("the client certificate \"", cn, "\" is not valid yet"));
  }
  if (error != X509_V_OK) {
    return Deny("certificate_untrusted",
                StrCat("the client certificate \"", cn, "\" is not trusted by this collector: ",
                       X509_verify_cert_error_string(error)));
  }
  AgentGrant grant;
  grant.kind = AgentGrant::Kind::kCertificate;
  grant.name = cn;
  if (!cn.empty()) grant.agent_ids.push_back(cn);
  for (std::string& dns : DnsNames(leaf[0].get())) grant.agent_ids.push_back(std::move(dns));
  grant.not_after_ms = NotAfterMs(leaf[0].get());
  return grant;
}

absl::StatusOr<AgentGrant> AgentAuthenticator::Authenticate(std::string_view pem_cert,
                                                            std::string_view pem_chain,
                                                            std::string_view authorization) {
  if (!pem_cert.empty()) return VerifyCertificate(pem_cert, pem_chain);
  constexpr std::string_view kBearer = "Bearer ";
  const bool has_token =
      authorization.substr(0, kBearer.size()) == kBearer && authorization.size() > kBearer.size();
  std::lock_guard lock(mu_);
  if (!has_token) {
    if (options_.require_client_cert || !tokens_.empty()) {
      counters_->Add("plumbline_ingest_auth_denied_total", {{"reason", "no_credentials"}});
      return absl::UnauthenticatedError(
          tokens_.empty()
              ? "this collector requires a client certificate (agent tls.cert and tls.key)"
              : "this collector requires a client certificate or an enrollment token "
                "(agent tls.cert/tls.key or enrollment_token_file)");
    }
    return AgentGrant{};
  }
  const std::array<uint8_t, 32> presented = Sha256(authorization.substr(kBearer.size()));
  // Every entry is compared, in constant time, whatever matches.
  bool revoked = false;
  for (const auto& r : revoked_) {
    if (CRYPTO_memcmp(r.data(), presented.data(), presented.size()) == 0) revoked = true;
  }
  const EnrollmentEntry* match = nullptr;
  for (const EnrollmentEntry& t : tokens_) {
    if (CRYPTO_memcmp(t.sha256.data(), presented.data(), presented.size()) == 0) match = &t;
  }
  if (revoked) {
    counters_->Add("plumbline_ingest_auth_denied_total", {{"reason", "token_revoked"}});
    return absl::UnauthenticatedError("the enrollment token has been revoked");
  }
  if (match == nullptr) {
    counters_->Add("plumbline_ingest_auth_denied_total", {{"reason", "token_unknown"}});
    return absl::UnauthenticatedError("the enrollment token is not valid");
  }
  AgentGrant grant;
  grant.kind = AgentGrant::Kind::kToken;
  grant.name = match->name;
  if (!match->agent_id.empty()) grant.agent_ids.push_back(match->agent_id);
  grant.id_prefix = match->id_prefix;
  grant.token_sha256 = match->sha256;
  return grant;
}

absl::Status AgentAuthenticator::StillValid(const AgentGrant& grant) {
  if (grant.kind == AgentGrant::Kind::kCertificate) {
    if (grant.not_after_ms != 0 && clock_->NowMs() > grant.not_after_ms) {
      return Deny("certificate_expired",
                  StrCat("the client certificate \"", grant.name, "\" has expired"));
    }
    return absl::OkStatus();
  }
  if (grant.kind != AgentGrant::Kind::kToken) return absl::OkStatus();
  std::lock_guard lock(mu_);
  for (const auto& r : revoked_) {
    if (CRYPTO_memcmp(r.data(), grant.token_sha256.data(), r.size()) == 0) {
      counters_->Add("plumbline_ingest_auth_denied_total", {{"reason", "token_revoked"}});
      return absl::UnauthenticatedError("the enrollment token has been revoked");
    }
  }
  // Still listed with the same grant (a changed grant ends the stream too).
  const std::string granted_id = grant.agent_ids.empty() ? "" : grant.agent_ids[0];
  for (const EnrollmentEntry& t : tokens_) {
    if (t.sha256 == grant.token_sha256 && t.agent_id == granted_id &&
        t.id_prefix == grant.id_prefix) {
      return absl::OkStatus();
    }
  }
  counters_->Add("plumbline_ingest_auth_denied_total", {{"reason", "token_revoked"}});
  return absl::UnauthenticatedError("the enrollment token is no longer configured");
}

}  // namespace plumbline::collector
