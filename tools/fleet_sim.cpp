// plumbline-fleet-sim: a simulated fleet that reports through the real
// ingest path (gRPC Ingest.Stream, one agent identity per host), for the
// demo and for benchmarks at scale.
//
//   plumbline-fleet-sim catalog [--base-catalog F --local-host H] > catalog.yaml
//   plumbline-fleet-sim run --collector ADDR [--days 30] [--live]
//
// The world is a pure function of the options and the UTC day it runs on:
// business units, services with request SLIs and dependency chains, hosts
// (one shared by two services), a rate card whose CPU price changes 15 days
// ago, budgets, and two incidents in the history (payments degraded 9 days
// ago, a full outage of another service 2 days ago). Every name says "demo".
#include <grpcpp/grpcpp.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "plumbline/v1/ingest.grpc.pb.h"

namespace {

namespace v1 = plumbline::v1;

constexpr int64_t kMinute = 60000;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
constexpr double kGiB = 1024.0 * 1024 * 1024;

struct Options {
  std::string collector = "127.0.0.1:7070";
  int units = 3;
  int services = 10;
  int hosts = 50;
  int days = 30;
  int step_s = 300;     // host usage samples in the history
  int sli_step_s = 60;  // request counters in the history
  int threads = 4;
  bool live = false;
  int live_step_s = 15;
  std::string base_catalog;
  std::string local_host;
};

// --- The world ----------------------------------------------------------------

struct SimService {
  std::string id, name, unit;
  double per_host_rpm = 0;  // requests per minute per host at the daily peak
  double value_per_tx = 0, revenue_per_hour = 0;
  int users = 0;
  int tier = 2;
  std::string depends_on;  // hard dependency, same business unit
};

struct SimHost {
  std::string name;
  std::vector<int> services;  // indexes; two for the shared host
  int cores = 4;
  double memory_bytes = 16 * kGiB;
  double disk_bytes = 100 * kGiB;
};

struct Incident {
  int service;
  int64_t from_ms, to_ms;
  double error_share;
};

struct World {
  std::vector<std::string> units;
  std::vector<SimService> services;
  std::vector<SimHost> hosts;
  std::vector<Incident> incidents;
  int64_t today_ms = 0;         // midnight UTC of the day it runs on
  int64_t price_change_ms = 0;  // the CPU price rises then
};

const char* const kUnitNames[] = {"retail", "finance", "logistics", "marketing", "hr", "it"};
const char* const kServiceNames[] = {"checkout",  "payments", "search",   "catalog", "ledger",
                                     "invoicing", "shipping", "tracking", "pricing", "reviews"};

std::string Title(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

World MakeWorld(const Options& o, int64_t now_ms) {
  World w;
  w.today_ms = now_ms - now_ms % kDay;
  w.price_change_ms = w.today_ms - 15 * kDay;
  for (int u = 0; u < o.units; ++u) {
    w.units.push_back(u < 6 ? std::string("demo-") + kUnitNames[u]
                            : "demo-unit-" + std::to_string(u));
  }
  for (int i = 0; i < o.services; ++i) {
    SimService s;
    s.id = "demo-" + (i < 10 ? std::string(kServiceNames[i]) : "service-" + std::to_string(i));
    s.name = Title(i < 10 ? kServiceNames[i] : "service " + std::to_string(i)) + " (demo)";
    s.unit = w.units[static_cast<size_t>(i % o.units)];
    s.per_host_rpm = 120 + 30 * (i % 7);
    if (i % 2 == 0) {
      s.value_per_tx = 0.5 + i % 3;
    } else {
      s.revenue_per_hour = 1500.0 * (1 + i % 4);
    }
    s.users = 2000 * (1 + i % 5);
    s.tier = 1 + i % 3;
    if (i + o.units < o.services) {
      s.depends_on = "demo-" + (i + o.units < 10 ? std::string(kServiceNames[i + o.units])
                                                 : "service-" + std::to_string(i + o.units));
    }
    w.services.push_back(std::move(s));
  }
  // One host shared by the first two services (two business units), the
  // rest round-robin.
  const int regular = std::max(o.hosts - 1, o.services);
  std::map<int, int> per_service;
  for (int h = 0; h < regular; ++h) {
    SimHost host;
    const int s = h % o.services;
    char name[96];
    std::snprintf(name, sizeof name, "%s-%02d", w.services[static_cast<size_t>(s)].id.c_str(),
                  ++per_service[s]);
    host.name = name;
    host.services = {s};
    host.cores = h % 3 == 0 ? 8 : 4;
    host.memory_bytes = (h % 3 == 0 ? 32 : 16) * kGiB;
    w.hosts.push_back(host);
  }
  if (o.services >= 2) {
    SimHost shared;
    shared.name = "demo-shared-db-01";
    shared.services = {0, 1};
    shared.cores = 16;
    shared.memory_bytes = 64 * kGiB;
    shared.disk_bytes = 500 * kGiB;
    w.hosts.push_back(shared);
  }
  // Payments degraded (35% errors, 45 min) 9 days ago; a full outage of the
  // fourth service (25 min) 2 days ago, felt upstream through its dependents.
  const int64_t a = w.today_ms - 9 * kDay + 14 * kHour + 10 * kMinute;
  const int64_t b = w.today_ms - 2 * kDay + 10 * kHour + 40 * kMinute;
  if (o.services >= 2) w.incidents.push_back({1, a, a + 45 * kMinute, 0.35});
  if (o.services >= 4) w.incidents.push_back({3, b, b + 25 * kMinute, 1.0});
  return w;
}

// --- The catalog ------------------------------------------------------------

std::string Month(int64_t ms) {
  return absl::FormatTime("%Y-%m", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}
std::string Rfc3339(int64_t ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

YAML::Node MakeCatalog(const World& w, const Options& o) {
  YAML::Node root;
  if (!o.base_catalog.empty()) root = YAML::LoadFile(o.base_catalog);
  // The base catalog's catch-all host globs would claim the simulated
  // hosts: pin them to the real local host.
  if (!o.local_host.empty() && root["services"]) {
    for (YAML::Node s : root["services"]) {
      if (!s["components"]) continue;
      for (YAML::Node c : s["components"]) {
        if (!c["hosts"]) continue;
        for (size_t i = 0; i < c["hosts"].size(); ++i) {
          if (c["hosts"][i].as<std::string>() == "*") c["hosts"][i] = o.local_host;
        }
      }
    }
  }
  for (const std::string& u : w.units) {
    YAML::Node unit;
    unit["id"] = u;
    unit["name"] = Title(u.substr(5)) + " (demo data)";
    unit["owner"] = "demo@example.com";
    unit["metadata"]["demo"] = "simulated by plumbline-fleet-sim";
    root["business_units"].push_back(unit);
  }
  for (size_t i = 0; i < w.services.size(); ++i) {
    const SimService& s = w.services[i];
    YAML::Node n;
    n["id"] = s.id;
    n["name"] = s.name;
    n["business_unit"] = s.unit;
    n["owner"] = "team-" + s.id.substr(5);
    n["tier"] = s.tier;
    if (s.value_per_tx > 0) n["value_per_transaction"] = s.value_per_tx;
    if (s.revenue_per_hour > 0) n["revenue_per_hour"] = s.revenue_per_hour;
    n["users"] = s.users;
    n["metadata"]["demo"] = "simulated by plumbline-fleet-sim";
    YAML::Node component;
    component["id"] = "hosts";
    component["hosts"].push_back(s.id + "-*");
    if (i < 2) component["hosts"].push_back("demo-shared-db-01");
    n["components"].push_back(component);
    YAML::Node sli;
    sli["id"] = "requests";
    sli["kind"] = "ratio";
    sli["valid"]["metric"] = "http_requests_total";
    sli["valid"]["match"]["service"] = s.id;
    sli["bad"]["metric"] = "http_requests_total";
    sli["bad"]["match"]["service"] = s.id;
    sli["bad"]["match"]["status_class"] = "5xx";
    n["slis"].push_back(sli);
    YAML::Node slo;
    slo["id"] = "availability";
    slo["sli"] = "requests";
    slo["target"] = s.tier == 1 ? 99.9 : 99.5;
    slo["window"] = "30d";
    slo["importance"] = 8;
    slo["critical"] = s.tier == 1;
    n["slos"].push_back(slo);
    if (!s.depends_on.empty()) {
      YAML::Node d;
      d["service"] = s.depends_on;
      d["kind"] = "hard";
      d["weight"] = 1;
      n["dependencies"].push_back(d);
    }
    root["services"].push_back(n);
  }
  YAML::Node costs;
  costs["currency"] = "EUR";
  YAML::Node before, after;
  before["from"] = "2020-01-01T00:00:00Z";
  before["to"] = Rfc3339(w.price_change_ms);
  after["from"] = Rfc3339(w.price_change_ms);
  for (YAML::Node* r : {&before, &after}) {
    (*r)["memory_gb_hour"] = 0.004;
    (*r)["disk_gb_month"] = 0.08;
    (*r)["network_gb"] = 0.01;
    (*r)["host_hour"] = 0.05;
  }
  before["cpu_core_hour"] = 0.031;
  after["cpu_core_hour"] = 0.037;  // the price change
  costs["rates"].push_back(before);
  costs["rates"].push_back(after);
  if (w.services.size() >= 2) {
    YAML::Node split;
    split["host"] = "demo-shared-db-01";
    split["split"] = "weight";
    split["weights"][w.services[0].id] = 0.6;
    split["weights"][w.services[1].id] = 0.4;
    costs["hosts"].push_back(split);
  }
  // Budgets this month and last: roughly what the unit's hosts cost, the
  // first unit's set too low so its alert shows.
  std::map<std::string, double> monthly;
  for (const SimHost& h : w.hosts) {
    const double per_hour = 0.05 + h.cores * 0.3 * 0.034 + h.memory_bytes / kGiB * 0.55 * 0.004;
    for (int s : h.services) {
      monthly[w.services[static_cast<size_t>(s)].unit] +=
          per_hour * 730 / static_cast<double>(h.services.size());
    }
  }
  for (size_t u = 0; u < w.units.size(); ++u) {
    for (int64_t month_ms : {w.today_ms, w.today_ms - 31 * kDay}) {
      YAML::Node b;
      b["business_unit"] = w.units[u];
      b["month"] = Month(month_ms);
      b["amount"] = std::round(monthly[w.units[u]] * (u == 0 ? 0.8 : 1.3));
      costs["budgets"].push_back(b);
    }
  }
  root["costs"] = costs;
  return root;
}

// --- The measurements -------------------------------------------------------

// Deterministic noise in [0, 1) from a key.
double Noise(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull);
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  return static_cast<double>(x >> 11) / 9007199254740992.0;
}

// Daily traffic shape: low at night, peak mid-afternoon UTC.
double Diurnal(int64_t t_ms) {
  const double hour = static_cast<double>(t_ms % kDay) / kHour;
  return 0.55 + 0.45 * std::sin((hour - 9) / 24 * 2 * M_PI);
}

double ErrorShare(const World& w, int service, int64_t t_ms) {
  for (const Incident& i : w.incidents) {
    if (i.service == service && t_ms >= i.from_ms && t_ms < i.to_ms) return i.error_share;
  }
  return 0.0004;
}

// One host's cumulative counters, carried from the history into live mode.
struct HostState {
  int64_t last_ms = 0;
  double cpu_user = 0, cpu_system = 0, cpu_idle = 0, rx = 0, tx = 0;
  std::map<int, double> ok, bad;  // requests per service
};

v1::Series* AddSeries(v1::Batch* b, const std::string& name, v1::MetricType type,
                      std::vector<std::pair<std::string, std::string>> labels) {
  v1::Series* s = b->add_series();
  s->set_name(name);
  s->set_type(type);
  for (auto& [k, v] : labels) {
    v1::Label* l = s->add_labels();
    l->set_name(k);
    l->set_value(v);
  }
  return s;
}

void Point(v1::Series* s, int64_t t, double v) {
  v1::Point* p = s->add_points();
  p->set_timestamp_ms(t);
  p->set_number(v);
}

// Host usage at each step in [from, to) and request counters at each SLI
// step, advancing the counters in `st`.
v1::Batch MakeBatch(const World& w, size_t h, const HostState& prev, HostState* st, int64_t from,
                    int64_t to, int64_t step, int64_t sli_step) {
  const SimHost& host = w.hosts[h];
  v1::Batch b;
  const std::string host_label = host.name;
  using T = v1::MetricType;
  auto gauge = [&](const std::string& name,
                   std::vector<std::pair<std::string, std::string>> labels = {}) {
    labels.emplace_back("host", host_label);
    return AddSeries(&b, name, T::METRIC_TYPE_GAUGE, std::move(labels));
  };
  auto counter = [&](const std::string& name,
                     std::vector<std::pair<std::string, std::string>> labels = {}) {
    labels.emplace_back("host", host_label);
    return AddSeries(&b, name, T::METRIC_TYPE_COUNTER, std::move(labels));
  };
  v1::Series* cores = gauge("host_cpu_count");
  v1::Series* util = gauge("host_cpu_utilization");
  v1::Series* user = counter("host_cpu_seconds_total", {{"mode", "user"}});
  v1::Series* system = counter("host_cpu_seconds_total", {{"mode", "system"}});
  v1::Series* idle = counter("host_cpu_seconds_total", {{"mode", "idle"}});
  v1::Series* mem = gauge("host_memory_used_bytes");
  v1::Series* mem_total = gauge("host_memory_total_bytes");
  v1::Series* fs = gauge("host_filesystem_used_bytes", {{"mountpoint", "/"}});
  v1::Series* fs_size = gauge("host_filesystem_size_bytes", {{"mountpoint", "/"}});
  v1::Series* rx = counter("host_network_receive_bytes_total", {{"device", "eth0"}});
  v1::Series* tx = counter("host_network_transmit_bytes_total", {{"device", "eth0"}});
  *st = prev;
  int64_t last = prev.last_ms == 0 ? from - step : prev.last_ms;
  for (int64_t t = from; t < to; t += step) {
    const double dt = static_cast<double>(t - last) / 1000;
    last = t;
    const double busy = std::min(0.95, 0.12 + 0.3 * Diurnal(t) + 0.08 * Noise(h, t / step));
    st->cpu_user += dt * host.cores * busy * 0.7;
    st->cpu_system += dt * host.cores * busy * 0.3;
    st->cpu_idle += dt * host.cores * (1 - busy);
    st->rx += dt * 2e6 * Diurnal(t);
    st->tx += dt * 1.2e6 * Diurnal(t);
    // Disk fills slowly over the month, so capacity forecasts have a trend.
    const double days = static_cast<double>(t - (w.today_ms - 30 * kDay)) / kDay;
    Point(cores, t, host.cores);
    Point(util, t, busy);
    Point(user, t, st->cpu_user);
    Point(system, t, st->cpu_system);
    Point(idle, t, st->cpu_idle);
    Point(mem, t, host.memory_bytes * (0.45 + 0.2 * Diurnal(t)));
    Point(mem_total, t, host.memory_bytes);
    Point(fs, t, host.disk_bytes * (0.35 + 0.006 * days + 0.01 * (h % 5)));
    Point(fs_size, t, host.disk_bytes);
    Point(rx, t, st->rx);
    Point(tx, t, st->tx);
  }
  for (int s : host.services) {
    const std::string& id = w.services[static_cast<size_t>(s)].id;
    v1::Series* ok = counter("http_requests_total", {{"service", id}, {"status_class", "2xx"}});
    v1::Series* bad = counter("http_requests_total", {{"service", id}, {"status_class", "5xx"}});
    for (int64_t t = from; t < to; t += sli_step) {
      const double requests = w.services[static_cast<size_t>(s)].per_host_rpm * Diurnal(t) *
                              static_cast<double>(sli_step) / kMinute;
      const double failed = std::round(requests * ErrorShare(w, s, t));
      st->ok[s] += std::round(requests) - failed;
      st->bad[s] += failed;
      Point(ok, t, st->ok[s]);
      Point(bad, t, st->bad[s]);
    }
  }
  st->last_ms = last;
  return b;
}

// --- Delivery -----------------------------------------------------------------

struct Totals {
  std::atomic<uint64_t> batches{0}, points{0}, rejected{0}, retries{0};
};

std::atomic<bool> g_stop{false};

// Batches for one host, sent on a stream of its own as the host's agent.
struct Job {
  size_t host;
  std::vector<v1::Batch> batches;
};

// Sends every job at once (a stream per job, every batch in flight, so the
// collector commits them in large groups), then reads the acks; resends
// what the collector asks to retry and what went unanswered. Returns the
// hosts whose batches could not all be delivered.
std::set<size_t> Deliver(const std::shared_ptr<grpc::Channel>& channel, const World& w,
                         uint64_t epoch, std::vector<uint64_t>& sequence, std::vector<Job> jobs,
                         Totals* totals) {
  using Stream = grpc::ClientReaderWriter<v1::IngestRequest, v1::IngestResponse>;
  struct Open {
    size_t host;
    std::unique_ptr<grpc::ClientContext> ctx = std::make_unique<grpc::ClientContext>();
    std::unique_ptr<Stream> stream;
    std::map<uint64_t, v1::Batch> pending;
  };
  auto stub = v1::Ingest::NewStub(channel);
  for (int attempt = 0; attempt < 20 && !jobs.empty() && !g_stop; ++attempt) {
    std::vector<Open> open;
    for (Job& job : jobs) {
      const SimHost& host = w.hosts[job.host];
      Open& o = open.emplace_back();
      o.host = job.host;
      o.stream = stub->Stream(o.ctx.get());
      v1::IngestRequest hello;
      v1::AgentInfo* info = hello.mutable_hello();
      info->set_agent_id("sim-" + host.name);
      info->set_hostname(host.name);
      info->set_version("fleet-sim");
      info->set_os("simulated (plumbline-fleet-sim)");
      info->set_cpu_count(static_cast<uint32_t>(host.cores));
      info->set_memory_bytes(static_cast<uint64_t>(host.memory_bytes));
      bool ok = o.stream->Write(hello);
      for (v1::Batch& b : job.batches) {
        b.set_agent_id("sim-" + host.name);
        b.set_epoch(epoch);
        if (b.sequence() == 0) b.set_sequence(++sequence[job.host]);
        b.set_created_ms(absl::ToUnixMillis(absl::Now()));
        if (ok) {
          v1::IngestRequest req;
          *req.mutable_batch() = b;
          ok = o.stream->Write(req);
        }
        o.pending.emplace(b.sequence(), std::move(b));  // unwritten: resent below
      }
      o.stream->WritesDone();
    }
    jobs.clear();
    uint32_t pause_ms = 0;
    for (Open& o : open) {
      const SimHost& host = w.hosts[o.host];
      Job retry{o.host, {}};
      v1::IngestResponse response;
      while (!o.pending.empty() && o.stream->Read(&response)) {
        const v1::BatchAck& ack = response.ack();
        auto it = o.pending.find(ack.sequence());
        if (it == o.pending.end()) continue;
        if (ack.result() == v1::ACK_RETRY) {
          totals->retries++;
          pause_ms = std::max(pause_ms, std::max<uint32_t>(ack.retry_after_ms(), 50));
          retry.batches.push_back(std::move(it->second));
        } else {
          if (ack.result() == v1::ACK_REJECTED || ack.rejected_series() > 0) {
            totals->rejected++;
            std::cerr << "fleet-sim: " << host.name << ": collector refused data: " << ack.message()
                      << "\n";
          }
          totals->batches++;
          for (const auto& s : it->second.series()) totals->points += s.points_size();
        }
        o.pending.erase(it);
      }
      for (auto& [seq, b] : o.pending) retry.batches.push_back(std::move(b));  // unanswered
      o.stream->Finish();
      if (!retry.batches.empty()) jobs.push_back(std::move(retry));
    }
    if (!jobs.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms + 100));
  }
  std::set<size_t> failed;
  for (const Job& job : jobs) failed.insert(job.host);
  return failed;
}

int Run(const Options& o) {
  const int64_t start_ms = absl::ToUnixMillis(absl::Now());
  const World w = MakeWorld(o, start_ms);
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  const uint64_t epoch = static_cast<uint64_t>(start_ms);
  std::vector<HostState> state(w.hosts.size());
  std::vector<uint64_t> sequence(w.hosts.size(), 0);
  Totals totals;
  std::atomic<bool> failed{false};

  // The history, a day per batch, newest day first: what dashboards look at
  // (the last day, the last week) is there first, and each day's minutes
  // get all their hosts' data close together, so the collector rolls a
  // minute up about once instead of once per host. The counters each day
  // starts from are computed first, oldest day first (counters accumulate).
  const int64_t step = o.step_s * 1000LL, sli_step = o.sli_step_s * 1000LL;
  const int64_t history_from = (start_ms - o.days * kDay) / step * step;
  const int64_t history_to = start_ms / step * step;
  std::vector<int64_t> days;
  for (int64_t from = history_from; from < history_to; from += kDay) days.push_back(from);
  // day_start[h][d]: host h's counters when day d begins; [h][days] at the end.
  std::vector<std::vector<HostState>> day_start(w.hosts.size());
  for (size_t h = 0; h < w.hosts.size(); ++h) {
    day_start[h].push_back(HostState{});
    for (int64_t from : days) {
      HostState next;
      (void)MakeBatch(w, h, day_start[h].back(), &next, from, std::min(from + kDay, history_to),
                      step, sli_step);
      day_start[h].push_back(std::move(next));
    }
    state[h] = day_start[h].back();
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto backfill = [&](int thread) {
    auto channel = grpc::CreateCustomChannel(o.collector, grpc::InsecureChannelCredentials(), args);
    for (size_t d = days.size(); d-- > 0 && !g_stop;) {
      std::vector<Job> jobs;
      for (size_t h = static_cast<size_t>(thread); h < w.hosts.size();
           h += static_cast<size_t>(o.threads)) {
        HostState next;
        Job& job = jobs.emplace_back(Job{h, {}});
        job.batches.push_back(MakeBatch(w, h, day_start[h][d], &next, days[d],
                                        std::min(days[d] + kDay, history_to), step, sli_step));
      }
      if (!Deliver(channel, w, epoch, sequence, std::move(jobs), &totals).empty()) {
        failed = true;
        return;
      }
    }
  };
  if (o.days > 0) {
    std::vector<std::thread> threads;
    for (int t = 0; t < o.threads; ++t) threads.emplace_back(backfill, t);
    for (auto& t : threads) t.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf(
        "fleet-sim: %zu hosts, %zu services, %d days: %llu batches, %llu points in %.1f s "
        "(%.0f points/s), %llu retried, %llu refused\n",
        w.hosts.size(), w.services.size(), o.days,
        static_cast<unsigned long long>(totals.batches.load()),
        static_cast<unsigned long long>(totals.points.load()), s,
        static_cast<double>(totals.points.load()) / s,
        static_cast<unsigned long long>(totals.retries.load()),
        static_cast<unsigned long long>(totals.rejected.load()));
    std::fflush(stdout);
  }
  if (failed) {
    std::cerr << "fleet-sim: cannot deliver to the collector at " << o.collector << "\n";
    return 1;
  }
  // Live: every host reports its latest step until stopped.
  auto channel = grpc::CreateCustomChannel(o.collector, grpc::InsecureChannelCredentials(), args);
  int64_t live_from = history_to;
  while (o.live && !g_stop) {
    for (int i = 0; i < o.live_step_s * 5 && !g_stop; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    const int64_t now = absl::ToUnixMillis(absl::Now());
    const int64_t live_step = o.live_step_s * 1000LL;
    const int64_t to = now / live_step * live_step;
    if (to <= live_from) continue;
    std::vector<Job> jobs;
    std::vector<HostState> next(w.hosts.size());
    for (size_t h = 0; h < w.hosts.size(); ++h) {
      Job& job = jobs.emplace_back(Job{h, {}});
      job.batches.push_back(
          MakeBatch(w, h, state[h], &next[h], live_from, to, live_step, live_step));
    }
    std::set<size_t> undelivered = Deliver(channel, w, epoch, sequence, std::move(jobs), &totals);
    for (size_t h = 0; h < w.hosts.size(); ++h) {
      if (undelivered.count(h) == 0) state[h] = next[h];
    }
    live_from = to;
  }
  return totals.rejected > 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "plumbline-fleet-sim: a simulated fleet (business units, services, hosts, 30 days of "
      "history with two incidents and a price change) reported through the collector's real "
      "ingest API. Demo and benchmark data, labelled as such."};
  app.require_subcommand(1);
  Options o;
  auto world = [&](CLI::App* c) {
    c->add_option("--units", o.units, "business units")->check(CLI::Range(1, 1000));
    c->add_option("--services", o.services, "services")->check(CLI::Range(1, 100000));
    c->add_option("--hosts", o.hosts, "hosts (one is shared by the first two services)")
        ->check(CLI::Range(1, 1000000));
  };
  auto* catalog = app.add_subcommand("catalog", "print the simulated fleet's catalog (YAML)");
  world(catalog);
  catalog->add_option("--base-catalog", o.base_catalog, "catalog to add the fleet to");
  catalog->add_option("--local-host", o.local_host,
                      "in the base catalog, replace host glob \"*\" by this host name");
  auto* run = app.add_subcommand("run", "send the history (and, with --live, current data)");
  world(run);
  run->add_option("--collector", o.collector, "collector gRPC address host:port");
  run->add_option("--days", o.days, "days of history to backfill")->check(CLI::Range(0, 400));
  run->add_option("--step", o.step_s, "seconds between host usage samples in the history")
      ->check(CLI::Range(10, 3600));
  run->add_option("--sli-step", o.sli_step_s, "seconds between request counter samples")
      ->check(CLI::Range(10, 3600));
  run->add_option("--threads", o.threads, "concurrent senders")->check(CLI::Range(1, 64));
  run->add_flag("--live", o.live, "after the history, keep reporting current data until stopped");
  run->add_option("--live-step", o.live_step_s, "seconds between live reports")
      ->check(CLI::Range(1, 3600));
  CLI11_PARSE(app, argc, argv);
  std::signal(SIGINT, [](int) { g_stop = true; });
  std::signal(SIGTERM, [](int) { g_stop = true; });
  if (catalog->parsed()) {
    try {
      YAML::Emitter out;
      out << MakeCatalog(MakeWorld(o, absl::ToUnixMillis(absl::Now())), o);
      std::cout << "# Generated by plumbline-fleet-sim: simulated demo data.\n"
                << out.c_str() << "\n";
    } catch (const YAML::Exception& e) {
      std::cerr << "fleet-sim: " << o.base_catalog << ": " << e.what() << "\n";
      return 1;
    }
    return 0;
  }
  return Run(o);
}
