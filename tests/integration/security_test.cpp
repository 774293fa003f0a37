// Agents write only as themselves (mTLS certificates, enrollment tokens),
// certificates rotate without a restart, and one hostile sender cannot cost
// well-behaved ones a single sample. Real collector and agent processes on
// loopback; certificates made by the openssl CLI in a temp dir.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "collector/auth.h"
#include "plumbline/v1/ingest.grpc.pb.h"
#include "plumbline/v1/query.grpc.pb.h"
#include "tests/integration/collector_stats.h"
#include "tests/integration/process.h"

namespace plumbline::testing {
namespace {

using namespace std::chrono_literals;

// A throwaway PKI: CAs and certificates issued with `openssl ca`, so validity
// dates can lie in the past (an expired certificate).
class Pki {
 public:
  explicit Pki(const TempDir& dir) : dir_(dir) {}

  // A self-signed CA `name` (files name.pem, name.key) with its own database.
  void MakeCa(const std::string& name) {
    std::string d = dir_.File(name + "-db");
    std::filesystem::create_directories(d + "/new");
    WriteFile(d + "/index.txt", "");
    WriteFile(d + "/serial", "1000\n");
    WriteFile(d + "/ca.cnf", "[ca]\ndefault_ca = test\n[test]\ndatabase = " + d +
                                 "/index.txt\nnew_certs_dir = " + d + "/new\nserial = " + d +
                                 "/serial\ndefault_md = sha256\npolicy = any\n"
                                 "copy_extensions = copy\nunique_subject = no\n"
                                 "[any]\ncommonName = supplied\n");
    Run("openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "-keyout " +
        dir_.File(name + ".key") + " -out " + dir_.File(name + ".pem") +
        " -days 3 -subj '/CN=" + name + "'");
  }

  // A certificate `name`.pem/.key with CN=`cn` (and subjectAltName `san`),
  // issued by `ca`, valid from `start` to `end` (openssl ca date format) or
  // for two days from now.
  void Issue(const std::string& ca, const std::string& name, const std::string& cn,
             const std::string& san = "", const std::string& start = "",
             const std::string& end = "") {
    std::string csr = dir_.File(name + ".csr");
    Run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
        dir_.File(name + ".key") + " -out " + csr + " -subj '/CN=" + cn + "'" +
        (san.empty() ? "" : " -addext 'subjectAltName=" + san + "'"));
    std::string dates = start.empty() ? " -days 2" : " -startdate " + start + " -enddate " + end;
    Run("openssl ca -batch -notext -config " + dir_.File(ca + "-db/ca.cnf") + " -cert " +
        dir_.File(ca + ".pem") + " -keyfile " + dir_.File(ca + ".key") + " -in " + csr + " -out " +
        dir_.File(name + ".pem") + dates);
  }

  std::string Pem(const std::string& name) const { return ReadFile(dir_.File(name + ".pem")); }
  std::string Key(const std::string& name) const { return ReadFile(dir_.File(name + ".key")); }
  bool ok() const { return ok_; }

 private:
  void Run(const std::string& command) {
    int rc = -1;
    std::string out = RunShell(command, &rc);
    if (rc != 0) {
      ADD_FAILURE() << command << ":\n" << out;
      ok_ = false;
    }
  }

  const TempDir& dir_;
  bool ok_ = true;
};

// gRPC channel credentials for a test client: trust `ca`, present `cert`.
std::shared_ptr<grpc::Channel> TlsChannel(const Pki& pki, const std::string& address,
                                          const std::string& ca, const std::string& cert = "") {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pki.Pem(ca);
  if (!cert.empty()) {
    ssl.pem_cert_chain = pki.Pem(cert);
    ssl.pem_private_key = pki.Key(cert);
  }
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args);
}

v1::IngestRequest Hello(const std::string& id) {
  v1::IngestRequest r;
  r.mutable_hello()->set_agent_id(id);
  r.mutable_hello()->set_hostname("test-host");
  return r;
}

v1::IngestRequest GaugeBatch(const std::string& id, uint64_t epoch, uint64_t sequence,
                             const std::string& name, double value, int64_t ts,
                             const LabelSet& labels = {}) {
  v1::IngestRequest r;
  v1::Batch* b = r.mutable_batch();
  b->set_agent_id(id);
  b->set_epoch(epoch);
  b->set_sequence(sequence);
  v1::Series* s = b->add_series();
  s->set_name(name);
  s->set_type(v1::METRIC_TYPE_GAUGE);
  for (const auto& [k, v] : labels) {
    v1::Label* l = s->add_labels();
    l->set_name(k);
    l->set_value(v);
  }
  v1::Point* p = s->add_points();
  p->set_timestamp_ms(ts);
  p->set_number(value);
  return r;
}

struct Attempt {
  grpc::Status status;
  std::vector<v1::BatchAck> acks;
};

// Opens an ingest stream, says hello as `id`, sends one batch and reads
// until the collector ends the stream.
Attempt TryIngest(const std::shared_ptr<grpc::Channel>& channel, const std::string& id,
                  const std::string& token = "", uint64_t epoch = 1) {
  auto stub = v1::Ingest::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  auto stream = stub->Stream(&ctx);
  Attempt a;
  if (stream->Write(Hello(id)) &&
      stream->Write(GaugeBatch(id, epoch, 1, "attempt_gauge", 1, NowMs()))) {
    stream->WritesDone();
  }
  v1::IngestResponse response;
  while (stream->Read(&response)) a.acks.push_back(response.ack());
  a.status = stream->Finish();
  return a;
}

// When `id` last delivered a batch (0: never).
int64_t LastSeen(const std::shared_ptr<grpc::Channel>& channel, const std::string& id) {
  auto stub = v1::Query::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::ListAgentsResponse response;
  if (!stub->ListAgents(&ctx, {}, &response).ok()) return 0;
  for (const auto& a : response.agents()) {
    if (a.agent_id() == id && a.latest_size() > 0) return a.last_seen_ms();
  }
  return 0;
}

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_.MakeCa("ca");
    pki_.MakeCa("rogue-ca");
    pki_.MakeCa("ca2");
    pki_.Issue("ca", "server", "localhost", "DNS:localhost,IP:127.0.0.1");
    pki_.Issue("ca", "agent-good", "agent-good");
    pki_.Issue("ca", "agent-san", "some-host", "DNS:agent-san");
    pki_.Issue("ca", "agent-other", "agent-other");
    pki_.Issue("ca", "agent-expired", "agent-good", "", "20200101000000Z", "20200102000000Z");
    pki_.Issue("rogue-ca", "agent-rogue", "agent-good");
    ASSERT_TRUE(pki_.ok());
    WriteFile(dir_.File("token-agent.token"), "lab-secret\n");
  }

  void StartSecureCollector() {
    WriteFile(dir_.File("collector.yaml"),
              "tls:\n  cert: " + dir_.File("server.pem") + "\n  key: " + dir_.File("server.key") +
                  "\n  client_ca: " + dir_.File("ca.pem") +
                  "\n  require_client_cert: true\n  reload_interval: 1s\n"
                  "enrollment:\n  tokens:\n"
                  "    - {name: lab, sha256: " +
                  collector::Sha256Hex("lab-secret") +
                  ", agent_id: token-agent}\n"
                  "    - {name: fleet, sha256: " +
                  collector::Sha256Hex("fleet-secret") +
                  ", id_prefix: fleet-}\n"
                  "    - {name: old, sha256: " +
                  collector::Sha256Hex("old-secret") +
                  ", agent_id: old-agent}\n"
                  "  revoked: [" +
                  collector::Sha256Hex("old-secret") + "]\n");
    auto c =
        StartCollector(dir_, &address_, "127.0.0.1:0", {"--config", dir_.File("collector.yaml")});
    ASSERT_TRUE(c.ok()) << c.status();
    collector_ = std::make_unique<Process>(std::move(*c));
    admin_ = TlsChannel(pki_, address_, "ca");
  }

  // A real agent reporting every second over TLS, with a certificate or a token.
  std::unique_ptr<Process> StartAgent(const std::string& id, const std::string& tls_lines,
                                      const std::string& ca_file = "") {
    WriteFile(dir_.File(id + ".yaml"),
              "agent_id: " + id + "\ninterval: 1s\nstate_dir: " + dir_.File(id + "-state") +
                  "\ncollector:\n  addresses: [\"" + address_ +
                  "\"]\n  backoff_initial: 100ms\n  backoff_max: 1s\n"
                  "tls:\n  ca: " +
                  (ca_file.empty() ? dir_.File("ca.pem") : ca_file) +
                  "\n  server_name: localhost\n  reload_interval: 1s\n" + tls_lines);
    auto p = Process::Start({PLUMBLINE_AGENT_BIN, "--config", dir_.File(id + ".yaml")},
                            dir_.File(id + ".log"));
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::make_unique<Process>(std::move(*p)) : nullptr;
  }

  void TearDown() override {
    admin_.reset();
    if (collector_) {
      EXPECT_EQ(collector_->Stop(SIGTERM, 10s), 0) << collector_->Log();
    }
  }

  TempDir dir_{"security"};
  Pki pki_{dir_};
  std::string address_;
  std::unique_ptr<Process> collector_;
  std::shared_ptr<grpc::Channel> admin_;
};

TEST_F(SecurityTest, OnlyAgentsWithValidCredentialsWriteAndOnlyAsThemselves) {
  StartSecureCollector();
  ASSERT_TRUE(collector_);
  auto good = StartAgent("agent-good", "  cert: " + dir_.File("agent-good.pem") +
                                           "\n  key: " + dir_.File("agent-good.key") + "\n");
  auto by_token =
      StartAgent("token-agent", "enrollment_token_file: " + dir_.File("token-agent.token") + "\n");
  ASSERT_TRUE(good && by_token);
  ASSERT_TRUE(WaitFor([&] { return LastSeen(admin_, "agent-good") > 0; }, 20s))
      << good->Log() << collector_->Log();
  ASSERT_TRUE(WaitFor([&] { return LastSeen(admin_, "token-agent") > 0; }, 20s))
      << by_token->Log() << collector_->Log();

  // A certificate for another id.
  Attempt other = TryIngest(TlsChannel(pki_, address_, "ca", "agent-other"), "agent-good");
  EXPECT_EQ(other.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(other.status.error_message(),
            "hello: agent_id \"agent-good\" is not allowed for certificate \"agent-other\" "
            "(allowed: agent-other)");
  EXPECT_TRUE(other.acks.empty());
  // The id may also come from a DNS subjectAltName.
  Attempt san = TryIngest(TlsChannel(pki_, address_, "ca", "agent-san"), "agent-san");
  EXPECT_TRUE(san.status.ok()) << san.status.error_message();
  ASSERT_EQ(san.acks.size(), 1u);
  EXPECT_EQ(san.acks[0].result(), v1::ACK_STORED);
  // Expired, untrusted, none.
  Attempt expired = TryIngest(TlsChannel(pki_, address_, "ca", "agent-expired"), "agent-good");
  EXPECT_EQ(expired.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(expired.status.error_message(), "the client certificate \"agent-good\" has expired");
  Attempt rogue = TryIngest(TlsChannel(pki_, address_, "ca", "agent-rogue"), "agent-good");
  EXPECT_EQ(rogue.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(rogue.status.error_message(),
            "the client certificate \"agent-good\" is not trusted by this collector: unable to "
            "get local issuer certificate");
  Attempt none = TryIngest(TlsChannel(pki_, address_, "ca"), "agent-good");
  EXPECT_EQ(none.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(none.status.error_message(),
            "this collector requires a client certificate or an enrollment token (agent "
            "tls.cert/tls.key or enrollment_token_file)");
  // Tokens: revoked, unknown, another id than granted, a prefix grant.
  Attempt revoked = TryIngest(TlsChannel(pki_, address_, "ca"), "old-agent", "old-secret");
  EXPECT_EQ(revoked.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(revoked.status.error_message(), "the enrollment token has been revoked");
  Attempt unknown = TryIngest(TlsChannel(pki_, address_, "ca"), "token-agent", "guess");
  EXPECT_EQ(unknown.status.error_message(), "the enrollment token is not valid");
  Attempt stolen = TryIngest(TlsChannel(pki_, address_, "ca"), "agent-good", "lab-secret");
  EXPECT_EQ(stolen.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(stolen.status.error_message(),
            "hello: agent_id \"agent-good\" is not allowed for enrollment token \"lab\" (allowed: "
            "token-agent)");
  Attempt fleet = TryIngest(TlsChannel(pki_, address_, "ca"), "fleet-7", "fleet-secret");
  EXPECT_TRUE(fleet.status.ok()) << fleet.status.error_message();
  ASSERT_EQ(fleet.acks.size(), 1u);
  EXPECT_EQ(fleet.acks[0].result(), v1::ACK_STORED);
  // Plaintext does not even reach the service.
  auto plain = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
  Attempt cleartext = TryIngest(plain, "agent-good");
  EXPECT_EQ(cleartext.status.error_code(), grpc::StatusCode::UNAVAILABLE);

  // Every refusal was counted by reason.
  EXPECT_EQ(CollectorCounter(admin_, "plumbline_ingest_auth_denied_total", "certificate_expired"),
            1);
  EXPECT_EQ(CollectorCounter(admin_, "plumbline_ingest_auth_denied_total", "certificate_untrusted"),
            1);
  EXPECT_EQ(CollectorCounter(admin_, "plumbline_ingest_auth_denied_total", "no_credentials"), 1);
  EXPECT_EQ(CollectorCounter(admin_, "plumbline_ingest_auth_denied_total", "token_revoked"), 1);
  EXPECT_EQ(CollectorCounter(admin_, "plumbline_ingest_auth_denied_total", "token_unknown"), 1);
  EXPECT_EQ(CollectorCounter(admin_, "plumbline_ingest_rejected_total", "identity"), 2);

  // The real agents kept delivering all along.
  const int64_t mark = NowMs();
  EXPECT_TRUE(WaitFor([&] { return LastSeen(admin_, "agent-good") > mark; }, 10s));
  EXPECT_TRUE(WaitFor([&] { return LastSeen(admin_, "token-agent") > mark; }, 10s));

  // The HTTP API is served over HTTPS with the same certificate.
  std::string http = nlohmann::json::parse(ReadFile(dir_.File("collector.ready")))["http"];
  httplib::Client https("https://" + http);
  https.set_ca_cert_path(dir_.File("ca.pem").c_str());
  https.enable_server_certificate_verification(true);
  auto healthz = https.Get("/healthz");
  ASSERT_TRUE(healthz) << httplib::to_string(healthz.error());
  EXPECT_EQ(healthz->status, 200);

  EXPECT_EQ(good->Stop(SIGTERM, 10s), 0) << good->Log();
  EXPECT_EQ(by_token->Stop(SIGTERM, 10s), 0) << by_token->Log();
}

TEST_F(SecurityTest, RevokingATokenOnSighupEndsItsOpenStream) {
  StartSecureCollector();
  ASSERT_TRUE(collector_);
  auto stub = v1::Ingest::NewStub(TlsChannel(pki_, address_, "ca"));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 20s);
  ctx.AddMetadata("authorization", "Bearer fleet-secret");
  auto stream = stub->Stream(&ctx);
  ASSERT_TRUE(stream->Write(Hello("fleet-1")));
  ASSERT_TRUE(stream->Write(GaugeBatch("fleet-1", 5, 1, "g", 1, NowMs())));
  v1::IngestResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.ack().result(), v1::ACK_STORED);

  std::string config = ReadFile(dir_.File("collector.yaml"));
  config.replace(config.find("revoked: ["), 10,
                 "revoked: [" + collector::Sha256Hex("fleet-secret") + ", ");
  WriteFile(dir_.File("collector.yaml"), config);
  ASSERT_EQ(kill(collector_->pid(), SIGHUP), 0);
  ASSERT_TRUE(WaitFor(
      [&] { return collector_->Log().find("enrollment tokens reloaded") != std::string::npos; },
      10s))
      << collector_->Log();

  stream->Write(GaugeBatch("fleet-1", 5, 2, "g", 2, NowMs()));
  EXPECT_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status.error_message(), "the enrollment token has been revoked");
  EXPECT_EQ(
      TryIngest(TlsChannel(pki_, address_, "ca"), "fleet-1", "fleet-secret").status.error_message(),
      "the enrollment token has been revoked");
  EXPECT_EQ(collector_->Log().find("fleet-secret"), std::string::npos);  // never logged
}

TEST_F(SecurityTest, RotatedCertificatesAreUsedWithoutARestartOrLostData) {
  pki_.Issue("ca2", "server2", "localhost", "DNS:localhost,IP:127.0.0.1");
  pki_.Issue("ca2", "agent-ca2", "agent-good");
  ASSERT_TRUE(pki_.ok());
  // The agent trusts both CAs, so it follows the collector across the change.
  WriteFile(dir_.File("both-ca.pem"), pki_.Pem("ca") + pki_.Pem("ca2"));
  StartSecureCollector();
  ASSERT_TRUE(collector_);
  auto good = StartAgent(
      "agent-good",
      "  cert: " + dir_.File("agent-good.pem") + "\n  key: " + dir_.File("agent-good.key") + "\n",
      dir_.File("both-ca.pem"));
  ASSERT_TRUE(good);
  ASSERT_TRUE(WaitFor([&] { return LastSeen(admin_, "agent-good") > 0; }, 20s)) << good->Log();
  // Not yet: the collector presents the old certificate, and trusts only ca.
  auto new_ca_only = [&] {
    auto stub = v1::Query::NewStub(TlsChannel(pki_, address_, "ca2"));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 2s);
    v1::GetStatsResponse r;
    return stub->GetStats(&ctx, {}, &r).ok();
  };
  EXPECT_FALSE(new_ca_only());
  EXPECT_EQ(
      TryIngest(TlsChannel(pki_, address_, "ca", "agent-ca2"), "agent-good").status.error_code(),
      grpc::StatusCode::UNAUTHENTICATED);

  // Rotate: new server certificate and key, client CA bundle with both CAs.
  // Each file is replaced by a rename, as certificate tools do.
  auto replace = [&](const std::string& name, const std::string& text) {
    WriteFile(dir_.File(name + ".tmp"), text);
    std::filesystem::rename(dir_.File(name + ".tmp"), dir_.File(name));
  };
  replace("server.key", pki_.Key("server2"));
  replace("server.pem", pki_.Pem("server2"));
  replace("ca.pem", pki_.Pem("ca") + pki_.Pem("ca2"));
  EXPECT_TRUE(WaitFor(new_ca_only, 15s)) << collector_->Log();
  admin_ = TlsChannel(pki_, address_, "ca");  // ca.pem now holds both CAs
  Attempt rotated =
      TryIngest(TlsChannel(pki_, address_, "ca2", "agent-ca2"), "agent-good", "", /*epoch=*/77);
  EXPECT_TRUE(rotated.status.ok()) << rotated.status.error_message();

  // The agent delivered throughout, and nothing it sent was refused.
  const int64_t mark = NowMs();
  EXPECT_TRUE(WaitFor([&] { return LastSeen(admin_, "agent-good") > mark; }, 15s)) << good->Log();
  EXPECT_EQ(CollectorCounter(admin_, "plumbline_ingest_batches_total", "retry"), 0);
  EXPECT_EQ(good->Stop(SIGTERM, 10s), 0);
  EXPECT_EQ(good->Log().find("collector refused"), std::string::npos) << good->Log();
  EXPECT_NE(good->Log().find(" 0 refused"), std::string::npos) << good->Log();
}

// 100 well-behaved senders and one that floods oversized batches and
// exploding label sets, ignoring every retry hint. The flood is refused and
// throttled, counted by reason; every sample of the others is stored.
TEST(SecurityFlood, OneHostileSenderCostsWellBehavedSendersNothing) {
  TempDir dir("flood");
  WriteFile(dir.File("collector.yaml"),
            "ingest:\n  max_message_size: 64KiB\n  max_batches_per_second: 20\n"
            "  max_new_series_per_minute: 600\n");
  std::string address;
  auto collector =
      StartCollector(dir, &address, "127.0.0.1:0", {"--config", dir.File("collector.yaml")});
  ASSERT_TRUE(collector.ok()) << collector.status();
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());

  const int64_t base = NowMs() / 1000 * 1000 - 60000;
  constexpr int kSenders = 100, kBatches = 10, kSeriesPerBatch = 3;
  std::atomic<bool> stop{false};
  std::atomic<int> attacker_rounds{0};

  std::thread attacker([&] {
    auto stub = v1::Ingest::NewStub(channel);
    uint64_t sequence = 0;
    int round = 0;
    while (!stop) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 5s);
      auto stream = stub->Stream(&ctx);
      if (!stream->Write(Hello("hostile"))) {
        stream->Finish();
        continue;
      }
      std::thread drain([&] {
        v1::IngestResponse r;
        while (stream->Read(&r)) {
        }
      });
      for (int i = 0; i < 50 && !stop; ++i) {
        v1::IngestRequest req = GaugeBatch("hostile", 1, ++sequence, "hostile_gauge", 1, NowMs());
        v1::Series* s = req.mutable_batch()->mutable_series(0);
        if (i % 5 == 0) {
          // Oversized: 100 KiB of label value spread over many series.
          for (int k = 0; k < 100; ++k) {
            v1::Series* big = req.mutable_batch()->add_series();
            *big = *s;
            v1::Label* l = big->add_labels();
            l->set_name("pad");
            l->set_value(std::string(1000, 'x') + std::to_string(k));
          }
        } else {
          // An exploding label set: 700 never-seen series, more than a
          // whole minute's budget.
          for (int k = 0; k < 700; ++k) {
            v1::Series* boom = req.mutable_batch()->add_series();
            *boom = *s;
            v1::Label* l = boom->add_labels();
            l->set_name("request_id");
            l->set_value(std::to_string(round) + "-" + std::to_string(i) + "-" + std::to_string(k));
          }
        }
        if (!stream->Write(req)) break;
      }
      stream->WritesDone();
      drain.join();
      stream->Finish();
      ++round;
      ++attacker_rounds;
    }
  });

  // Each well-behaved sender delivers its batches, resending what the
  // collector asks to retry, until every one is stored.
  std::atomic<int> senders_failed{0};
  auto sender = [&](int id) {
    const std::string agent = "good-" + std::to_string(id);
    auto stub = v1::Ingest::NewStub(channel);
    std::map<uint64_t, v1::IngestRequest> pending;
    for (int b = 1; b <= kBatches; ++b) {
      v1::IngestRequest req = GaugeBatch(agent, 1, static_cast<uint64_t>(b), "flood_good",
                                         id * 1000 + b, base + b * 1000, {{"sender", agent}});
      for (int k = 1; k < kSeriesPerBatch; ++k) {
        v1::Series* s = req.mutable_batch()->add_series();
        *s = req.batch().series(0);
        s->mutable_labels(0)->set_value(agent);
        v1::Label* l = s->add_labels();
        l->set_name("k");
        l->set_value(std::to_string(k));
      }
      pending.emplace(b, std::move(req));
    }
    for (int attempt = 0; attempt < 30 && !pending.empty(); ++attempt) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 20s);
      auto stream = stub->Stream(&ctx);
      stream->Write(Hello(agent));
      for (const auto& [seq, req] : pending) stream->Write(req);
      stream->WritesDone();
      uint32_t pause = 0;
      v1::IngestResponse r;
      while (stream->Read(&r)) {
        if (r.ack().result() == v1::ACK_RETRY) {
          pause = std::max(pause, r.ack().retry_after_ms());
        } else if (r.ack().result() == v1::ACK_STORED || r.ack().result() == v1::ACK_DUPLICATE) {
          if (r.ack().rejected_series() == 0) pending.erase(r.ack().sequence());
        }
      }
      stream->Finish();
      if (!pending.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(pause + 50));
    }
    if (!pending.empty()) ++senders_failed;
  };
  std::vector<std::thread> senders;
  for (int id = 0; id < kSenders; ++id) senders.emplace_back(sender, id);
  for (auto& t : senders) t.join();
  // Keep the flood going a little past the good senders, then stop it.
  WaitFor([&] { return attacker_rounds.load() >= 3; }, 10s);
  stop = true;
  attacker.join();
  EXPECT_EQ(senders_failed.load(), 0);

  // Every sample of every well-behaved sender is stored, with its value.
  auto query = v1::Query::NewStub(channel);
  int complete = 0;
  for (int id = 0; id < kSenders; ++id) {
    const std::string agent = "good-" + std::to_string(id);
    grpc::ClientContext ctx;
    v1::QuerySeriesRequest q;
    q.set_name("flood_good");
    v1::Label* m = q.add_match();
    m->set_name("sender");
    m->set_value(agent);
    q.set_from_ms(base - 1000);
    q.set_to_ms(base + 60000);
    q.set_limit(1000);
    v1::QuerySeriesResponse found;
    ASSERT_TRUE(query->QuerySeries(&ctx, q, &found).ok());
    bool all = found.series_size() == kSeriesPerBatch;
    for (const auto& s : found.series()) {
      all = all && s.values_size() == kBatches;
      for (int b = 0; b < s.values_size() && all; ++b) {
        all = s.timestamps_ms(b) == base + (b + 1) * 1000 && s.values(b) == id * 1000 + b + 1;
      }
    }
    complete += all ? 1 : 0;
    EXPECT_TRUE(all) << agent << ": " << found.DebugString();
  }
  EXPECT_EQ(complete, kSenders);

  // The flood was refused and throttled, each reason counted.
  EXPECT_GT(CollectorCounter(channel, "plumbline_ingest_rejected_total", "too_large"), 0);
  EXPECT_GT(CollectorCounter(channel, "plumbline_ingest_throttled_total", "batch_rate") +
                CollectorCounter(channel, "plumbline_ingest_throttled_total", "new_series"),
            0);
  EXPECT_GT(CollectorCounter(channel, "plumbline_ingest_rejected_series_total", "cardinality"), 0);
  EXPECT_TRUE(collector->Running());
  EXPECT_EQ(collector->Stop(SIGTERM, 10s), 0) << collector->Log();
}

}  // namespace
}  // namespace plumbline::testing
