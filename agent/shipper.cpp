#include "agent/shipper.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "agent/send_window.h"
#include "common/clock.h"
#include "common/yaml_config.h"
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
  // What is queued now is the backlog; batches pushed from here on are fresh.
  queue_->MarkBacklog();
  const QueueStats queued = queue_->Stats();
  if (queued.backlog > 0) {
    const int64_t oldest_age_ms =
        std::max<int64_t>(0, SystemClock::Instance().NowMs() - queued.oldest_created_ms);
    spdlog::info(
        "connected to collector {}; replaying a backlog of {} batches (oldest {} old) beside "
        "fresh data, at most {} batches/s (0: no limit)",
        address, queued.backlog, FormatDuration(std::chrono::milliseconds(oldest_age_ms)),
        options_.replay_batches_per_second);
  } else {
    spdlog::info("connected to collector {}", address);
  }

  struct Sent {
    Clock::time_point at;
    SendLane lane;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::map<BatchId, Sent> in_flight;
  SendWindow window(options_.max_in_flight, options_.replay_batches_per_second, Clock::now());
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
      if (auto it = in_flight.find(id); it != in_flight.end()) {
        const bool backlog_was_full = it->second.lane == SendLane::kBacklog &&
                                      window.backlog_in_flight() >= window.backlog_slots();
        window.Done(it->second.lane);
        in_flight.erase(it);
        // The sender may be waiting for a fresh batch only: let it look again.
        if (backlog_was_full) queue_->Wake();
      }
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

  constexpr auto kPoll = std::chrono::milliseconds(100);
  while (!stopping_) {
    SendLanes lanes;
    std::chrono::milliseconds wait = kPoll;
    {
      std::unique_lock lock(mu);
      cv.wait_for(lock, kPoll, [&] { return reader_done || stopping_ || !window.full(); });
      if (reader_done) break;
      auto now = Clock::now();
      bool timed_out = false;
      for (const auto& [id, sent] : in_flight) {
        if (now - sent.at > options_.ack_timeout) timed_out = true;
      }
      if (timed_out) {
        spdlog::warn("collector {} did not acknowledge within {} ms; reconnecting", address,
                     options_.ack_timeout.count());
        break;
      }
      if (window.full()) continue;
      if (now < pause_until) {
        cv.wait_until(lock, pause_until, [&] { return reader_done || stopping_.load(); });
        continue;
      }
      lanes = window.Open(now);
      if (!lanes.backlog) {
        // Wait for a fresh batch, but only until the backlog has a token again.
        auto token_in =
            std::chrono::ceil<std::chrono::milliseconds>(window.NextReplayAt(now) - now);
        wait = std::clamp(token_in, std::chrono::milliseconds(1), kPoll);
      }
    }
    std::optional<OutgoingBatch> next = queue_->NextToSend(wait, lanes);
    if (!next) continue;
    BatchId id{next->batch.epoch(), next->batch.sequence()};
    const SendLane lane = next->lane;
    v1::IngestRequest request;
    *request.mutable_batch() = std::move(next->batch);
    {
      std::lock_guard lock(mu);
      const auto now = Clock::now();
      in_flight[id] = Sent{now, lane};
      window.Sent(lane, now);
    }
    if (!stream->Write(request)) break;
    std::lock_guard lock(stats_mu_);
    ++stats_.sent;
    if (lane == SendLane::kBacklog) ++stats_.sent_backlog;
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
