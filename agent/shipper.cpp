#include "agent/shipper.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <map>

#include "plumbline/v1/ingest.grpc.pb.h"

namespace plumbline::agent {

namespace {

using Clock = std::chrono::steady_clock;
using BatchId = std::pair<uint64_t, uint64_t>;  // (epoch, sequence)

// Plaintext, or TLS whose files are watched for changes: a renewed client
// certificate is used from the next handshake on.
std::shared_ptr<grpc::ChannelCredentials> MakeCredentials(const ShipperOptions& o) {
  if (o.tls_ca.empty() && o.tls_cert.empty()) return grpc::InsecureChannelCredentials();
  const auto interval_s =
      static_cast<unsigned int>(std::max<int64_t>(1, o.tls_reload_interval.count() / 1000));
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      o.tls_key, o.tls_cert, o.tls_ca, interval_s);
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  if (!o.tls_ca.empty()) options.watch_root_certs();
  if (!o.tls_cert.empty()) options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  return grpc::experimental::TlsCredentials(options);
}

// The first line of the token file; empty if unreadable.
std::string ReadToken(const std::string& file) {
  std::ifstream in(file);
  std::string token;
  std::getline(in, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  return token;
}

}  // namespace

Shipper::Shipper(ShipperOptions options, BatchQueue* queue, v1::AgentInfo info)
    : options_(std::move(options)),
      credentials_(MakeCredentials(options_)),
      queue_(queue),
      info_(std::move(info)),
      rng_(std::random_device{}()) {}

Shipper::~Shipper() { Stop(std::chrono::milliseconds(0)); }

void Shipper::Start() {
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
}

void Shipper::Stop(std::chrono::milliseconds drain) {
  if (!thread_.joinable()) return;
  auto deadline = Clock::now() + drain;
  while (Clock::now() < deadline && queue_->Stats().batches > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stopping_ = true;
  sleep_cv_.notify_all();
  queue_->Wake();
  thread_.join();
}

ShipperStats Shipper::Stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

bool Shipper::SleepFor(std::chrono::milliseconds d) {
  std::unique_lock lock(sleep_mu_);
  return !sleep_cv_.wait_for(lock, d, [this] { return stopping_.load(); });
}

void Shipper::Run() {
  size_t index = 0;
  int failures = 0;
  while (!stopping_) {
    const std::string& address = options_.addresses[index % options_.addresses.size()];
    bool progressed = Session(address);
    if (stopping_) break;
    if (progressed) {
      failures = 0;
    } else {
      ++failures;
      ++index;  // fail over to the next address
    }
    // Full jitter: uniform in [0, min(max, initial * 2^failures)].
    int64_t cap = options_.backoff_initial.count() << std::min(failures, 20);
    cap = std::min<int64_t>(cap, options_.backoff_max.count());
    std::uniform_int_distribution<int64_t> jitter(0, std::max<int64_t>(cap, 1));
    SleepFor(std::chrono::milliseconds(jitter(rng_)));
  }
}

bool Shipper::Session(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 4 << 20);
  // A fresh channel per session, so a failover really moves.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (!options_.tls_server_name.empty()) args.SetSslTargetNameOverride(options_.tls_server_name);
  auto channel = grpc::CreateCustomChannel(address, credentials_, args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + options_.connect_timeout)) {
    std::lock_guard lock(stats_mu_);
    ++stats_.connect_failures;
    spdlog::debug("collector {} not reachable", address);
    return false;
  }
  auto stub = v1::Ingest::NewStub(channel);
  grpc::ClientContext context;
  if (!options_.enrollment_token_file.empty()) {
    std::string token = ReadToken(options_.enrollment_token_file);
    if (token.empty()) {
      spdlog::error("enrollment_token_file {}: no token in it", options_.enrollment_token_file);
    } else {
      context.AddMetadata("authorization", "Bearer " + token);
    }
  }
  auto stream = stub->Stream(&context);
  v1::IngestRequest hello;
  *hello.mutable_hello() = info_;
  if (!stream->Write(hello)) {
    stream->Finish();
    std::lock_guard lock(stats_mu_);
    ++stats_.connect_failures;
    return false;
  }
  {
    std::lock_guard lock(stats_mu_);
    ++stats_.connects;
    stats_.connected = true;
  }
  spdlog::info("connected to collector {}", address);

  std::mutex mu;
  std::condition_variable cv;
  std::map<BatchId, Clock::time_point> in_flight;
  bool reader_done = false;
  bool progressed = false;
  Clock::time_point pause_until = Clock::now();

  std::thread reader([&] {
    v1::IngestResponse response;
    while (stream->Read(&response)) {
      if (!response.has_ack()) continue;
      const v1::BatchAck& ack = response.ack();
      BatchId id{ack.epoch(), ack.sequence()};
      {
        std::lock_guard lock(stats_mu_);
        stats_.rejected_series += ack.rejected_series();
        switch (ack.result()) {
          case v1::ACK_STORED:
            ++stats_.stored;
            break;
          case v1::ACK_DUPLICATE:
            ++stats_.duplicates;
            break;
          case v1::ACK_REJECTED:
            ++stats_.rejected;
            break;
          default:
            ++stats_.retry_acks;
            break;
        }
      }
      if (ack.result() == v1::ACK_STORED || ack.result() == v1::ACK_DUPLICATE ||
          ack.result() == v1::ACK_REJECTED) {
        if (ack.result() == v1::ACK_REJECTED || ack.rejected_series() > 0) {
          spdlog::warn("collector refused {} of batch {}/{}: {}",
                       ack.result() == v1::ACK_REJECTED ? "all" : "part", ack.epoch(),
                       ack.sequence(), ack.message());
        }
        queue_->Ack(ack.epoch(), ack.sequence());
      } else {
        queue_->Release(ack.epoch(), ack.sequence());
      }
      std::lock_guard lock(mu);
      in_flight.erase(id);
      progressed = true;
      if (ack.result() == v1::ACK_RETRY) {
        auto hint = std::chrono::milliseconds(std::max<uint32_t>(ack.retry_after_ms(), 50));
        pause_until = std::max(pause_until, Clock::now() + hint);
      }
      cv.notify_all();
    }
    std::lock_guard lock(mu);
    reader_done = true;
    cv.notify_all();
  });

  while (!stopping_) {
    {
      std::unique_lock lock(mu);
      cv.wait_for(lock, std::chrono::milliseconds(100), [&] {
        return reader_done || stopping_ ||
               in_flight.size() < static_cast<size_t>(options_.max_in_flight);
      });
      if (reader_done) break;
      auto now = Clock::now();
      bool timed_out = false;
      for (const auto& [id, sent_at] : in_flight) {
        if (now - sent_at > options_.ack_timeout) timed_out = true;
      }
      if (timed_out) {
        spdlog::warn("collector {} did not acknowledge within {} ms; reconnecting", address,
                     options_.ack_timeout.count());
        break;
      }
      if (in_flight.size() >= static_cast<size_t>(options_.max_in_flight)) continue;
      if (now < pause_until) {
        cv.wait_until(lock, pause_until, [&] { return reader_done || stopping_.load(); });
        continue;
      }
    }
    std::optional<v1::Batch> batch = queue_->NextToSend(std::chrono::milliseconds(100));
    if (!batch) continue;
    BatchId id{batch->epoch(), batch->sequence()};
    v1::IngestRequest request;
    *request.mutable_batch() = std::move(*batch);
    {
      std::lock_guard lock(mu);
      in_flight[id] = Clock::now();
    }
    if (!stream->Write(request)) break;
    std::lock_guard lock(stats_mu_);
    ++stats_.sent;
  }

  context.TryCancel();
  reader.join();
  grpc::Status status = stream->Finish();
  queue_->ReleaseAll();
  {
    std::lock_guard lock(stats_mu_);
    stats_.connected = false;
  }
  if (!stopping_) {
    spdlog::warn("stream to collector {} ended: {} {}", address,
                 static_cast<int>(status.error_code()), status.error_message());
  }
  return progressed;
}

}  // namespace plumbline::agent
