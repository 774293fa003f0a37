#include "agent/agent.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <random>

#include "agent/footprint.h"
#include "agent/proc_parsers.h"
#include "agent/sources/host_source.h"
#include "agent/sources/log_source.h"
#include "agent/sources/probe_source.h"
#include "agent/sources/process_source.h"
#include "agent/sources/prometheus_source.h"
#include "agent/sources/self_source.h"
#include "agent/sources/statsd_source.h"
#include "common/clock.h"
#include "common/host_info.h"
#include "common/net.h"
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
    spdlog::warn("state_dir {}: {}; sources that keep state will not start", config_.state_dir,
                 ec.message());
  }
  queue_ = MakeQueue();
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
    wanted.push_back(
        std::make_unique<HostSource>(context.proc, config_.host, ticks > 0 ? ticks : 100));
  }
  if (!config_.processes.match.empty()) {
    double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    long page_size = sysconf(_SC_PAGESIZE);
    wanted.push_back(
        std::make_unique<ProcessSource>(context.proc, config_.processes, ticks > 0 ? ticks : 100,
                                        page_size > 0 ? static_cast<uint64_t>(page_size) : 4096));
  }
  if (!config_.probes.probes.empty()) {
    wanted.push_back(std::make_unique<ProbeSource>(context, config_.probes));
  }
  if (!config_.access_logs.logs.empty()) {
    wanted.push_back(std::make_unique<LogSource>(context, config_.access_logs));
  }
  // Labels on every series; a StatsD tag or scraped label of the same name
  // becomes exported_<name>.
  std::vector<std::string> agent_label_names;
  for (const auto& [k, v] : common_labels_) agent_label_names.push_back(k);
  if (config_.statsd.enabled) {
    wanted.push_back(std::make_unique<StatsdSource>(context, config_.statsd, agent_label_names));
  }
  if (config_.prometheus.enabled && !config_.prometheus.targets.empty()) {
    wanted.push_back(
        std::make_unique<PrometheusSource>(context, config_.prometheus, agent_label_names));
  }
  if (config_.self.enabled) {
    double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    wanted.push_back(std::make_unique<SelfSource>(context, ticks > 0 ? ticks : 100));
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
  o.replay_batches_per_second = config_.collector.replay_batches_per_second;
  o.ack_timeout = config_.collector.ack_timeout;
  o.backoff_initial = config_.collector.backoff_initial;
  o.backoff_max = config_.collector.backoff_max;
  o.tls_ca = config_.tls.ca;
  o.tls_cert = config_.tls.cert;
  o.tls_key = config_.tls.key;
  o.tls_server_name = config_.tls.server_name;
  o.tls_reload_interval = config_.tls.reload_interval;
  o.enrollment_token_file = config_.enrollment_token_file;
  return o;
}

std::unique_ptr<BatchQueue> Agent::MakeQueue() {
  if (config_.spool.enabled) {
    SpoolOptions options = config_.spool;
    if (options.dir.empty()) {
      options.dir = (std::filesystem::path(config_.state_dir) / "spool").string();
    }
    options.memory_fallback_bytes = config_.queue.max_bytes;
    absl::StatusOr<std::unique_ptr<DiskSpool>> spool = DiskSpool::Open(options);
    if (spool.ok()) {
      spool_ = spool->get();
      spdlog::info("spool {}: fsync {}, max_bytes {}, max_age {}", options.dir,
                   FsyncPolicyName(options.fsync), options.max_bytes,
                   FormatDuration(options.max_age));
      return std::move(*spool);
    }
    counters_.Add("plumbline_agent_spool_open_errors_total");
    spdlog::error(
        "SPOOL DISABLED: {}; batches are kept in memory only (queue.max_bytes) and are lost "
        "if the agent stops before the collector has them",
        spool.status().message());
  }
  return std::make_unique<MemoryBatchQueue>(config_.queue.max_bytes);
}

void Agent::PublishSpoolStats() {
  if (spool_ == nullptr) return;
  SpoolStats s = spool_->GetSpoolStats();
  auto set = [&](std::string_view name, uint64_t value, const LabelSet& labels = {}) {
    counters_.Set(name, labels, static_cast<double>(value));
  };
  set("plumbline_agent_spool_batches", s.batches);
  set("plumbline_agent_spool_bytes", s.bytes);
  set("plumbline_agent_spool_in_flight_batches", s.in_flight);
  set("plumbline_agent_spool_memory_batches", s.memory_batches);
  set("plumbline_agent_spool_segments", s.segments);
  set("plumbline_agent_spool_disk_bytes", s.disk_bytes);
  int64_t now = SystemClock::Instance().NowMs();
  counters_.Set(
      "plumbline_agent_spool_oldest_age_seconds", {},
      s.oldest_created_ms == 0
          ? 0.0
          : static_cast<double>(std::max<int64_t>(0, now - s.oldest_created_ms)) / 1000.0);
  set("plumbline_agent_spool_spooled_total", s.spooled);
  set("plumbline_agent_spool_replayed_total", s.replayed);
  set("plumbline_agent_spool_acked_total", s.acked);
  set("plumbline_agent_spool_dropped_total", s.dropped_full, {{"reason", "full"}});
  set("plumbline_agent_spool_dropped_total", s.dropped_age, {{"reason", "age"}});
  set("plumbline_agent_spool_corrupt_records_total", s.corrupt_records);
  set("plumbline_agent_spool_corrupt_bytes_total", s.corrupt_bytes);
  set("plumbline_agent_spool_errors_total", s.write_errors, {{"op", "write"}});
  set("plumbline_agent_spool_errors_total", s.sync_errors, {{"op", "fsync"}});
  set("plumbline_agent_spool_errors_total", s.read_errors, {{"op", "read"}});
  set("plumbline_agent_spool_errors_total", s.manifest_errors, {{"op", "manifest"}});
  set("plumbline_agent_spool_memory_fallback_total", s.memory_fallback);
  set("plumbline_agent_spool_rescued_total", s.rescued);
}

void Agent::PublishDeliveryStats() {
  QueueStats q = queue_->Stats();
  auto set = [&](std::string_view name, double value, const LabelSet& labels = {}) {
    counters_.Set(name, labels, value);
  };
  set("plumbline_agent_queue_batches", static_cast<double>(q.batches));
  set("plumbline_agent_queue_backlog_batches", static_cast<double>(q.backlog));
  set("plumbline_agent_queue_bytes", static_cast<double>(q.bytes));
  set("plumbline_agent_queue_in_flight_batches", static_cast<double>(q.in_flight));
  set("plumbline_agent_batches_queued_total", static_cast<double>(q.pushed));
  set("plumbline_agent_batches_acked_total", static_cast<double>(q.acked));
  set("plumbline_agent_batches_dropped_total", static_cast<double>(q.dropped_full),
      {{"reason", "queue_full"}});
  if (!shipper_) return;  // --dry-run ships nothing
  ShipperStats s = shipper_->Stats();
  set("plumbline_agent_batches_sent_total", static_cast<double>(s.sent));
  set("plumbline_agent_backlog_batches_sent_total", static_cast<double>(s.sent_backlog));
  set("plumbline_agent_batches_stored_total", static_cast<double>(s.stored));
  set("plumbline_agent_batches_duplicate_total", static_cast<double>(s.duplicates));
  set("plumbline_agent_batches_rejected_total", static_cast<double>(s.rejected));
  set("plumbline_agent_batches_retried_total", static_cast<double>(s.retry_acks));
  set("plumbline_agent_series_rejected_total", static_cast<double>(s.rejected_series));
  set("plumbline_agent_collector_connects_total", static_cast<double>(s.connects));
  set("plumbline_agent_collector_connect_failures_total", static_cast<double>(s.connect_failures));
  set("plumbline_agent_collector_connected", s.connected ? 1 : 0);
}

v1::Batch Agent::CollectOnce() {
  v1::Batch batch;
  batch.set_agent_id(config_.agent_id);
  batch.set_epoch(epoch_);
  batch.set_sequence(++sequence_);
  int64_t now = SystemClock::Instance().NowMs();
  batch.set_created_ms(now);
  MetricWriter writer(&batch, &common_labels_, now);
  PublishDeliveryStats();  // for the self source
  PublishSpoolStats();
  for (auto& source : sources_) {
    absl::Status s = source->Collect(writer);
    if (!s.ok()) {
      ++collect_errors_;
      counters_.Add("plumbline_agent_collect_errors_total",
                    {{"source", std::string(source->name())}});
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
  bool reconnect =
      fresh->collector.addresses != config_.collector.addresses ||
      fresh->collector.max_in_flight != config_.collector.max_in_flight ||
      fresh->collector.replay_batches_per_second != config_.collector.replay_batches_per_second ||
      fresh->tls.ca != config_.tls.ca || fresh->tls.cert != config_.tls.cert ||
      fresh->tls.key != config_.tls.key || fresh->tls.server_name != config_.tls.server_name ||
      fresh->enrollment_token_file != config_.enrollment_token_file;
  if (fresh->agent_id != config_.agent_id) {
    spdlog::warn("agent_id cannot change on reload; restart the agent to change it");
    fresh->agent_id = config_.agent_id;
  }
  if (!(fresh->spool == config_.spool)) {
    spdlog::warn("spool settings change on restart only; keeping the running ones");
    fresh->spool = config_.spool;
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
  std::function<void(const asio::error_code&, int)> on_signal = [&](const asio::error_code& ec,
                                                                    int signo) {
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

  if (!config_.tls.enabled() && !config_.tls.plaintext) {
    // Plaintext off this host only when asked for explicitly.
    for (const std::string& address : config_.collector.addresses) {
      if (IsLoopbackAddress(address)) continue;
      spdlog::error(
          "SECURITY: collector {} is not on this host and no tls is configured: not sending "
          "measurements in plaintext. Configure tls (docs/security.md), or set tls.plaintext: "
          "true to send plaintext on a trusted network",
          address);
      return 1;
    }
  }
  if (!config_.tls.enabled()) {
    spdlog::warn(
        "SECURITY: no tls configured: measurements{} travel to the collector in PLAINTEXT; "
        "configure tls (docs/security.md) outside a trusted network",
        config_.enrollment_token_file.empty() ? "" : " and the enrollment token");
  }
  shipper_ = std::make_unique<Shipper>(MakeShipperOptions(), queue_.get(), Describe());
  shipper_->Start();
  spdlog::info("plumbline-agent {} started: agent_id={} interval={}ms collector={}", kVersion,
               config_.agent_id, config_.interval.count(), config_.collector.addresses.front());
  Tick();  // first reading right away
  ScheduleTick();
  // Start-up code (gRPC registering its plugins, config and TLS set-up) ran
  // once; a minute in, its pages are given back (agent/footprint.h).
  release_timer_.expires_after(std::chrono::seconds(60));
  release_timer_.async_wait([](const asio::error_code& ec) {
    if (ec) return;
    auto rss = [] {
      absl::StatusOr<std::string> text = ProcFs().Read("/proc/self/status");
      absl::StatusOr<ProcessStatus> st =
          text.ok() ? ParseProcessStatus(*text) : absl::StatusOr<ProcessStatus>(text.status());
      return st.ok() ? static_cast<double>(st->resident_bytes) / (1 << 20) : 0.0;
    };
    const double before = rss();
    ReleasedCode released = ReleaseStartupCode();
    spdlog::debug("start-up code released ({}; {:.1f} MiB mapped): RSS {:.1f} -> {:.1f} MiB",
                  released.ok ? "ok" : "not supported here",
                  static_cast<double>(released.mapped_bytes) / (1 << 20), before, rss());
  });
  io_.run();

  shipper_->Stop(config_.collector.shutdown_timeout);
  QueueStats q = queue_->Stats();
  ShipperStats s = shipper_->Stats();
  if (q.batches > 0 && spool_ != nullptr) {
    spdlog::info("{} batches not yet delivered stay in the spool for the next start", q.batches);
  } else if (q.batches > 0) {
    spdlog::warn("{} batches not delivered at shutdown", q.batches);
  }
  spdlog::info("stopped: {} batches stored, {} duplicates, {} refused", s.stored, s.duplicates,
               s.rejected);
  return 0;
}

}  // namespace plumbline::agent
