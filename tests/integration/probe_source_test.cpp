// ProbeSource against real peers on loopback: an HTTP and an HTTPS server
// (cpp-httplib, in a thread of the test), a closed port, and a listening
// socket that never answers.
#include "agent/sources/probe_source.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <asio.hpp>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <thread>

namespace plumbline::agent {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// A self-signed certificate for 127.0.0.1 valid for `days`, written as PEM.
void WriteCertificate(const std::string& cert_path, const std::string& key_path, int days) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  ASSERT_NE(key, nullptr);
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), static_cast<long>(days) * 86400);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    ASSERT_NE(ext, nullptr);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  ASSERT_GT(X509_sign(x, key, EVP_sha256()), 0);
  FILE* f = std::fopen(cert_path.c_str(), "w");
  PEM_write_X509(f, x);
  std::fclose(f);
  f = std::fopen(key_path.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(x);
  EVP_PKEY_free(key);
}

// An HTTP(S) server in its own thread on a free loopback port.
class TestServer {
 public:
  explicit TestServer(std::unique_ptr<httplib::Server> server) : server_(std::move(server)) {
    server_->Get("/ok", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("status: all good", "text/plain");
    });
    server_->Get("/fail", [](const httplib::Request&, httplib::Response& res) {
      res.status = 503;
      res.set_content("down for maintenance", "text/plain");
    });
    server_->Get("/moved",
                 [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/ok"); });
    server_->Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(3 << 20, 'x') + "needle", "text/plain");
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    for (int i = 0; i < 500 && !server_->is_running(); ++i) {
      std::this_thread::sleep_for(milliseconds(2));
    }
  }
  ~TestServer() {
    server_->stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::string url(const std::string& scheme, const std::string& path) const {
    return scheme + "://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

class ProbeSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / "plumbline_probe_source_test";
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<ProbeSource> Make(std::vector<ProbeOptions> probes) {
    SourceContext context;
    context.io = &io_;
    context.interval = std::chrono::hours(1);  // one run per test
    auto source = std::make_unique<ProbeSource>(context, ProbeSourceOptions{std::move(probes)});
    EXPECT_TRUE(source->Start().ok());
    return source;
  }

  // Runs the loop until every probe has a result (or 20 s pass).
  void RunUntilDone(ProbeSource& source, size_t probes) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      bool done = true;
      for (size_t i = 0; i < probes; ++i) done = done && source.LatestResult(i).has_value();
      if (done) return;
      io_.restart();
      io_.run_for(milliseconds(10));
    }
    ADD_FAILURE() << "probes did not finish";
  }

  static ProbeOptions Http(const std::string& name, const std::string& url,
                           milliseconds timeout = milliseconds(5000)) {
    ProbeOptions p;
    p.name = name;
    p.kind = ProbeOptions::Kind::kHttp;
    p.https = url.rfind("https://", 0) == 0;
    size_t path = url.find('/', url.find("://") + 3);
    p.scheme_host_port = url.substr(0, path);
    p.path = url.substr(path);
    p.timeout = timeout;
    return p;
  }
  static ProbeOptions Tcp(const std::string& name, int port,
                          milliseconds timeout = milliseconds(5000)) {
    ProbeOptions p;
    p.name = name;
    p.kind = ProbeOptions::Kind::kTcp;
    p.host = "127.0.0.1";
    p.port = std::to_string(port);
    p.timeout = timeout;
    return p;
  }
  static int FreePortThenClosed() {
    asio::io_context io;
    asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return a.local_endpoint().port();
  }

  asio::io_context io_;
  fs::path dir_;
};

TEST_F(ProbeSourceTest, HttpProbesReportStatusBodyMatchAndDuration) {
  TestServer server(std::make_unique<httplib::Server>());
  ProbeOptions ok = Http("ok", server.url("http", "/ok"));
  ok.body_contains = "all good";
  ProbeOptions wrong_body = Http("wrong_body", server.url("http", "/ok"));
  wrong_body.body_contains = "degraded";
  ProbeOptions fail = Http("fail", server.url("http", "/fail"));
  ProbeOptions fail_expected = Http("fail_expected", server.url("http", "/fail"));
  fail_expected.expect_status = {{500, 599}};
  ProbeOptions moved = Http("moved", server.url("http", "/moved"));
  ProbeOptions moved_not_followed = Http("moved_not_followed", server.url("http", "/moved"));
  moved_not_followed.follow_redirects = false;
  ProbeOptions big = Http("big", server.url("http", "/big"));
  big.body_contains = "needle";  // beyond the 1 MiB read: not found
  auto source = Make({ok, wrong_body, fail, fail_expected, moved, moved_not_followed, big});
  RunUntilDone(*source, 7);

  auto r = [&](size_t i) { return *source->LatestResult(i); };
  EXPECT_TRUE(r(0).success) << r(0).error;
  EXPECT_EQ(r(0).http_status, 200);
  EXPECT_GT(r(0).duration_seconds, 0);
  EXPECT_LT(r(0).duration_seconds, 5);
  EXPECT_FALSE(r(0).cert_expiry_days.has_value());
  EXPECT_FALSE(r(1).success);
  EXPECT_EQ(r(1).error, "body does not contain \"degraded\"");
  EXPECT_FALSE(r(2).success);
  EXPECT_EQ(r(2).http_status, 503);
  EXPECT_EQ(r(2).error, "unexpected status 503");
  EXPECT_TRUE(r(3).success) << r(3).error;
  EXPECT_TRUE(r(4).success) << r(4).error;
  EXPECT_EQ(r(4).http_status, 200);
  EXPECT_FALSE(r(5).success);
  EXPECT_EQ(r(5).http_status, 302);
  EXPECT_FALSE(r(6).success);
  EXPECT_EQ(r(6).http_status, 200);

  v1::Batch batch;
  MetricWriter writer(&batch, nullptr, 1);
  ASSERT_TRUE(source->Collect(writer).ok());
  std::map<std::string, double> success, status;
  for (const auto& s : batch.series()) {
    std::string probe;
    for (const auto& l : s.labels()) {
      if (l.name() == "probe") probe = l.value();
    }
    if (s.name() == "probe_success") success[probe] = s.points(0).number();
    if (s.name() == "probe_http_status_code") status[probe] = s.points(0).number();
  }
  EXPECT_EQ(success["ok"], 1);
  EXPECT_EQ(success["fail"], 0);
  EXPECT_EQ(status["fail"], 503);
  EXPECT_EQ(success.size(), 7u);
  source->Stop();
}

TEST_F(ProbeSourceTest, HttpsProbeReportsCertificateExpiryAndVerifies) {
  std::string cert = (dir_ / "cert.pem").string(), key = (dir_ / "key.pem").string();
  WriteCertificate(cert, key, 30);
  TestServer server(std::make_unique<httplib::SSLServer>(cert.c_str(), key.c_str()));
  ProbeOptions trusted = Http("trusted", server.url("https", "/ok"));
  trusted.ca_file = cert;
  ProbeOptions untrusted = Http("untrusted", server.url("https", "/ok"));
  ProbeOptions unverified = Http("unverified", server.url("https", "/ok"));
  unverified.tls_verify = false;
  auto source = Make({trusted, untrusted, unverified});
  RunUntilDone(*source, 3);

  ProbeResult t = *source->LatestResult(0);
  EXPECT_TRUE(t.success) << t.error;
  EXPECT_EQ(t.http_status, 200);
  ASSERT_TRUE(t.cert_expiry_days.has_value());
  EXPECT_NEAR(*t.cert_expiry_days, 30, 0.01);

  ProbeResult u = *source->LatestResult(1);
  EXPECT_FALSE(u.success);
  EXPECT_NE(u.error.find("certificate"), std::string::npos) << u.error;

  ProbeResult n = *source->LatestResult(2);
  EXPECT_TRUE(n.success) << n.error;
  ASSERT_TRUE(n.cert_expiry_days.has_value());
  EXPECT_NEAR(*n.cert_expiry_days, 30, 0.01);

  v1::Batch batch;
  MetricWriter writer(&batch, nullptr, 1);
  ASSERT_TRUE(source->Collect(writer).ok());
  int expiry_series = 0;
  for (const auto& s : batch.series()) expiry_series += s.name() == "probe_tls_cert_expiry_days";
  EXPECT_GE(expiry_series, 2);
}

TEST_F(ProbeSourceTest, TcpProbeToAListenerSucceedsAndToAClosedPortFailsFast) {
  asio::ip::tcp::acceptor listener(io_,
                                   asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  int open_port = listener.local_endpoint().port();
  int closed_port = FreePortThenClosed();
  auto source = Make({Tcp("open", open_port), Tcp("closed", closed_port)});
  RunUntilDone(*source, 2);
  ProbeResult open = *source->LatestResult(0);
  EXPECT_TRUE(open.success) << open.error;
  ProbeResult closed = *source->LatestResult(1);
  EXPECT_FALSE(closed.success);
  EXPECT_LT(closed.duration_seconds, 1.0);
  EXPECT_NE(closed.error.find("connect"), std::string::npos) << closed.error;

  v1::Batch batch;
  MetricWriter writer(&batch, nullptr, 1);
  ASSERT_TRUE(source->Collect(writer).ok());
  for (const auto& s : batch.series()) {
    EXPECT_NE(s.name(), "probe_http_status_code");
    if (s.name() == "probe_success" && s.labels(0).value() == "closed") {
      EXPECT_EQ(s.points(0).number(), 0);
    }
  }
}

TEST_F(ProbeSourceTest, TcpProbeTimesOutWhenTheHandshakeNeverCompletes) {
  // A listener with a backlog of 0 and one connection already queued: the
  // kernel drops further SYNs, so a connect hangs until its deadline.
  asio::io_context other;
  asio::ip::tcp::acceptor full(other);
  full.open(asio::ip::tcp::v4());
  full.bind(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  full.listen(0);
  int port = full.local_endpoint().port();
  asio::ip::tcp::socket queued(other);
  queued.connect(full.local_endpoint());
  ProbeOptions hanging = Tcp("hanging", port, milliseconds(300));
  hanging.interval = milliseconds(300);  // timeout == interval: no run is skipped
  auto source = Make({hanging});
  RunUntilDone(*source, 1);
  ProbeResult r = *source->LatestResult(0);
  EXPECT_FALSE(r.success);
  EXPECT_EQ(r.error, "timed out after 300ms");
  EXPECT_GE(r.duration_seconds, 0.25);
  EXPECT_LT(r.duration_seconds, 1.0);
  // Keep probing for a while: every run ends, none piles up.
  io_.restart();
  io_.run_for(milliseconds(1000));
  EXPECT_FALSE(source->LatestResult(0)->success);
  source->Stop();
}

TEST_F(ProbeSourceTest, ASilentPeerTimesOutWithoutBlockingTheLoop) {
  // Accepts connections (the kernel does) but never answers.
  asio::io_context other;
  asio::ip::tcp::acceptor silent(other,
                                 asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  int port = silent.local_endpoint().port();
  auto source =
      Make({Http("silent", "http://127.0.0.1:" + std::to_string(port) + "/", milliseconds(600))});
  // The loop keeps serving other work meanwhile.
  int ticks = 0;
  asio::steady_timer timer(io_);
  std::function<void()> tick = [&] {
    timer.expires_after(milliseconds(20));
    timer.async_wait([&](const asio::error_code& ec) {
      if (ec) return;
      ++ticks;
      tick();
    });
  };
  tick();
  auto start = std::chrono::steady_clock::now();
  RunUntilDone(*source, 1);
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  timer.cancel();
  ProbeResult r = *source->LatestResult(0);
  EXPECT_FALSE(r.success);
  EXPECT_FALSE(r.http_status.has_value());
  EXPECT_GE(r.duration_seconds, 0.55);
  EXPECT_LT(waited, 3.0);
  EXPECT_GE(ticks, 15) << "the loop was blocked";
  source->Stop();
}

TEST_F(ProbeSourceTest, StopWhileRequestsAreInFlightReturnsPromptly) {
  asio::io_context other;
  asio::ip::tcp::acceptor silent(other,
                                 asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  int port = silent.local_endpoint().port();
  auto source =
      Make({Http("silent", "http://127.0.0.1:" + std::to_string(port) + "/", milliseconds(10000)),
            Tcp("tcp", port)});
  io_.restart();
  io_.run_for(milliseconds(200));
  auto start = std::chrono::steady_clock::now();
  source->Stop();
  source.reset();
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(took, 2.0);
  // Handlers still queued on the loop must not touch the destroyed source.
  io_.restart();
  io_.run_for(milliseconds(100));
}

}  // namespace
}  // namespace plumbline::agent
