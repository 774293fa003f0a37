// The collector's ingest path, stage by stage, on batches shaped like an
// agent's (host metrics: a name, the host label and one or two more, one
// point per series): parse (into an arena, as IngestService does), validate,
// and commit to the SQLite store in groups (as IngestPipeline does), with
// full and relaxed durability. Items are samples, so the rates read as
// samples per second of one core.
//
//   build/release/bench/plumbline-bench-ingest [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <google/protobuf/arena.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "collector/batch_validator.h"
#include "collector/store/sqlite_store.h"
#include "plumbline/v1/ingest.pb.h"

namespace plumbline::collector {
namespace {

constexpr int kSeries = 500;
constexpr int64_t kIntervalMs = 10000;
constexpr int64_t kStartMs = 1'790'000'000'000;

const char* const kNames[] = {"host_cpu_seconds_total", "host_memory_used_bytes",
                              "host_filesystem_used_bytes", "host_network_receive_bytes_total",
                              "host_disk_read_bytes_total"};

// One agent's batch: kSeries series over a few metric names, each with the
// host label plus one distinguishing label, one point at `ts`.
v1::IngestRequest MakeBatch(int agent, uint64_t sequence, int64_t ts) {
  v1::IngestRequest request;
  v1::Batch* b = request.mutable_batch();
  b->set_agent_id("host-" + std::to_string(agent));
  b->set_epoch(1);
  b->set_sequence(sequence);
  b->set_created_ms(ts);
  for (int k = 0; k < kSeries; ++k) {
    v1::Series* s = b->add_series();
    s->set_name(kNames[k % 5]);
    s->set_type(k % 5 == 1 || k % 5 == 2 ? v1::METRIC_TYPE_GAUGE : v1::METRIC_TYPE_COUNTER);
    v1::Label* host = s->add_labels();
    host->set_name("host");
    host->set_value("host-" + std::to_string(agent));
    v1::Label* dim = s->add_labels();
    dim->set_name("device");
    dim->set_value("dev" + std::to_string(k / 5));
    v1::Point* p = s->add_points();
    p->set_timestamp_ms(ts);
    p->set_number(static_cast<double>(sequence * 1000 + static_cast<uint64_t>(k)));
  }
  return request;
}

void BM_Parse(benchmark::State& state) {
  const std::string wire = MakeBatch(1, 1, kStartMs).SerializeAsString();
  for (auto _ : state) {
    google::protobuf::ArenaOptions o;
    o.start_block_size = 2 * wire.size() + 1024;
    google::protobuf::Arena arena(o);
    auto* request = google::protobuf::Arena::CreateMessage<v1::IngestRequest>(&arena);
    if (!request->ParseFromString(wire)) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(request);
  }
  state.SetItemsProcessed(state.iterations() * kSeries);
  state.counters["wire_bytes_per_sample"] = static_cast<double>(wire.size()) / kSeries;
}
BENCHMARK(BM_Parse);

// The same parse onto the heap, as the collector did before it used arenas.
void BM_ParseHeap(benchmark::State& state) {
  const std::string wire = MakeBatch(1, 1, kStartMs).SerializeAsString();
  for (auto _ : state) {
    v1::IngestRequest request;
    if (!request.ParseFromString(wire)) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(request);
  }
  state.SetItemsProcessed(state.iterations() * kSeries);
}
BENCHMARK(BM_ParseHeap);

void BM_Validate(benchmark::State& state) {
  const v1::IngestRequest request = MakeBatch(1, 1, kStartMs);
  ValidationLimits limits;
  for (auto _ : state) {
    ValidationResult v = ValidateBatch(request.batch(), limits, kStartMs);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations() * kSeries);
}
BENCHMARK(BM_Validate);

// Commits groups of `range(1)` batches, one per agent of 100, each group
// the next interval of every agent's series (so after the first group every
// series exists, as in a running fleet).
void BM_StoreWrite(benchmark::State& state) {
  const auto durability = state.range(0) == 0 ? Durability::kFull : Durability::kRelaxed;
  const int group = static_cast<int>(state.range(1));
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("plumbline-bench-ingest-" + std::to_string(::getpid()) + ".db");
  auto store = SqliteStore::Open(path.string(), durability);
  if (!store.ok()) {
    state.SkipWithError(std::string(store.status().message()).c_str());
    return;
  }
  constexpr int kAgents = 100;
  std::vector<uint64_t> sequence(kAgents, 0);
  std::vector<int> all(kSeries);
  for (int i = 0; i < kSeries; ++i) all[static_cast<size_t>(i)] = i;
  int next_agent = 0;
  uint64_t samples = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<v1::IngestRequest> requests;
    std::vector<BatchWrite> writes;
    for (int i = 0; i < group; ++i) {
      const int agent = next_agent;
      next_agent = (next_agent + 1) % kAgents;
      const uint64_t seq = ++sequence[static_cast<size_t>(agent)];
      requests.push_back(MakeBatch(agent, seq, kStartMs + static_cast<int64_t>(seq) * kIntervalMs));
    }
    for (const v1::IngestRequest& r : requests) {
      BatchWrite w;
      w.batch = &r.batch();
      w.series = all;
      w.received_ms = kStartMs;
      writes.push_back(std::move(w));
    }
    state.ResumeTiming();
    absl::Status s = (*store)->WriteBatches(writes);
    if (!s.ok()) state.SkipWithError(std::string(s.message()).c_str());
    for (const BatchWrite& w : writes) samples += w.samples_written;
  }
  state.SetItemsProcessed(static_cast<int64_t>(samples));
  store->reset();
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(path.string() + suffix);
  }
}
BENCHMARK(BM_StoreWrite)
    ->ArgNames({"relaxed", "group"})
    ->Args({0, 64})
    ->Args({1, 64})
    ->Args({0, 512})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace plumbline::collector

BENCHMARK_MAIN();
