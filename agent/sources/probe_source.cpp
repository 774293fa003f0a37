#include "agent/sources/probe_source.h"

#include <httplib.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>

#include "plumbline/version.h"

namespace plumbline::agent {

namespace {

using Steady = std::chrono::steady_clock;

constexpr size_t kMaxPoolThreads = 4;
// Bytes of a response body read at most (and searched for body_contains).
constexpr size_t kBodyCap = 1 << 20;

double Seconds(Steady::duration d) { return std::chrono::duration<double>(d).count(); }

// Filled by OpenSSL's info callback during the handshake, on the pool thread.
struct TlsInfo {
  std::optional<double> expiry_days;
};

void OnTlsInfo(const SSL* ssl, int where, int /*ret*/) {
  if ((where & SSL_CB_HANDSHAKE_DONE) == 0) return;
  auto* info = static_cast<TlsInfo*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (info == nullptr) return;
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return;
  int days = 0, seconds = 0;
  if (ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(cert)) == 1) {
    info->expiry_days = days + seconds / 86400.0;
  }
  X509_free(cert);
}

}  // namespace

// One probe: its interval timer, the attempt in progress and the latest
// result. Lives on the loop; handlers hold it by shared_ptr and do nothing
// once it is stopped, so they may outlive the source.
class ProbeSource::Runner : public std::enable_shared_from_this<Runner> {
 public:
  Runner(asio::io_context& io, asio::thread_pool* pool, ProbeOptions options)
      : io_(io), pool_(pool), options_(std::move(options)), interval_timer_(io), deadline_(io) {}

  void Start() {
    next_run_ = Steady::now();
    Run();
    ScheduleNext();
  }

  void Stop() {
    stopped_ = true;
    interval_timer_.cancel();
    deadline_.cancel();
    CancelAttempt();
  }

  const std::optional<ProbeResult>& latest() const { return latest_; }
  const ProbeOptions& options() const { return options_; }

 private:
  struct TcpAttempt {
    explicit TcpAttempt(asio::io_context& io) : resolver(io), socket(io) {}
    asio::ip::tcp::resolver resolver;
    asio::ip::tcp::socket socket;
  };
  // What an HTTP request on the pool shares with the loop.
  struct HttpCall {
    std::shared_ptr<httplib::Client> client;
    std::atomic<bool> abandoned{false};
  };

  void ScheduleNext() {
    next_run_ += options_.interval;
    // After a stall of the loop, carry on from now instead of catching up.
    if (next_run_ < Steady::now() - options_.interval) next_run_ = Steady::now();
    interval_timer_.expires_at(next_run_);
    interval_timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (ec || self->stopped_) return;
      self->Run();
      self->ScheduleNext();
    });
  }

  void Run() {
    if (in_progress_) {
      // With timeout == interval the next run may come before the deadline
      // handler: the old attempt has had all its time.
      CancelAttempt();
      FinishNow(attempt_, StrCat("timed out after ", FormatDuration(options_.timeout)));
    }
    ++attempt_;
    in_progress_ = true;
    started_ = Steady::now();
    deadline_.expires_after(options_.timeout);
    deadline_.async_wait(
        [self = shared_from_this(), attempt = attempt_](const asio::error_code& ec) {
          if (ec || self->stopped_ || attempt != self->attempt_ || !self->in_progress_) return;
          self->CancelAttempt();
          ProbeResult r;
          r.duration_seconds = Seconds(Steady::now() - self->started_);
          r.error = StrCat("timed out after ", FormatDuration(self->options_.timeout));
          self->Finish(attempt, std::move(r));
        });
    if (options_.kind == ProbeOptions::Kind::kTcp) {
      RunTcp();
    } else {
      RunHttp();
    }
  }

  void CancelAttempt() {
    if (tcp_) {
      tcp_->resolver.cancel();
      asio::error_code ignored;
      tcp_->socket.close(ignored);
    }
    if (call_) {
      call_->abandoned = true;
      call_->client->stop();  // thread-safe: shuts the socket the pool thread reads
    }
  }

  void RunTcp() {
    // The handlers own the attempt: asio's composed connect touches the
    // socket after a cancellation, so it must outlive every pending handler.
    auto tcp = std::make_shared<TcpAttempt>(io_);
    tcp_ = tcp;
    tcp->resolver.async_resolve(
        options_.host, options_.port,
        [self = shared_from_this(), tcp, attempt = attempt_](
            const asio::error_code& ec, const asio::ip::tcp::resolver::results_type& endpoints) {
          if (self->stopped_ || attempt != self->attempt_ || !self->in_progress_) return;
          if (ec) {
            self->FinishNow(attempt, StrCat("resolve ", self->options_.host, ": ", ec.message()));
            return;
          }
          asio::async_connect(
              tcp->socket, endpoints,
              [self, tcp, attempt](const asio::error_code& ec2, const asio::ip::tcp::endpoint&) {
                if (self->stopped_ || attempt != self->attempt_ || !self->in_progress_) {
                  return;
                }
                asio::error_code ignored;
                tcp->socket.close(ignored);
                self->FinishNow(attempt, ec2 ? StrCat("connect: ", ec2.message()) : std::string());
              });
        });
  }

  void RunHttp() {
    if (call_) {
      // The pool thread has not come back from the last request (it timed
      // out and is still unwinding); never pile requests up behind it.
      FinishNow(attempt_, "previous request still running");
      return;
    }
    auto call = std::make_shared<HttpCall>();
    call->client = std::make_shared<httplib::Client>(options_.scheme_host_port);
    httplib::Client& cli = *call->client;
    cli.set_keep_alive(false);
    cli.set_follow_location(options_.follow_redirects);
    cli.set_connection_timeout(options_.timeout);
    cli.set_read_timeout(options_.timeout);
    cli.set_write_timeout(options_.timeout);
    if (options_.https) {
      cli.enable_server_certificate_verification(options_.tls_verify);
      if (!options_.ca_file.empty()) cli.set_ca_cert_path(options_.ca_file);
    }
    call_ = call;
    asio::post(*pool_, [self = shared_from_this(), call, attempt = attempt_]() {
      // On the pool thread: options_ is never written after construction.
      ProbeResult r;
      if (!call->abandoned) r = self->DoHttp(*call->client);
      asio::post(self->io_, [self, call, attempt, r = std::move(r)]() mutable {
        if (self->call_ == call) self->call_.reset();
        if (self->stopped_ || attempt != self->attempt_ || !self->in_progress_) return;
        self->Finish(attempt, std::move(r));
      });
    });
  }

  // Blocking; runs on the pool.
  ProbeResult DoHttp(httplib::Client& cli) const {
    TlsInfo tls;
    SSL_CTX* ctx = options_.https ? cli.ssl_context() : nullptr;
    if (ctx != nullptr) {
      SSL_CTX_set_app_data(ctx, &tls);
      SSL_CTX_set_info_callback(ctx, OnTlsInfo);
    }
    Steady::time_point start = Steady::now();
    int status = 0;
    bool stopped_reading = false;
    const std::string& needle = options_.body_contains;
    bool found = needle.empty();
    std::string body;
    size_t body_bytes = 0;
    httplib::Headers headers = {{"User-Agent", StrCat("plumbline-agent/", kVersion)}};
    httplib::Result res = cli.Get(
        options_.path, headers,
        [&](const httplib::Response& response) {
          status = response.status;
          return true;
        },
        [&](const char* data, size_t n) {
          body_bytes += n;
          if (!found) {
            size_t from = body.size() > needle.size() ? body.size() - needle.size() : 0;
            body.append(data, std::min(n, kBodyCap - body.size()));
            found = body.find(needle, from) != std::string::npos;
          }
          if (body_bytes >= kBodyCap) {
            stopped_reading = true;  // enough: the rest would only cost time
            return false;
          }
          return true;
        });
    ProbeResult r;
    r.duration_seconds = Seconds(Steady::now() - start);
    if (ctx != nullptr) SSL_CTX_set_app_data(ctx, nullptr);
    r.cert_expiry_days = tls.expiry_days;
    bool have_response = static_cast<bool>(res) || (res.error() == httplib::Error::Canceled &&
                                                    stopped_reading && status != 0);
    if (res) status = res->status;
    if (!have_response) {
      r.error = httplib::to_string(res.error());
      if (res.error() == httplib::Error::SSLServerVerification) {
        StrAppend(&r.error, ": ", X509_verify_cert_error_string(cli.get_openssl_verify_result()));
      }
      return r;
    }
    r.http_status = status;
    bool status_ok = std::any_of(
        options_.expect_status.begin(), options_.expect_status.end(),
        [&](const auto& range) { return status >= range.first && status <= range.second; });
    if (!status_ok) {
      r.error = StrCat("unexpected status ", status);
    } else if (!found) {
      r.error = StrCat("body does not contain \"", needle, "\"");
    }
    r.success = status_ok && found;
    return r;
  }

  void FinishNow(uint64_t attempt, std::string error) {
    ProbeResult r;
    r.success = error.empty();
    r.error = std::move(error);
    r.duration_seconds = Seconds(Steady::now() - started_);
    Finish(attempt, std::move(r));
  }

  void Finish(uint64_t attempt, ProbeResult r) {
    if (attempt != attempt_ || !in_progress_) return;
    in_progress_ = false;
    deadline_.cancel();
    tcp_.reset();
    // State changes are worth a line; every failed run is not (it is data).
    bool was_up = latest_.has_value() ? latest_->success : true;
    if (was_up && !r.success) {
      spdlog::info("probe {} failing: {}", options_.name, r.error);
    } else if (!was_up && r.success) {
      spdlog::info("probe {} succeeding again", options_.name);
    }
    latest_ = std::move(r);
  }

  asio::io_context& io_;
  asio::thread_pool* pool_;
  const ProbeOptions options_;
  asio::steady_timer interval_timer_;
  asio::steady_timer deadline_;
  Steady::time_point next_run_, started_;
  uint64_t attempt_ = 0;
  bool in_progress_ = false;
  bool stopped_ = false;
  std::shared_ptr<TcpAttempt> tcp_;  // the TCP attempt in progress
  std::shared_ptr<HttpCall> call_;   // the request on the pool, until it comes back
  std::optional<ProbeResult> latest_;
};

ProbeSource::ProbeSource(SourceContext context, ProbeSourceOptions options)
    : context_(std::move(context)), options_(std::move(options)) {}

ProbeSource::~ProbeSource() { Stop(); }

absl::Status ProbeSource::Start() {
  if (context_.io == nullptr)
    return absl::FailedPreconditionError("probe source needs an event loop");
  size_t http = 0;
  for (const ProbeOptions& p : options_.probes) http += p.kind == ProbeOptions::Kind::kHttp ? 1 : 0;
  if (http > 0) pool_ = std::make_unique<asio::thread_pool>(std::min(http, kMaxPoolThreads));
  for (ProbeOptions p : options_.probes) {
    if (p.interval.count() <= 0) p.interval = context_.interval;
    if (p.interval.count() <= 0) p.interval = std::chrono::seconds(10);
    p.timeout = std::min(p.timeout, p.interval);
    runners_.push_back(std::make_shared<Runner>(*context_.io, pool_.get(), std::move(p)));
  }
  for (auto& runner : runners_) runner->Start();
  return absl::OkStatus();
}

absl::Status ProbeSource::Collect(MetricWriter& out) {
  for (const auto& runner : runners_) {
    const std::optional<ProbeResult>& r = runner->latest();
    if (!r) continue;
    Labels labels = {{"probe", runner->options().name}};
    out.Gauge("probe_success", r->success ? 1 : 0, labels);
    out.Gauge("probe_duration_seconds", r->duration_seconds, labels, "seconds");
    if (r->http_status) out.Gauge("probe_http_status_code", *r->http_status, labels);
    if (r->cert_expiry_days)
      out.Gauge("probe_tls_cert_expiry_days", *r->cert_expiry_days, labels, "days");
  }
  return absl::OkStatus();
}

std::optional<ProbeResult> ProbeSource::LatestResult(size_t index) const {
  if (index >= runners_.size()) return std::nullopt;
  return runners_[index]->latest();
}

void ProbeSource::Stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& runner : runners_) runner->Stop();
  if (pool_) {
    pool_->stop();
    pool_->join();
  }
}

}  // namespace plumbline::agent
