// Hostile and broken input to a real collector process: each is refused with
// a clear status and a counter, and the collector keeps serving.
#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <random>

#include "plumbline/v1/ingest.grpc.pb.h"
#include "plumbline/v1/query.grpc.pb.h"
#include "tests/integration/collector_stats.h"
#include "tests/integration/process.h"

namespace plumbline::testing {
namespace {

using namespace std::chrono_literals;

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = StartCollector(dir_, &address_);
    ASSERT_TRUE(c.ok()) << c.status();
    collector_ = std::make_unique<Process>(std::move(*c));
    channel_ = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
  }
  void TearDown() override {
    channel_.reset();
    if (collector_) {
      EXPECT_EQ(collector_->Stop(SIGTERM, 10s), 0) << collector_->Log();
    }
  }

  double Counter(const std::string& name, const std::string& label_value = "") {
    return CollectorCounter(channel_, name, label_value);
  }

  bool StillServing() {
    auto stub = v1::Query::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    v1::ListAgentsResponse response;
    return stub->ListAgents(&ctx, {}, &response).ok();
  }

  static v1::IngestRequest Hello(const std::string& id) {
    v1::IngestRequest r;
    r.mutable_hello()->set_agent_id(id);
    r.mutable_hello()->set_hostname("test-host");
    return r;
  }

  static v1::Series Gauge(const std::string& name, double value) {
    v1::Series s;
    s.set_name(name);
    s.set_type(v1::METRIC_TYPE_GAUGE);
    auto* p = s.add_points();
    p->set_timestamp_ms(1700000000000);
    p->set_number(value);
    return s;
  }

  TempDir dir_{"bad_input"};
  std::string address_;
  std::unique_ptr<Process> collector_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(BadInputTest, GarbageBytesOnTheGrpcPortDoNotHurtTheCollector) {
  std::string host = address_.substr(0, address_.rfind(':'));
  int port = std::stoi(address_.substr(address_.rfind(':') + 1));
  std::mt19937 rng(42);
  for (int round = 0; round < 20; ++round) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    std::string garbage(static_cast<size_t>(1 + rng() % 65536), '\0');
    for (char& c : garbage) c = static_cast<char>(rng());
    if (round == 0) garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";  // the classic mistake
    (void)send(fd, garbage.data(), garbage.size(), MSG_NOSIGNAL);
    char buf[256];
    timeval tv{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)recv(fd, buf, sizeof buf, 0);
    close(fd);
  }
  EXPECT_TRUE(StillServing());
  EXPECT_TRUE(collector_->Running());
}

TEST_F(BadInputTest, MalformedProtobufGetsInvalidArgumentAndACounter) {
  grpc::GenericStub stub(channel_);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  auto call = stub.PrepareCall(&ctx, "/plumbline.v1.Ingest/Stream", &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  const char bad[] = "\x0f\xff\xff\xff\xff\xff\x01\x02";  // wire type 7: not protobuf
  grpc::Slice slice(bad, sizeof bad - 1);
  grpc::ByteBuffer buffer(&slice, 1);
  call->Write(buffer, reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(3));
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "malformed IngestRequest: not a valid protobuf message");
  EXPECT_EQ(Counter("plumbline_ingest_decode_errors_total"), 1);
  EXPECT_TRUE(StillServing());
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(BadInputTest, EmptyMetricNameIsRefusedWhileGoodSeriesAreStored) {
  auto stub = v1::Ingest::NewStub(channel_);
  grpc::ClientContext ctx;
  auto stream = stub->Stream(&ctx);
  ASSERT_TRUE(stream->Write(Hello("bad-agent")));
  v1::IngestRequest request;
  v1::Batch* batch = request.mutable_batch();
  batch->set_agent_id("bad-agent");
  batch->set_epoch(9);
  batch->set_sequence(1);
  *batch->add_series() = Gauge("good_gauge", 1.5);
  *batch->add_series() = Gauge("", 2);
  ASSERT_TRUE(stream->Write(request));
  v1::IngestResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.ack().result(), v1::ACK_STORED);
  EXPECT_EQ(response.ack().rejected_series(), 1u);
  EXPECT_EQ(response.ack().message(), "1 series refused: series[1]: empty metric name");

  // The same batch again (a retry) is a duplicate: nothing is counted twice.
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.ack().result(), v1::ACK_DUPLICATE);

  // A batch for another agent on this stream is refused outright.
  request.mutable_batch()->set_agent_id("someone-else");
  request.mutable_batch()->set_sequence(2);
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.ack().result(), v1::ACK_REJECTED);
  EXPECT_NE(response.ack().message().find("an agent may write only as itself"), std::string::npos);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());

  EXPECT_EQ(Counter("plumbline_ingest_rejected_series_total", "invalid_name"), 1);
  EXPECT_EQ(Counter("plumbline_ingest_rejected_total", "identity"), 1);
  EXPECT_EQ(Counter("plumbline_ingest_batches_total", "stored"), 1);
  EXPECT_EQ(Counter("plumbline_ingest_batches_total", "duplicate"), 1);

  auto query = v1::Query::NewStub(channel_);
  grpc::ClientContext qctx;
  v1::QuerySeriesRequest q;
  q.set_name("good_gauge");
  q.set_from_ms(1699990000000);
  q.set_to_ms(1700010000000);
  v1::QuerySeriesResponse found;
  ASSERT_TRUE(query->QuerySeries(&qctx, q, &found).ok());
  ASSERT_EQ(found.series_size(), 1);
  EXPECT_EQ(found.series(0).values(0), 1.5);
}

// One agent id may hold at most ingest.max_streams_per_agent (4) streams:
// the fifth is refused with a reason, and a stream that closes frees its
// place.
TEST_F(BadInputTest, AnAgentOpeningStreamAfterStreamIsRefusedBeyondTheLimit) {
  auto stub = v1::Ingest::NewStub(channel_);
  struct Open {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReaderWriter<v1::IngestRequest, v1::IngestResponse>> stream;
  };
  uint64_t sequence = 0;
  // Opens a stream as "greedy" and sends one batch: true if it is stored.
  auto open_and_send = [&](Open* o) {
    o->stream = stub->Stream(&o->ctx);
    if (!o->stream->Write(Hello("greedy"))) return false;
    v1::IngestRequest request;
    request.mutable_batch()->set_agent_id("greedy");
    request.mutable_batch()->set_epoch(1);
    request.mutable_batch()->set_sequence(++sequence);
    *request.mutable_batch()->add_series() = Gauge("streams_test", 1);
    v1::IngestResponse response;
    return o->stream->Write(request) && o->stream->Read(&response) &&
           response.ack().result() == v1::ACK_STORED;
  };
  std::vector<std::unique_ptr<Open>> open;
  for (int i = 0; i < 4; ++i) {
    open.push_back(std::make_unique<Open>());
    ASSERT_TRUE(open_and_send(open.back().get())) << "stream " << i + 1;
  }
  Open fifth;
  EXPECT_FALSE(open_and_send(&fifth));
  fifth.stream->WritesDone();
  grpc::Status refused = fifth.stream->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("already has 4 streams open"), std::string::npos)
      << refused.error_message();
  EXPECT_EQ(Counter("plumbline_ingest_rejected_total", "streams"), 1);

  // Closing one makes room (the collector forgets a stream once it is done).
  open[0]->stream->WritesDone();
  EXPECT_TRUE(open[0]->stream->Finish().ok());
  bool stored = false;
  WaitFor(
      [&] {
        Open again;
        stored = open_and_send(&again);
        again.stream->WritesDone();
        (void)again.stream->Finish();
        return stored;
      },
      5s);
  EXPECT_TRUE(stored);
  for (size_t i = 1; i < open.size(); ++i) {
    open[i]->stream->WritesDone();
    EXPECT_TRUE(open[i]->stream->Finish().ok());
  }
  EXPECT_TRUE(StillServing());
}

TEST_F(BadInputTest, BatchBeforeHelloEndsTheStreamWithAReason) {
  auto stub = v1::Ingest::NewStub(channel_);
  grpc::ClientContext ctx;
  auto stream = stub->Stream(&ctx);
  v1::IngestRequest request;
  request.mutable_batch()->set_agent_id("x");
  request.mutable_batch()->set_epoch(1);
  request.mutable_batch()->set_sequence(1);
  stream->Write(request);
  v1::IngestResponse response;
  EXPECT_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "send hello (AgentInfo) before the first batch");
  EXPECT_EQ(Counter("plumbline_ingest_rejected_total", "no_hello"), 1);
  EXPECT_TRUE(StillServing());
}

TEST_F(BadInputTest, QueryWithInvertedWindowIsInvalidArgument) {
  auto stub = v1::Query::NewStub(channel_);
  grpc::ClientContext ctx;
  v1::QuerySeriesRequest q;
  q.set_name("x");
  q.set_from_ms(2000);
  q.set_to_ms(1000);
  v1::QuerySeriesResponse r;
  grpc::Status s = stub->QuerySeries(&ctx, q, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "window: to is before from");
}

TEST(CollectorStartup, BrokenConfigNamesFileLineAndKeyAndExitsNonZero) {
  TempDir dir("bad_config");
  WriteFile(dir.File("collector.yaml"), "listen: 127.0.0.1:0\nstorage:\n  durabilty: full\n");
  auto p = Process::Start({PLUMBLINE_COLLECTOR_BIN, "--config", dir.File("collector.yaml")},
                          dir.File("out.log"));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(WaitFor([&] { return !p->Running(); }, 10s));
  EXPECT_EQ(p->Stop(SIGTERM, 1s), 2);
  EXPECT_EQ(p->Log(), "plumbline-collector: " + dir.File("collector.yaml") +
                          ":3: storage.durabilty: unknown key\n");
}

TEST(AgentStartup, BrokenConfigNamesFileLineAndKeyAndExitsNonZero) {
  TempDir dir("bad_agent_config");
  WriteFile(dir.File("agent.yaml"), "interval: often\n");
  auto p = Process::Start({PLUMBLINE_AGENT_BIN, "--config", dir.File("agent.yaml")},
                          dir.File("out.log"));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(WaitFor([&] { return !p->Running(); }, 10s));
  EXPECT_EQ(p->Stop(SIGTERM, 1s), 2);
  EXPECT_EQ(p->Log(),
            "plumbline-agent: " + dir.File("agent.yaml") +
                ":1: interval: expected a duration such as 10s or 500ms, got \"often\"\n");
}

// Plaintext reaches the network only when asked for: without tls, a
// collector listening on a non-loopback address and an agent sending to a
// collector on another host refuse to start, saying why; tls.plaintext: true
// lets them (with the warning).
TEST(PlaintextOffThisHost, NeedsToBeAskedForExplicitly) {
  TempDir dir("plaintext");
  WriteFile(dir.File("collector.yaml"), "storage: {path: " + dir.File("c.db") + "}\n");
  auto refused = Process::Start({PLUMBLINE_COLLECTOR_BIN, "--config", dir.File("collector.yaml"),
                                 "--listen", "0.0.0.0:0", "--http-listen", ""},
                                dir.File("refused.log"));
  ASSERT_TRUE(refused.ok());
  ASSERT_TRUE(WaitFor([&] { return !refused->Running(); }, 10s));
  EXPECT_EQ(refused->Stop(SIGTERM, 1s), 1);
  EXPECT_NE(refused->Log().find("listen address 0.0.0.0:0 is reachable from the network and no "
                                "tls is configured"),
            std::string::npos)
      << refused->Log();

  WriteFile(dir.File("collector.yaml"),
            "storage: {path: " + dir.File("c.db") + "}\ntls: {plaintext: true}\n");
  std::string address;
  auto served =
      StartCollector(dir, &address, "0.0.0.0:0", {"--config", dir.File("collector.yaml")});
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_NE(served->Log().find("PLAINTEXT"), std::string::npos) << served->Log();
  EXPECT_EQ(served->Stop(SIGTERM, 20s), 0) << served->Log();

  // 192.0.2.1 (TEST-NET-1) is never this host.
  WriteFile(dir.File("agent.yaml"), "agent_id: far\nstate_dir: " + dir.File("state") +
                                        "\ncollector: {addresses: [\"192.0.2.1:7070\"]}\n");
  auto agent = Process::Start({PLUMBLINE_AGENT_BIN, "--config", dir.File("agent.yaml")},
                              dir.File("agent.log"));
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(WaitFor([&] { return !agent->Running(); }, 10s));
  EXPECT_EQ(agent->Stop(SIGTERM, 1s), 1);
  EXPECT_NE(agent->Log().find("collector 192.0.2.1:7070 is not on this host and no tls is "
                              "configured"),
            std::string::npos)
      << agent->Log();
}

}  // namespace
}  // namespace plumbline::testing
