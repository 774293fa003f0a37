#include "agent/agent.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <random>

#include "agent/proc_parsers.h"
#include "agent/sources/host_source.h"
#include "common/clock.h"
#include "common/host_info.h"
#include "plumbline/version.h"

namespace plumbline::agent {

namespace {

// A fresh epoch per start: random, never 0.
uint64_t NewEpoch() {
  std::random_device rd;
  uint64_t e = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
               static_cast<uint64_t>(SystemClock::Instance().NowMs());
  return e == 0 ? 1 : e;
}

}  // namespace

Agent::Agent(AgentConfig config, std::string config_file)
    : config_(std::move(config)), config_file_(std::move(config_file)), epoch_(NewEpoch()) {
  std::error_code ec;
  std::filesystem::create_directories(config_.state_dir, ec);
  if (ec) {
    spdlog::warn("state_dir {}: {}; sources that keep state will not start",
                 config_.state_dir, ec.message());
  }
  queue_ = std::make_unique<MemoryBatchQueue>(config_.queue.max_bytes);
  BuildSources();
}

Agent::~Agent() {
  if (shipper_) shipper_->Stop(std::chrono::milliseconds(0));
  StopSources();
}

SourceContext Agent::MakeSourceContext() {
  SourceContext context;
  context.io = &io_;
  context.proc = ProcFs(config_.proc_root);
  context.state_dir = config_.state_dir;
  context.counters = &counters_;
  context.interval = config_.interval;
  return context;
}

void Agent::StopSources() {
  for (auto& source : sources_) source->Stop();
  sources_.clear();
}

void Agent::BuildSources() {
  StopSources();
  common_labels_.clear();
  common_labels_.emplace_back("host", Hostname());
  for (const auto& [k, v] : config_.labels) common_labels_.emplace_back(k, v);
  SourceContext context = MakeSourceContext();
  std::vector<std::unique_ptr<Source>> wanted;
  if (config_.host.enabled) {
    double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    wanted.push_back(std::make_unique<HostSource>(context.proc, config_.host,
                                                  ticks > 0 ? ticks : 100));
  }
  for (auto& source : wanted) {
    absl::Status started = source->Start();
    if (!started.ok()) {
      counters_.Add("plumbline_agent_source_start_errors_total",
                    {{"source", std::string(source->name())}});
      spdlog::error("source {} not started: {}", source->name(), started.message());
      continue;
    }
    sources_.push_back(std::move(source));
  }
}

v1::AgentInfo Agent::Describe() const {
  v1::AgentInfo info;
  info.set_agent_id(config_.agent_id);
  info.set_hostname(Hostname());
  info.set_version(kVersion);
  info.set_os(OsPrettyName());
  for (const auto& [k, v] : common_labels_) {
    v1::Label* l = info.add_labels();
    l->set_name(k);
    l->set_value(v);
  }
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  info.set_cpu_count(cpus > 0 ? static_cast<uint32_t>(cpus) : 0);
  long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) {
    info.set_memory_bytes(static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size));
  }
  return info;
}

ShipperOptions Agent::MakeShipperOptions() const {
  ShipperOptions o;
  o.addresses = config_.collector.addresses;
  o.max_in_flight = static_cast<int>(config_.collector.max_in_flight);
  o.ack_timeout = config_.collector.ack_timeout;
  o.backoff_initial = config_.collector.backoff_initial;
  o.backoff_max = config_.collector.backoff_max;
  return o;
}

v1::Batch Agent::CollectOnce() {
  v1::Batch batch;
  batch.set_agent_id(config_.agent_id);
  batch.set_epoch(epoch_);
  batch.set_sequence(++sequence_);
  int64_t now = SystemClock::Instance().NowMs();
  batch.set_created_ms(now);
  MetricWriter writer(&batch, &common_labels_, now);
  for (auto& source : sources_) {
    absl::Status s = source->Collect(writer);
    if (!s.ok()) {
      ++collect_errors_;
      counters_.Add("plumbline_agent_collect_errors_total", {{"source", std::string(source->name())}});
      spdlog::warn("source {}: {}", source->name(), s.message());
    }
  }
  return batch;
}

void Agent::ScheduleTick() {
  // Align ticks to wall-clock multiples of the interval, so every agent's
  // samples line up for rollups.
  int64_t interval = config_.interval.count();
  int64_t now = SystemClock::Instance().NowMs();
  int64_t wait = interval - (now % interval);
  timer_.expires_after(std::chrono::milliseconds(wait));
  timer_.async_wait([this](const asio::error_code& ec) {
    if (ec) return;
    Tick();
    ScheduleTick();
  });
}

void Agent::Tick() {
  v1::Batch batch = CollectOnce();
  if (batch.series_size() == 0) return;
  queue_->Push(std::move(batch));
}

void Agent::Reload() {
  if (config_file_.empty()) return;
  absl::StatusOr<AgentConfig> fresh = LoadAgentConfig(config_file_);
  if (!fresh.ok()) {
    spdlog::error("reload failed, keeping the running config: {}", fresh.status().message());
    return;
  }
  bool reconnect = fresh->collector.addresses != config_.collector.addresses ||
                   fresh->collector.max_in_flight != config_.collector.max_in_flight;
  if (fresh->agent_id != config_.agent_id) {
    spdlog::warn("agent_id cannot change on reload; restart the agent to change it");
    fresh->agent_id = config_.agent_id;
  }
  config_ = std::move(*fresh);
  BuildSources();
  if (reconnect) {
    // Queued batches stay in the queue; the new shipper sends them.
    shipper_->Stop(std::chrono::milliseconds(0));
    shipper_ = std::make_unique<Shipper>(MakeShipperOptions(), queue_.get(), Describe());
    shipper_->Start();
  }
  timer_.cancel();
  ScheduleTick();
  spdlog::info("configuration reloaded from {}", config_file_);
}

int Agent::Run() {
  signals_.add(SIGINT);
  signals_.add(SIGTERM);
  signals_.add(SIGHUP);
  std::function<void(const asio::error_code&, int)> on_signal =
      [&](const asio::error_code& ec, int signo) {
        if (ec) return;
        if (signo == SIGHUP) {
          Reload();
          signals_.async_wait(on_signal);
          return;
        }
        spdlog::info("signal {} received, shutting down", signo);
        timer_.cancel();
        io_.stop();
      };
  signals_.async_wait(on_signal);

  shipper_ = std::make_unique<Shipper>(MakeShipperOptions(), queue_.get(), Describe());
  shipper_->Start();
  spdlog::info("plumbline-agent {} started: agent_id={} interval={}ms collector={}", kVersion,
               config_.agent_id, config_.interval.count(), config_.collector.addresses.front());
  Tick();  // first reading right away
  ScheduleTick();
  io_.run();

  shipper_->Stop(config_.collector.shutdown_timeout);
  QueueStats q = queue_->Stats();
  ShipperStats s = shipper_->Stats();
  if (q.batches > 0) {
    spdlog::warn("{} batches not delivered at shutdown", q.batches);
  }
  spdlog::info("stopped: {} batches stored, {} duplicates, {} refused", s.stored, s.duplicates,
               s.rejected);
  return 0;
}

}  // namespace plumbline::agent
