// plumbline-load-gen: many lightweight agents on the real ingest protocol,
// with sequence-numbered, identifiable samples, and the oracle that checks
// a collector's SQLite store against what they produced. For the delivery
// tests (tests/integration/collector_crash_test.cpp) and
// bench/reliability.sh. The same load can go to a Prometheus remote-write
// receiver instead (--target prometheus, tools/remote_write_load.h), to
// compare ingest throughput (bench/ingest.sh).
//
//   plumbline-load-gen run --collector ADDR --agents N --series S --interval MS
//                          --duration S --report FILE
//   plumbline-load-gen run --target prometheus --url http://HOST:PORT/api/v1/write ...
//   plumbline-load-gen run ... --max-rate --shape host --start-ago 21600
//   plumbline-load-gen verify --db FILE --report FILE
//
// Every run ends with a `summary {...}` JSON line and a sentence
// (tools/load_summary.h): samples sent, acknowledged, errors, samples/s.
//
// What is sent: tools/load_series.h. --shape sequence (the default) is
// what the oracle checks; --shape host is realistic host metrics, for
// throughput and storage benchmarks.
//
// Sample identity (--shape sequence): agent `<prefix>-<i>` sends, in epoch E, batch sequence
// q = 1, 2, ... with one point per series `load_sample{series="<k>"}`:
// value q at timestamp first_ts + (q - 1) * interval. So the store must hold,
// per agent and series, exactly the values 1..N, each at its own timestamp,
// and the agent's batch counter must be N: anything else is a lost or
// duplicated sample.
//
// Delivery is what an agent does: a batch counts as delivered only when the
// collector acknowledges it (STORED or DUPLICATE); until then it is resent
// after every reconnect, and when the collector answers ACK_RETRY the agent
// sends nothing for retry_after_ms (as the real agent's shipper does). Batches are a pure function
// of (agent, sequence), so the backlog ("spool") is just the set of unacknowledged sequence
// numbers. One callback stream per agent, several batches in flight on it.
#include <grpcpp/grpcpp.h>
#include <sqlite3.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "collector/store/sample_block.h"
#include "plumbline/v1/ingest.grpc.pb.h"
#include "tools/load_series.h"
#include "tools/load_summary.h"
#include "tools/remote_write_load.h"

namespace {

namespace v1 = plumbline::v1;
using plumbline::load_gen::LoadSeries;
using plumbline::load_gen::SeriesShape;
using plumbline::load_gen::SeriesSpec;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Options {
  std::string target = "plumbline";  // or "prometheus"
  std::string collector = "127.0.0.1:7070";
  std::string url;       // --target prometheus
  int connections = 16;  // --target prometheus
  SeriesShape shape = SeriesShape::kSequence;
  double start_ago_s = 0;
  std::string prefix = "load";
  int agents = 10;
  int series = 10;
  int64_t interval_ms = 1000;
  double duration_s = 10;
  double drain_timeout_s = 120;
  int max_in_flight = 32;
  int channels = 8;
  int connect_timeout_ms = 100;
  bool closed_loop = false;
  double status_every_s = 1;
  std::string report;
  std::string db;
};

std::atomic<bool> g_stop{false};

int64_t WallMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Totals {
  std::atomic<uint64_t> sent{0}, stored{0}, duplicates{0}, rejected{0}, retry_acks{0};
  std::atomic<uint64_t> connects{0}, stream_failures{0};
  std::atomic<uint32_t> min_retry_after_ms{UINT32_MAX}, max_retry_after_ms{0};
  std::atomic<int> live_streams{0};
};

class AgentStream;

// One simulated agent. Everything below `mu` is guarded by it.
struct SimAgent {
  std::string id;
  uint64_t index = 0;
  std::mutex mu;
  uint64_t produced = 0;       // sequences 1..produced exist
  std::set<uint64_t> to_send;  // unacknowledged, not on the wire, not waiting
  std::set<uint64_t> in_flight;
  // ACK_RETRY: the batch goes back in line and the agent sends nothing
  // until the hint has passed, as agent/shipper.cpp does.
  Clock::time_point paused_until{};
  uint64_t acked = 0;
  AgentStream* stream = nullptr;  // live stream, if any
  Clock::time_point reconnect_at{};
  int failures = 0;

  size_t UnackedLocked() const { return to_send.size() + in_flight.size(); }
  uint64_t OldestUnackedLocked() const {
    uint64_t oldest = UINT64_MAX;
    if (!to_send.empty()) oldest = std::min(oldest, *to_send.begin());
    if (!in_flight.empty()) oldest = std::min(oldest, *in_flight.begin());
    return oldest;
  }
};

struct Generator {
  Options o;
  uint64_t epoch = 0;
  int64_t first_ts_ms = 0;
  std::unique_ptr<LoadSeries> load_series;
  std::vector<std::unique_ptr<SimAgent>> agents;
  std::vector<std::unique_ptr<v1::Ingest::Stub>> stubs;
  Totals totals;
  std::mt19937_64 rng{std::random_device{}()};
  std::mutex rng_mu;

  int64_t Timestamp(uint64_t sequence) const { return load_series->Timestamp(sequence); }

  // With --start-ago, no batch is produced ahead of the wall clock.
  bool MayProduce(uint64_t sequence, int64_t wall_ms) const {
    return o.start_ago_s <= 0 || Timestamp(sequence) <= wall_ms;
  }

  // `request` is cleared first; protobuf keeps its elements for reuse.
  void BuildBatch(const SimAgent& a, uint64_t sequence, v1::IngestRequest* request) const {
    v1::Batch* b = request->mutable_batch();
    b->Clear();
    b->set_agent_id(a.id);
    b->set_epoch(epoch);
    b->set_sequence(sequence);
    b->set_created_ms(Timestamp(sequence));
    const std::vector<SeriesSpec>& specs = load_series->series();
    for (size_t k = 0; k < specs.size(); ++k) {
      const SeriesSpec& spec = specs[k];
      v1::Series* s = b->add_series();
      s->set_name(spec.name);
      s->set_type(spec.kind == SeriesSpec::Kind::kCounter ? v1::METRIC_TYPE_COUNTER
                                                          : v1::METRIC_TYPE_GAUGE);
      s->set_unit(spec.unit);
      for (const auto& [name, value] : spec.labels) {
        v1::Label* l = s->add_labels();
        l->set_name(name);
        l->set_value(value);
      }
      v1::Point* p = s->add_points();
      p->set_timestamp_ms(Timestamp(sequence));
      p->set_number(load_series->Value(a.index, k, sequence));
    }
  }

  milliseconds Backoff(int failures) {
    int64_t cap = std::min<int64_t>(1000, 100LL << std::min(failures, 4));
    std::lock_guard lock(rng_mu);
    return milliseconds(std::uniform_int_distribution<int64_t>(50, cap)(rng));
  }
};

// One connection of one agent. Holds a gRPC hold while it may still write,
// so OnDone (which deletes it) cannot run between deciding to write and
// StartWrite.
class AgentStream final : public grpc::ClientBidiReactor<v1::IngestRequest, v1::IngestResponse> {
 public:
  AgentStream(Generator* g, SimAgent* a, v1::Ingest::Stub* stub) : g_(g), a_(a) {
    g_->totals.live_streams++;
    v1::AgentInfo* info = hello_.mutable_hello();
    info->set_agent_id(a_->id);
    info->set_hostname(a_->id);
    info->set_version("load-gen");
    info->set_os("simulated (plumbline-load-gen)");
    stub->async()->Stream(&context_, this);
    writing_ = true;  // the hello
  }

  // Starts the call; outside the agent's lock (callbacks take it).
  void Start() {
    AddHold();
    StartWrite(&hello_);
    StartRead(&response_);
    StartCall();
  }

  // Under the agent's lock: picks the next batch if there is room and
  // something to send. Then StartPreparedWrite() must follow, outside the
  // lock; the busy writer keeps the hold, so the stream outlives the gap.
  bool PrepareWriteLocked() {
    if (writing_ || dead_ || !hello_sent_ || a_->to_send.empty() ||
        a_->in_flight.size() >= static_cast<size_t>(g_->o.max_in_flight) ||
        Clock::now() < a_->paused_until) {
      return false;
    }
    uint64_t sequence = *a_->to_send.begin();
    a_->to_send.erase(a_->to_send.begin());
    a_->in_flight.insert(sequence);
    a_->failures = 0;
    g_->BuildBatch(*a_, sequence, &request_);
    writing_ = true;
    return true;
  }
  void StartPreparedWrite() { StartWrite(&request_); }

  void OnWriteDone(bool ok) override {
    bool write = false;
    {
      std::lock_guard lock(a_->mu);
      writing_ = false;
      if (!ok) {
        dead_ = true;
      } else if (!hello_sent_) {
        hello_sent_ = true;
        g_->totals.connects++;
      } else {
        g_->totals.sent++;
      }
      if (dead_) {
        ReleaseHoldLocked();
      } else {
        write = PrepareWriteLocked();
      }
    }
    if (write) StartWrite(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard lock(a_->mu);
      dead_ = true;
      if (!writing_) ReleaseHoldLocked();
      return;
    }
    bool write = false;
    if (response_.has_ack()) {
      const v1::BatchAck& ack = response_.ack();
      std::lock_guard lock(a_->mu);
      if (a_->in_flight.erase(ack.sequence()) > 0) {
        switch (ack.result()) {
          case v1::ACK_STORED:
            g_->totals.stored++;
            a_->acked++;
            break;
          case v1::ACK_DUPLICATE:
            g_->totals.duplicates++;
            a_->acked++;
            break;
          case v1::ACK_REJECTED:
            // Never expected: the oracle then reports the batch lost.
            g_->totals.rejected++;
            a_->acked++;
            std::cerr << "load-gen: " << a_->id << ": batch " << ack.sequence()
                      << " rejected: " << ack.message() << "\n";
            break;
          default: {
            g_->totals.retry_acks++;
            uint32_t hint = ack.retry_after_ms();
            uint32_t seen = g_->totals.min_retry_after_ms.load();
            while (hint < seen &&
                   !g_->totals.min_retry_after_ms.compare_exchange_weak(seen, hint)) {
            }
            seen = g_->totals.max_retry_after_ms.load();
            while (hint > seen &&
                   !g_->totals.max_retry_after_ms.compare_exchange_weak(seen, hint)) {
            }
            a_->to_send.insert(ack.sequence());
            a_->paused_until = std::max(a_->paused_until,
                                        Clock::now() + milliseconds(std::max<uint32_t>(hint, 50)));
            break;
          }
        }
      }
      write = !dead_ && PrepareWriteLocked();
    }
    if (write) StartWrite(&request_);
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    {
      std::lock_guard lock(a_->mu);
      // What was on the wire goes back to the backlog, to be resent.
      a_->to_send.insert(a_->in_flight.begin(), a_->in_flight.end());
      a_->in_flight.clear();
      if (a_->stream == this) a_->stream = nullptr;
      if (!hello_sent_ || !status.ok()) {
        // The first few reasons, so a run with many failures says why.
        if (g_->totals.stream_failures++ < 5) {
          std::cerr << "load-gen: " << a_->id << ": stream ended: " << status.error_code() << " "
                    << status.error_message() << "\n";
        }
        ++a_->failures;
      }
      a_->reconnect_at = Clock::now() + g_->Backoff(a_->failures);
    }
    g_->totals.live_streams--;
    delete this;
  }

 private:
  void ReleaseHoldLocked() {
    if (released_) return;
    released_ = true;
    RemoveHold();
  }

  Generator* g_;
  SimAgent* a_;
  grpc::ClientContext context_;
  v1::IngestRequest hello_;
  v1::IngestRequest request_;
  v1::IngestResponse response_;
  bool writing_ = false;
  bool hello_sent_ = false;
  bool dead_ = false;
  bool released_ = false;
};

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

int Run(const Options& o) {
  Generator g;
  g.o = o;
  const int64_t start_ms = WallMs();
  g.epoch = static_cast<uint64_t>(start_ms);
  const int64_t first_ms = start_ms - static_cast<int64_t>(o.start_ago_s * 1000);
  g.first_ts_ms = first_ms / o.interval_ms * o.interval_ms;
  g.load_series = std::make_unique<LoadSeries>(o.shape, o.series, g.first_ts_ms, o.interval_ms);
  for (int c = 0; c < o.channels; ++c) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection per channel
    args.SetInt("plumbline.load_gen.channel", c);        // not shared between channels
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    // gRPC takes this as its minimum connect timeout too (the handshake,
    // up to the server's HTTP/2 SETTINGS): short reconnects to a restarted
    // collector, but a busy one may miss it.
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, o.connect_timeout_ms);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    args.SetMaxSendMessageSize(64 << 20);
    g.stubs.push_back(v1::Ingest::NewStub(
        grpc::CreateCustomChannel(o.collector, grpc::InsecureChannelCredentials(), args)));
  }
  for (int i = 0; i < o.agents; ++i) {
    auto a = std::make_unique<SimAgent>();
    char id[128];
    std::snprintf(id, sizeof id, "%s-%04d", o.prefix.c_str(), i);
    a->id = id;
    a->index = static_cast<uint64_t>(i);
    g.agents.push_back(std::move(a));
  }

  const auto t0 = Clock::now();
  const auto production_end = t0 + milliseconds(static_cast<int64_t>(o.duration_s * 1000));
  auto next_tick = t0;
  auto next_status = t0;
  Clock::time_point drained_at{};
  bool producing = true;
  uint64_t produced_total = 0;
  double production_s = 0;
  uint64_t acked_at_production_end = 0;
  while (true) {
    const auto now = Clock::now();
    if (producing && (now >= production_end || g_stop)) {
      producing = false;
      production_s = std::chrono::duration<double>(now - t0).count();
      acked_at_production_end = g.totals.stored + g.totals.duplicates;
    }
    // Produce: open loop on the clock (ticks missed while busy are caught
    // up, timestamps stay on the grid), or closed loop (keep each agent's
    // pipeline full: measures what the collector sustains).
    int ticks = 0;
    if (producing && !o.closed_loop) {
      while (next_tick <= now) {
        ++ticks;
        next_tick += milliseconds(o.interval_ms);
      }
    }
    size_t unacked = 0;
    uint64_t oldest = UINT64_MAX;
    int connected = 0;
    const int64_t wall_ms = WallMs();
    for (auto& a : g.agents) {
      AgentStream* kick = nullptr;
      AgentStream* started = nullptr;
      {
        std::lock_guard lock(a->mu);
        for (int t = 0; t < ticks; ++t) a->to_send.insert(++a->produced);
        produced_total += static_cast<uint64_t>(ticks);
        if (producing && o.closed_loop) {
          while (a->UnackedLocked() < static_cast<size_t>(o.max_in_flight) &&
                 g.MayProduce(a->produced + 1, wall_ms)) {
            a->to_send.insert(++a->produced);
            ++produced_total;
          }
        }
        unacked += a->UnackedLocked();
        if (a->UnackedLocked() > 0) oldest = std::min<uint64_t>(oldest, a->OldestUnackedLocked());
        if (a->stream != nullptr) {
          ++connected;
          if (a->stream->PrepareWriteLocked()) kick = a->stream;
        } else if (now >= a->reconnect_at) {
          a->reconnect_at = now + milliseconds(1000000);  // set again in OnDone
          const size_t index = static_cast<size_t>(&a - g.agents.data());
          a->stream = new AgentStream(&g, a.get(), g.stubs[index % g.stubs.size()].get());
          started = a->stream;
        }
      }
      if (kick != nullptr) kick->StartPreparedWrite();
      if (started != nullptr) started->Start();
    }
    if (now >= next_status) {
      next_status += milliseconds(static_cast<int64_t>(o.status_every_s * 1000));
      const int64_t age = oldest == UINT64_MAX ? 0 : WallMs() - g.Timestamp(oldest);
      std::printf(
          "status t_ms=%lld produced=%llu acked=%llu unacked=%zu oldest_unacked_age_ms=%lld "
          "retry_acks=%llu connected=%d/%d\n",
          static_cast<long long>(WallMs()), static_cast<unsigned long long>(produced_total),
          static_cast<unsigned long long>(g.totals.stored + g.totals.duplicates), unacked,
          static_cast<long long>(age), static_cast<unsigned long long>(g.totals.retry_acks.load()),
          connected, o.agents);
      std::fflush(stdout);
    }
    if (!producing && unacked == 0) {
      drained_at = now;
      break;
    }
    if (!producing &&
        now >= production_end + milliseconds(static_cast<int64_t>(o.drain_timeout_s * 1000))) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  const auto end = Clock::now();

  uint64_t unacked = 0;
  for (auto& a : g.agents) {
    std::lock_guard lock(a->mu);
    unacked += a->UnackedLocked();
  }
  const double drain_s =
      drained_at == Clock::time_point{}
          ? -1
          : std::chrono::duration<double>(drained_at - t0).count() - production_s;
  std::ostringstream r;
  r << "{\n  \"epoch\": " << g.epoch << ",\n  \"shape\": \""
    << plumbline::load_gen::SeriesShapeName(o.shape) << "\",\n  \"interval_ms\": " << o.interval_ms
    << ",\n  \"series\": " << o.series << ",\n  \"first_ts_ms\": " << g.first_ts_ms
    << ",\n  \"produced_batches\": " << produced_total << ",\n  \"stored\": " << g.totals.stored
    << ",\n  \"duplicates\": " << g.totals.duplicates << ",\n  \"rejected\": " << g.totals.rejected
    << ",\n  \"retry_acks\": " << g.totals.retry_acks << ",\n  \"min_retry_after_ms\": "
    << (g.totals.retry_acks > 0 ? g.totals.min_retry_after_ms.load() : 0)
    << ",\n  \"max_retry_after_ms\": " << g.totals.max_retry_after_ms
    << ",\n  \"connects\": " << g.totals.connects
    << ",\n  \"stream_failures\": " << g.totals.stream_failures << ",\n  \"unacked\": " << unacked
    << ",\n  \"production_s\": " << production_s << ",\n  \"acked_samples_per_s_while_producing\": "
    << (production_s > 0 ? static_cast<double>(acked_at_production_end) * o.series / production_s
                         : 0)
    << ",\n  \"drain_s\": " << drain_s
    << ",\n  \"elapsed_s\": " << std::chrono::duration<double>(end - t0).count()
    << ",\n  \"agents\": [";
  for (size_t i = 0; i < g.agents.size(); ++i) {
    r << (i ? ",\n    " : "\n    ") << "{\"id\": " << JsonString(g.agents[i]->id)
      << ", \"batches\": " << g.agents[i]->produced << "}";
  }
  r << "\n  ]\n}\n";
  if (!o.report.empty()) {
    std::ofstream out(o.report + ".tmp");
    out << r.str();
    out.close();
    std::rename((o.report + ".tmp").c_str(), o.report.c_str());
  }
  std::printf(
      "load-gen: %d agents x %d series every %lld ms: %llu batches produced in %.1f s, "
      "%llu stored, %llu duplicates, %llu retry acks (hint %u..%u ms), %llu connects, "
      "%llu unacknowledged, drained %.1f s after production ended\n",
      o.agents, o.series, static_cast<long long>(o.interval_ms),
      static_cast<unsigned long long>(produced_total), production_s,
      static_cast<unsigned long long>(g.totals.stored.load()),
      static_cast<unsigned long long>(g.totals.duplicates.load()),
      static_cast<unsigned long long>(g.totals.retry_acks.load()),
      g.totals.retry_acks > 0 ? g.totals.min_retry_after_ms.load() : 0,
      g.totals.max_retry_after_ms.load(), static_cast<unsigned long long>(g.totals.connects.load()),
      static_cast<unsigned long long>(unacked), drain_s);
  plumbline::load_gen::RunSummary summary;
  summary.target = "plumbline";
  summary.shape = plumbline::load_gen::SeriesShapeName(o.shape);
  summary.agents = o.agents;
  summary.series = o.series;
  summary.max_rate = o.closed_loop;
  summary.window_s = production_s;
  summary.elapsed_s = std::chrono::duration<double>(end - t0).count();
  const auto series = static_cast<uint64_t>(o.series);
  summary.requests = g.totals.sent;
  summary.samples_sent = g.totals.sent * series;
  summary.samples_acked = (g.totals.stored + g.totals.duplicates) * series;
  summary.samples_acked_in_window = acked_at_production_end * series;
  summary.errors = g.totals.retry_acks + g.totals.rejected + g.totals.stream_failures;
  summary.retries = g.totals.retry_acks;
  summary.samples_dropped = g.totals.rejected * series;
  summary.samples_unacked = unacked * series;
  summary.load_gen_cpu_s = plumbline::load_gen::ProcessCpuSeconds();
  plumbline::load_gen::PrintRunSummary(summary, stdout);
  // Streams may still be open: leave without tearing them down.
  std::_Exit(unacked == 0 && g.totals.rejected == 0 ? 0 : 1);
}

// The same agents and series as Run, sent as Prometheus remote write.
int RunRemoteWrite(const Options& o) {
  const int64_t first_ms = WallMs() - static_cast<int64_t>(o.start_ago_s * 1000);
  const LoadSeries series(o.shape, o.series, first_ms / o.interval_ms * o.interval_ms,
                          o.interval_ms);
  plumbline::load_gen::RemoteWriteLoadOptions r;
  r.url = o.url;
  r.prefix = o.prefix;
  r.agents = o.agents;
  r.connections = o.connections;
  r.duration_s = o.duration_s;
  r.drain_timeout_s = o.drain_timeout_s;
  r.max_rate = o.closed_loop;
  r.start_ago_ms = static_cast<int64_t>(o.start_ago_s * 1000);
  r.status_every_s = o.status_every_s;
  absl::StatusOr<plumbline::load_gen::RunSummary> summary =
      plumbline::load_gen::RunRemoteWriteLoad(r, series, g_stop);
  if (!summary.ok()) {
    std::cerr << "load-gen: " << summary.status().message() << "\n";
    return 2;
  }
  plumbline::load_gen::PrintRunSummary(*summary, stdout);
  // A sender given up on may still be waiting for an answer.
  std::_Exit(summary->samples_unacked == 0 && summary->samples_dropped == 0 ? 0 : 1);
}

// --- The oracle ---------------------------------------------------------------

// Minimal reader of the report this program writes (one key per line, the
// agents one per line).
struct Report {
  bool sequence_shape = true;  // host-shaped values cannot be checked
  uint64_t epoch = 0;
  int64_t interval_ms = 0, first_ts_ms = 0;
  int64_t series = 0;
  std::vector<std::pair<std::string, uint64_t>> agents;
};

bool ReadReport(const std::string& path, Report* r) {
  std::ifstream in(path);
  if (!in) return false;
  std::string line;
  auto number = [&](const std::string& key, auto* out) {
    auto p = line.find("\"" + key + "\": ");
    if (p == std::string::npos) return false;
    std::istringstream(line.substr(p + key.size() + 4)) >> *out;
    return true;
  };
  while (std::getline(in, line)) {
    if (line.find("\"shape\": ") != std::string::npos &&
        line.find("\"sequence\"") == std::string::npos) {
      r->sequence_shape = false;
    }
    if (line.find("{\"id\": ") != std::string::npos) {
      auto q1 = line.find('"', line.find("\"id\": ") + 6);
      auto q2 = line.find('"', q1 + 1);
      uint64_t n = 0;
      number("batches", &n);
      r->agents.emplace_back(line.substr(q1 + 1, q2 - q1 - 1), n);
      continue;
    }
    static_cast<void>(number("epoch", &r->epoch) || number("interval_ms", &r->interval_ms) ||
                      number("first_ts_ms", &r->first_ts_ms) || number("series", &r->series));
  }
  return r->interval_ms > 0 && !r->agents.empty();
}

// Prints what the store holds against what the report says was produced:
// lost and duplicated batches and samples, samples that are not what was
// sent, and PRAGMA integrity_check. Exit 0 only if all is exact.
int Verify(const Options& o) {
  Report rep;
  if (!ReadReport(o.report, &rep)) {
    std::cerr << "load-gen verify: cannot read report " << o.report << "\n";
    return 2;
  }
  if (!rep.sequence_shape) {
    std::cerr << "load-gen verify: " << o.report
              << ": only runs with --shape sequence can be verified\n";
    return 2;
  }
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(o.db.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::cerr << "load-gen verify: cannot open " << o.db << ": " << sqlite3_errmsg(db) << "\n";
    sqlite3_close(db);
    return 2;
  }
  auto prepare = [&](const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) {
      std::cerr << "load-gen verify: " << sqlite3_errmsg(db) << "\n";
      std::exit(2);
    }
    return s;
  };
  std::string integrity;
  {
    sqlite3_stmt* s = prepare("PRAGMA integrity_check");
    while (sqlite3_step(s) == SQLITE_ROW) {
      if (!integrity.empty()) integrity += "; ";
      integrity += reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
  }
  // Identities stored per agent: ranges of consecutive sequences.
  sqlite3_stmt* batches = prepare(
      "SELECT coalesce(sum(last_sequence - first_sequence + 1), 0), "
      "coalesce(max(last_sequence), 0) FROM batch_ranges WHERE agent_id = ?1 AND epoch = ?2");
  sqlite3_stmt* agent = prepare("SELECT batches FROM agents WHERE agent_id = ?1");
  uint64_t expected_batches = 0, stored_batches = 0, lost_batches = 0, duplicate_batches = 0;
  uint64_t expected_samples = 0, stored_samples = 0, lost_samples = 0, wrong_series = 0;
  uint64_t extra_batches = 0;
  std::map<std::string, uint64_t> produced;  // agent -> batches
  for (const auto& [id, n] : rep.agents) {
    produced[id] = n;
    expected_batches += n;
    expected_samples += n * static_cast<uint64_t>(rep.series);
    sqlite3_bind_text(batches, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(batches, 2, static_cast<int64_t>(rep.epoch));
    uint64_t rows = 0, max_sequence = 0;
    if (sqlite3_step(batches) == SQLITE_ROW) {
      rows = static_cast<uint64_t>(sqlite3_column_int64(batches, 0));
      max_sequence = static_cast<uint64_t>(sqlite3_column_int64(batches, 1));
    }
    sqlite3_reset(batches);
    stored_batches += rows;
    if (max_sequence > n) extra_batches += max_sequence - n;
    if (rows < n) lost_batches += n - rows;
    // The agent's stored-batch counter goes up once per batch stored: above
    // the number of identities, a batch was stored twice.
    sqlite3_bind_text(agent, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    uint64_t counted = 0;
    if (sqlite3_step(agent) == SQLITE_ROW) {
      counted = static_cast<uint64_t>(sqlite3_column_int64(agent, 0));
    }
    sqlite3_reset(agent);
    if (counted > rows) duplicate_batches += counted - rows;
  }
  // Per series: count, min and max value, and the identity
  // ts - (value-1)*interval, from the store's raw sample blocks (a later
  // block wins at the same timestamp, as in the store).
  std::unordered_map<int64_t, std::pair<std::string, std::string>> load_series;
  {
    sqlite3_stmt* s = prepare("SELECT id, agent_id, labels FROM series WHERE name = 'load_sample'");
    while (sqlite3_step(s) == SQLITE_ROW) {
      load_series[sqlite3_column_int64(s, 0)] = {
          reinterpret_cast<const char*>(sqlite3_column_text(s, 1)),
          reinterpret_cast<const char*>(sqlite3_column_text(s, 2))};
    }
    sqlite3_finalize(s);
  }
  std::unordered_map<int64_t, std::vector<plumbline::collector::RawSample>> points;
  uint64_t corrupt_blocks = 0;
  {
    sqlite3_stmt* s = prepare("SELECT data FROM sample_blocks ORDER BY win, id");
    while (sqlite3_step(s) == SQLITE_ROW) {
      const auto* blob = static_cast<const char*>(sqlite3_column_blob(s, 0));
      plumbline::collector::BlockReader reader(std::string_view(
          blob == nullptr ? "" : blob, static_cast<size_t>(sqlite3_column_bytes(s, 0))));
      while (reader.NextRun()) {
        if (load_series.count(reader.series_id()) == 0) continue;
        if (!reader.Decode(&points[reader.series_id()])) break;
      }
      if (!reader.status().ok()) ++corrupt_blocks;
    }
    sqlite3_finalize(s);
  }
  std::map<std::string, int64_t> series_seen;
  for (auto& [series_id, samples] : points) {
    const auto& [id, labels] = load_series[series_id];
    auto it = produced.find(id);
    if (it == produced.end()) continue;  // another run's agent
    const uint64_t n = it->second;
    ++series_seen[id];
    std::stable_sort(samples.begin(), samples.end(),
                     [](const auto& a, const auto& b) { return a.ts_ms < b.ts_ms; });
    uint64_t count = 0;
    double min_value = INFINITY, max_value = -INFINITY;
    int64_t min_origin = INT64_MAX, max_origin = INT64_MIN, fractional = 0;
    for (size_t i = 0; i < samples.size(); ++i) {
      if (i + 1 < samples.size() && samples[i + 1].ts_ms == samples[i].ts_ms) continue;
      const double v = samples[i].value;
      ++count;
      min_value = std::min(min_value, v);
      max_value = std::max(max_value, v);
      const int64_t origin = samples[i].ts_ms - (static_cast<int64_t>(v) - 1) * rep.interval_ms;
      min_origin = std::min(min_origin, origin);
      max_origin = std::max(max_origin, origin);
      if (v != std::floor(v)) ++fractional;
    }
    stored_samples += count;
    if (count < n) lost_samples += n - count;
    // (series, ts) is unique in the store and ts follows from the value, so
    // count n, values within 1..n and every ts on its value's slot means
    // exactly the values 1..n.
    const bool exact = min_value >= 1 && max_value <= static_cast<double>(n) &&
                       min_origin == rep.first_ts_ms && max_origin == rep.first_ts_ms &&
                       fractional == 0 && count <= n;
    if (!exact) {
      ++wrong_series;
      std::cerr << "load-gen verify: " << id << " " << labels << ": " << count
                << " samples, values " << min_value << ".." << max_value << ", expected 1.." << n
                << "\n";
    }
  }
  for (const auto& [id, n] : produced) {
    const int64_t missing = rep.series - series_seen[id];
    if (n > 0 && missing > 0) lost_samples += n * static_cast<uint64_t>(missing);
  }
  sqlite3_finalize(batches);
  sqlite3_finalize(agent);
  sqlite3_close(db);
  std::printf(
      "{\"agents\": %zu, \"expected_batches\": %llu, \"stored_batches\": %llu, "
      "\"lost_batches\": %llu, \"duplicate_batches\": %llu, \"unexpected_batches\": %llu, "
      "\"expected_samples\": %llu, \"stored_samples\": %llu, \"lost_samples\": %llu, "
      "\"wrong_series\": %llu, \"corrupt_blocks\": %llu, \"integrity_check\": \"%s\"}\n",
      rep.agents.size(), static_cast<unsigned long long>(expected_batches),
      static_cast<unsigned long long>(stored_batches),
      static_cast<unsigned long long>(lost_batches),
      static_cast<unsigned long long>(duplicate_batches),
      static_cast<unsigned long long>(extra_batches),
      static_cast<unsigned long long>(expected_samples),
      static_cast<unsigned long long>(stored_samples),
      static_cast<unsigned long long>(lost_samples), static_cast<unsigned long long>(wrong_series),
      static_cast<unsigned long long>(corrupt_blocks), integrity.c_str());
  const bool exact = lost_batches == 0 && duplicate_batches == 0 && extra_batches == 0 &&
                     lost_samples == 0 && wrong_series == 0 && stored_samples == expected_samples &&
                     integrity == "ok" && corrupt_blocks == 0;
  return exact ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "plumbline-load-gen: many simulated agents sending sequence-numbered samples through the "
      "collector's real ingest API, resending until acknowledged; and the oracle that checks a "
      "collector's SQLite store against what they sent."};
  app.require_subcommand(1);
  Options o;
  auto* run = app.add_subcommand("run", "send until --duration, then drain the backlog");
  run->add_option("--collector", o.collector, "collector gRPC address host:port");
  run->add_option("--prefix", o.prefix, "agent ids are <prefix>-<n>");
  run->add_option("--agents", o.agents, "simulated agents")->check(CLI::Range(1, 100000));
  run->add_option("--series", o.series, "series per agent")->check(CLI::Range(1, 100000));
  run->add_option("--interval", o.interval_ms, "milliseconds between an agent's batches")
      ->check(CLI::Range(1, 3600000));
  run->add_option("--duration", o.duration_s, "seconds of producing");
  run->add_option("--drain-timeout", o.drain_timeout_s,
                  "seconds to wait for the backlog to be acknowledged after producing");
  run->add_option("--max-in-flight", o.max_in_flight, "unacknowledged batches on a stream")
      ->check(CLI::Range(1, 100000));
  run->add_option("--channels", o.channels, "gRPC connections the agents share")
      ->check(CLI::Range(1, 10000));
  run->add_option("--connect-timeout", o.connect_timeout_ms,
                  "milliseconds a gRPC connection attempt may take until the collector's HTTP/2 "
                  "SETTINGS arrive (gRPC's minimum connect timeout, which it reads from "
                  "grpc.min_reconnect_backoff_ms)")
      ->check(CLI::Range(100, 120000));
  run->add_flag("--closed-loop,--max-rate", o.closed_loop,
                "keep every agent's pipeline full instead of sending on the clock (measures "
                "what the receiver sustains); timestamps still advance by --interval per batch");
  run->add_option("--target", o.target,
                  "plumbline: the collector's gRPC ingest stream (--collector); prometheus: "
                  "Prometheus remote write 1.0 (--url)")
      ->check(CLI::IsMember({"plumbline", "prometheus"}));
  run->add_option("--url", o.url,
                  "remote-write endpoint for --target prometheus, e.g. "
                  "http://127.0.0.1:9090/api/v1/write");
  run->add_option("--connections", o.connections,
                  "--target prometheus: HTTP connections, one request in flight on each (an "
                  "agent's batches go one at a time, in order)")
      ->check(CLI::Range(1, 1000));
  run->add_option_function<std::string>(
         "--shape",
         [&o](const std::string& text) { plumbline::load_gen::ParseSeriesShape(text, &o.shape); },
         "sequence: load_sample{series=k} = batch number, what verify checks (default); host: "
         "realistic host metrics (counters and slow gauges)")
      ->check(CLI::IsMember({"sequence", "host"}));
  run->add_option("--start-ago", o.start_ago_s,
                  "seconds: timestamps start this far in the past and never pass the wall clock "
                  "(for --max-rate, which advances them faster than real time)")
      ->check(CLI::Range(0.0, 30.0 * 86400));
  run->add_option("--status-every", o.status_every_s, "seconds between status lines");
  run->add_option("--report", o.report, "write what was produced here (JSON, for verify)");
  auto* verify = app.add_subcommand("verify", "check a stopped collector's SQLite store");
  verify->add_option("--db", o.db, "the collector's SQLite file")->required();
  verify->add_option("--report", o.report, "the report of the run")->required();
  CLI11_PARSE(app, argc, argv);
  if (verify->parsed()) return Verify(o);
  if (o.target == "prometheus" && o.url.empty()) {
    std::cerr << "load-gen: --target prometheus needs --url\n";
    return 2;
  }
  std::signal(SIGINT, [](int) { g_stop = true; });
  std::signal(SIGTERM, [](int) { g_stop = true; });
  return o.target == "prometheus" ? RunRemoteWrite(o) : Run(o);
}
