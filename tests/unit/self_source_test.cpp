#include "agent/sources/self_source.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/footprint.h"

namespace plumbline::agent {
namespace {

namespace fs = std::filesystem;

const v1::Series* Find(const v1::Batch& b, const std::string& name) {
  for (const auto& s : b.series()) {
    if (s.name() == name) return &s;
  }
  return nullptr;
}

constexpr char kStatus[] =
    "Name:\tplumbline-agent\nState:\tS (sleeping)\nVmPeak:\t  300000 kB\n"
    "VmRSS:\t   12345 kB\nThreads:\t6\n";
// Field 2 holds spaces and a ')'; utime is 150 ticks, stime 50, starttime
// 12345 ticks after boot.
constexpr char kStat[] =
    "4242 (plumb) agent) S 1 4242 4242 0 -1 4194560 2000 0 0 0 150 50 0 0 20 0 6 0 "
    "12345 300000000 3086 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";

class SelfSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("plumbline_self_source_" +
             std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(root_ / "proc/self/fd");
    for (const char* fd : {"0", "1", "2", "7"}) std::ofstream(root_ / "proc/self/fd" / fd);
    context_.proc = ProcFs(root_.string());
    context_.counters = &counters_;
    context_.clock = &clock_;
  }
  void TearDown() override { fs::remove_all(root_); }
  void Write(const std::string& file, const std::string& text) {
    std::ofstream(root_ / "proc/self" / file) << text;
  }

  fs::path root_;
  Counters counters_;
  FakeClock clock_{1700000000000};
  SourceContext context_;
};

TEST_F(SelfSourceTest, ReportsMemoryCpuFdsAndEveryCounter) {
  Write("status", kStatus);
  Write("stat", kStat);
  std::ofstream(root_ / "proc/stat") << "cpu  1 2 3 4 5 6 7 8\nbtime 1700000000\n";
  counters_.Add("plumbline_agent_parse_errors_total", {{"source", "statsd"}}, 3);
  counters_.Set("plumbline_agent_queue_batches", {}, 5);
  SelfSource source(context_, 100);
  clock_.Advance(2500);
  v1::Batch batch;
  MetricWriter writer(&batch, nullptr, clock_.NowMs());
  ASSERT_TRUE(source.Collect(writer).ok());

  const v1::Series* rss = Find(batch, "plumbline_agent_resident_memory_bytes");
  ASSERT_NE(rss, nullptr);
  EXPECT_EQ(rss->type(), v1::METRIC_TYPE_GAUGE);
  EXPECT_EQ(rss->unit(), "bytes");
  EXPECT_DOUBLE_EQ(rss->points(0).number(), 12345.0 * 1024);
  const v1::Series* cpu = Find(batch, "plumbline_agent_cpu_seconds_total");
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->type(), v1::METRIC_TYPE_COUNTER);
  EXPECT_DOUBLE_EQ(cpu->points(0).number(), 2.0);  // (150 + 50) / 100
  EXPECT_DOUBLE_EQ(Find(batch, "plumbline_agent_open_fds")->points(0).number(), 4);
  EXPECT_DOUBLE_EQ(Find(batch, "plumbline_agent_threads")->points(0).number(), 6);
  EXPECT_DOUBLE_EQ(Find(batch, "plumbline_agent_start_time_seconds")->points(0).number(),
                   1700000000 + 123.45);

  const v1::Series* errors = Find(batch, "plumbline_agent_parse_errors_total");
  ASSERT_NE(errors, nullptr);
  EXPECT_EQ(errors->type(), v1::METRIC_TYPE_COUNTER);
  ASSERT_EQ(errors->labels_size(), 1);
  EXPECT_EQ(errors->labels(0).name(), "source");
  EXPECT_EQ(errors->labels(0).value(), "statsd");
  EXPECT_DOUBLE_EQ(errors->points(0).number(), 3);
  const v1::Series* queue = Find(batch, "plumbline_agent_queue_batches");
  ASSERT_NE(queue, nullptr);
  EXPECT_EQ(queue->type(), v1::METRIC_TYPE_GAUGE) << "not named _total";
}

TEST_F(SelfSourceTest, MissingOrGarbledFilesGiveAnErrorButTheRestIsWritten) {
  Write("status", "Name:\tx\nVmRSS:\tlots kB\n");
  SelfSource source(context_, 100);
  counters_.Add("plumbline_agent_collect_errors_total", {{"source", "host"}});
  v1::Batch batch;
  MetricWriter writer(&batch, nullptr, 1);
  EXPECT_FALSE(source.Collect(writer).ok());
  EXPECT_EQ(Find(batch, "plumbline_agent_resident_memory_bytes"), nullptr);
  EXPECT_EQ(Find(batch, "plumbline_agent_cpu_seconds_total"), nullptr);
  EXPECT_NE(Find(batch, "plumbline_agent_open_fds"), nullptr);
  EXPECT_NE(Find(batch, "plumbline_agent_collect_errors_total"), nullptr);
}

TEST(SelfParsers, ProcessStatusAndStat) {
  EXPECT_FALSE(ParseProcessStatus("").ok());
  EXPECT_FALSE(ParseProcessStatus("VmRSS:\t-1 kB\n").ok());
  EXPECT_FALSE(ParseProcessStatus("VmRSS:\t1 MB\n").ok());
  EXPECT_FALSE(ParseProcessStatus("VmRSS:\t99999999999999999999999 kB\n").ok());
  EXPECT_EQ(ParseProcessStatus("VmRSS: 4 kB")->resident_bytes, 4096u);
  EXPECT_FALSE(ParseProcessStat("", 100).ok());
  EXPECT_FALSE(ParseProcessStat("1 (x) S 1 2 3", 100).ok());
  EXPECT_FALSE(ParseProcessStat(std::string(kStat).substr(0, 60), 100).ok());
  EXPECT_FALSE(
      ParseProcessStat("1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 x", 100).ok());
  EXPECT_DOUBLE_EQ(ParseProcessStat(kStat, 100)->cpu_seconds, 2.0);
  EXPECT_DOUBLE_EQ(ParseProcessStat(kStat, 100)->started_after_boot, 123.45);
}

TEST(SelfSource, RealProcSelfReadsThisProcess) {
  Counters counters;
  SourceContext context;
  context.counters = &counters;
  SelfSource source(context, 100);
  v1::Batch batch;
  MetricWriter writer(&batch, nullptr, 1);
  ASSERT_TRUE(source.Collect(writer).ok());
  ASSERT_NE(Find(batch, "plumbline_agent_resident_memory_bytes"), nullptr);
  EXPECT_GT(Find(batch, "plumbline_agent_resident_memory_bytes")->points(0).number(), 0);
  EXPECT_GE(Find(batch, "plumbline_agent_open_fds")->points(0).number(), 3);
  ASSERT_NE(Find(batch, "plumbline_agent_start_time_seconds"), nullptr);
  EXPECT_GT(Find(batch, "plumbline_agent_start_time_seconds")->points(0).number(), 1.6e9);
}

TEST(SelfSource, AgentPublishesQueueAndShipperFiguresForIt) {
  fs::path state = fs::temp_directory_path() / "plumbline_self_source_agent";
  auto config = ParseAgentConfig("", "<defaults>");
  ASSERT_TRUE(config.ok()) << config.status();
  config->state_dir = state.string();
  {
    Agent agent(*config, "");
    v1::Batch batch = agent.CollectOnce();
    EXPECT_NE(Find(batch, "plumbline_agent_resident_memory_bytes"), nullptr);
    const v1::Series* queued = Find(batch, "plumbline_agent_queue_batches");
    ASSERT_NE(queued, nullptr) << "the self source is on by default";
    EXPECT_EQ(queued->type(), v1::METRIC_TYPE_GAUGE);
    EXPECT_NE(Find(batch, "plumbline_agent_batches_queued_total"), nullptr);
    const v1::Series* dropped = Find(batch, "plumbline_agent_batches_dropped_total");
    ASSERT_NE(dropped, nullptr);
    EXPECT_EQ(dropped->type(), v1::METRIC_TYPE_COUNTER);
  }
  fs::remove_all(state);
}

TEST(SelfOptions, CanBeSwitchedOff) {
  auto c = ParseAgentConfig("sources:\n  self: {enabled: false}\n", "agent.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->self.enabled);
  auto d = ParseAgentConfig("", "agent.yaml");
  EXPECT_TRUE(d->self.enabled);
}

TEST(AgentConfig, TheShippedAnnotatedConfigParses) {
  auto c = LoadAgentConfig(std::string(PLUMBLINE_FIXTURES) + "/../../configs/agent.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->statsd.enabled);
  EXPECT_TRUE(c->prometheus.targets.empty());
  EXPECT_TRUE(c->self.enabled);
}

}  // namespace
}  // namespace plumbline::agent

namespace plumbline::agent {
namespace {

// The /proc/self/pagemap entry of the page holding `p` (0 if unreadable).
uint64_t PagemapEntry(const void* p) {
  const int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const auto page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  uint64_t entry = 0;
  const ssize_t n = pread(fd, &entry, sizeof entry,
                          static_cast<off_t>(reinterpret_cast<uintptr_t>(p) / page * 8));
  close(fd);
  return n == sizeof entry ? entry : 0;
}
// Whether the page is in this process' page tables (bit 63).
bool Present(const void* p) { return (PagemapEntry(p) >> 63) != 0; }
// Whether this process alone maps it (bit 56).
bool Exclusive(const void* p) { return ((PagemapEntry(p) >> 56) & 1) != 0; }

// Read-only data of this test's executable (which stands in for the agent's):
// 256 KiB, so that its middle page is more than the kernel's 64 KiB
// fault-around away from anything else the test touches.
struct Blob {
  char bytes[256 * 1024];
};
constexpr Blob MakeBlob() {
  Blob b{};
  for (size_t i = 0; i < sizeof b.bytes; ++i) b.bytes[i] = static_cast<char>(i % 251 + 1);
  return b;
}
alignas(4096) const Blob kBlob = MakeBlob();

TEST(ReleaseStartupCode, PagesOutTheExecutablesReadOnlyPagesWhichStillWork) {
  const volatile char* middle = &kBlob.bytes[128 * 1024];
  EXPECT_EQ(*middle, static_cast<char>(128 * 1024 % 251 + 1));  // resident now
  ASSERT_TRUE(Present(const_cast<const char*>(middle)));
  // The kernel pages out only clean pages that one process maps: a binary
  // just linked may still be dirty in the page cache (written back first),
  // and another run of this executable at the same moment (ctest -j)
  // shares the page and keeps it.
  if (const int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC); exe >= 0) {
    (void)fdatasync(exe);
    close(exe);
  }
  const bool exclusive = Exclusive(const_cast<const char*>(middle));
  ReleasedCode released = ReleaseStartupCode();
  ASSERT_TRUE(released.ok);
  EXPECT_GT(released.mapped_bytes, sizeof(Blob));
  if (exclusive) {
    EXPECT_FALSE(Present(const_cast<const char*>(middle)));
  } else {
    std::printf("page shared with another process: not expected to be paged out\n");
  }
  // Faults back in when used, unchanged.
  EXPECT_EQ(*middle, static_cast<char>(128 * 1024 % 251 + 1));
  EXPECT_TRUE(Present(const_cast<const char*>(middle)));
}

}  // namespace
}  // namespace plumbline::agent
