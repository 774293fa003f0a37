#include "agent/proc_parsers.h"

#include <gtest/gtest.h>

namespace plumbline::agent {
namespace {

std::string Fixture(const std::string& tree) {
  return std::string(PLUMBLINE_FIXTURES) + "/proc/" + tree;
}

TEST(ProcStat, ParsesCpuModesInSecondsFromTicks) {
  auto text = ProcFs(Fixture("normal")).Read("/proc/stat");
  ASSERT_TRUE(text.ok()) << text.status();
  auto stat = ParseProcStat(*text, 100);
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_DOUBLE_EQ(stat->total.user, 101321.53);
  EXPECT_DOUBLE_EQ(stat->total.nice, 2906.96);
  EXPECT_DOUBLE_EQ(stat->total.system, 30847.19);
  EXPECT_DOUBLE_EQ(stat->total.idle, 468284.83);
  EXPECT_DOUBLE_EQ(stat->total.iowait, 166.83);
  EXPECT_DOUBLE_EQ(stat->total.softirq, 251.95);
  EXPECT_DOUBLE_EQ(stat->total.steal, 0);
  ASSERT_EQ(stat->per_cpu.size(), 2u);
  EXPECT_DOUBLE_EQ(stat->per_cpu[1].user, 13352.82);
  EXPECT_EQ(stat->context_switches, 206217489u);
  EXPECT_EQ(stat->boot_time_s, 1700000000);
  EXPECT_EQ(stat->procs_running, 3u);
  EXPECT_EQ(stat->procs_blocked, 1u);
}

TEST(ProcStat, BusyIsTotalMinusIdleAndIowait) {
  CpuTimes t{1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_DOUBLE_EQ(t.Total(), 36);
  EXPECT_DOUBLE_EQ(t.Busy(), 27);
}

TEST(ProcStat, AcceptsOldKernelsWithFourFields) {
  auto stat = ParseProcStat("cpu  100 0 50 1000\n", 100);
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_DOUBLE_EQ(stat->total.idle, 10);
  EXPECT_DOUBLE_EQ(stat->total.iowait, 0);
}

TEST(ProcStat, TruncatedFileIsAClearError) {
  auto text = ProcFs(Fixture("truncated")).Read("/proc/stat");
  ASSERT_TRUE(text.ok());
  auto stat = ParseProcStat(*text, 100);
  ASSERT_FALSE(stat.ok());
  EXPECT_EQ(stat.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(stat.status().message(), "/proc/stat:1: cpu line has 2 fields, expected at least 4");
}

TEST(ProcStat, GarbledNumberIsAClearError) {
  auto text = ProcFs(Fixture("garbled")).Read("/proc/stat");
  ASSERT_TRUE(text.ok());
  auto stat = ParseProcStat(*text, 100);
  ASSERT_FALSE(stat.ok());
  EXPECT_EQ(stat.status().message(), "/proc/stat:1: bad number \"1013x153\"");
}

TEST(ProcStat, EmptyOrCpulessFileIsAnError) {
  EXPECT_FALSE(ParseProcStat("", 100).ok());
  EXPECT_FALSE(ParseProcStat("ctxt 5\n", 100).ok());
  EXPECT_FALSE(ParseProcStat("cpu 1 2 3 4\n", 0).ok());
}

TEST(ProcStat, HugeCpuIndexIsRejectedNotAllocated) {
  auto stat = ParseProcStat("cpu 1 2 3 4\ncpu99999999999 1 2 3 4\n", 100);
  EXPECT_FALSE(stat.ok());
}

TEST(MemInfo, ParsesKilobytesIntoBytes) {
  auto text = ProcFs(Fixture("normal")).Read("/proc/meminfo");
  ASSERT_TRUE(text.ok());
  auto m = ParseMemInfo(*text);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->total, 16307836ull * 1024);
  EXPECT_EQ(m->free, 1210252ull * 1024);
  EXPECT_EQ(m->available, 9877432ull * 1024);
  EXPECT_EQ(m->buffers, 525588ull * 1024);
  EXPECT_EQ(m->cached, 8072680ull * 1024);
  EXPECT_EQ(m->swap_total, 2097148ull * 1024);
  EXPECT_EQ(m->Used(), (16307836ull - 9877432ull) * 1024);
}

TEST(MemInfo, WithoutMemAvailableFallsBackToFreePlusBuffersPlusCached) {
  auto text = ProcFs(Fixture("old_kernel")).Read("/proc/meminfo");
  ASSERT_TRUE(text.ok());
  auto m = ParseMemInfo(*text);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->available, (100ull + 50 + 200) * 1024);
}

TEST(MemInfo, TruncatedFileIsAClearError) {
  auto text = ProcFs(Fixture("truncated")).Read("/proc/meminfo");
  ASSERT_TRUE(text.ok());
  auto m = ParseMemInfo(*text);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message(), "/proc/meminfo:2: expected \"Key: value\"");
}

TEST(MemInfo, GarbledValueIsAClearError) {
  auto text = ProcFs(Fixture("garbled")).Read("/proc/meminfo");
  ASSERT_TRUE(text.ok());
  auto m = ParseMemInfo(*text);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message(), "/proc/meminfo:1: bad value for MemTotal");
}

TEST(MemInfo, OverflowingValueIsRejected) {
  EXPECT_FALSE(ParseMemInfo("MemTotal: 18446744073709551615 kB\nMemFree: 1 kB\n").ok());
}

TEST(ProcFs, MissingFileIsNotFound) {
  auto text = ProcFs(Fixture("does-not-exist")).Read("/proc/stat");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), absl::StatusCode::kNotFound);
}

TEST(ProcFs, ReadsTheRealProcStat) {
  auto text = ProcFs().Read("/proc/stat");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_TRUE(ParseProcStat(*text, 100).ok());
}

}  // namespace
}  // namespace plumbline::agent
