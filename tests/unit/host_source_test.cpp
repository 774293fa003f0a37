#include "agent/sources/host_source.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace plumbline::agent {
namespace {

std::string Fixture(const std::string& tree) {
  return std::string(PLUMBLINE_FIXTURES) + "/proc/" + tree;
}

const v1::Series* FindSeries(const v1::Batch& b, const std::string& name,
                             const std::string& label = "", const std::string& value = "") {
  for (const auto& s : b.series()) {
    if (s.name() != name) continue;
    if (label.empty()) return &s;
    for (const auto& l : s.labels()) {
      if (l.name() == label && l.value() == value) return &s;
    }
  }
  return nullptr;
}

TEST(HostSource, WritesCpuCountersAndMemoryGaugesWithCommonLabels) {
  HostSource source(ProcFs(Fixture("normal")), {}, 100);
  v1::Batch batch;
  Labels common = {{"host", "web-01"}, {"env", "prod"}};
  MetricWriter writer(&batch, &common, 1700000000000);
  ASSERT_TRUE(source.Collect(writer).ok());

  const v1::Series* user = FindSeries(batch, "host_cpu_seconds_total", "mode", "user");
  ASSERT_NE(user, nullptr);
  EXPECT_EQ(user->type(), v1::METRIC_TYPE_COUNTER);
  EXPECT_DOUBLE_EQ(user->points(0).number(), 101321.53);
  EXPECT_EQ(user->points(0).timestamp_ms(), 1700000000000);
  ASSERT_GE(user->labels_size(), 3);
  EXPECT_EQ(user->labels(0).name(), "host");
  EXPECT_EQ(user->labels(0).value(), "web-01");
  EXPECT_EQ(user->labels(1).name(), "env");

  const v1::Series* total = FindSeries(batch, "host_memory_total_bytes");
  ASSERT_NE(total, nullptr);
  EXPECT_EQ(total->type(), v1::METRIC_TYPE_GAUGE);
  EXPECT_DOUBLE_EQ(total->points(0).number(), 16307836.0 * 1024);
  const v1::Series* ratio = FindSeries(batch, "host_memory_used_ratio");
  ASSERT_NE(ratio, nullptr);
  EXPECT_DOUBLE_EQ(ratio->points(0).number(), (16307836.0 - 9877432.0) / 16307836.0);
  EXPECT_EQ(FindSeries(batch, "host_cpu_seconds_total", "cpu", "0"), nullptr)
      << "per-core series only when per_cpu is set";
  EXPECT_EQ(FindSeries(batch, "host_cpu_utilization"), nullptr) << "utilisation needs two readings";
}

TEST(HostSource, UtilisationIsBusyShareOfTheIntervalBetweenReadings) {
  auto dir = std::filesystem::temp_directory_path() / "plumbline_host_source_test";
  std::filesystem::create_directories(dir / "proc");
  std::filesystem::copy_file(Fixture("normal") + "/proc/meminfo", dir / "proc/meminfo",
                             std::filesystem::copy_options::overwrite_existing);
  auto write_stat = [&](const char* text) { std::ofstream(dir / "proc/stat") << text; };
  HostSource source(ProcFs(dir.string()), {}, 100);
  Labels none;
  write_stat("cpu  100 0 100 800 0 0 0 0\n");
  v1::Batch first;
  MetricWriter w1(&first, &none, 1);
  ASSERT_TRUE(source.Collect(w1).ok());
  // +300 ticks user, +100 system, +500 idle, +100 iowait: busy 400 of 1000.
  write_stat("cpu  400 0 200 1300 100 0 0 0\n");
  v1::Batch second;
  MetricWriter w2(&second, &none, 2);
  ASSERT_TRUE(source.Collect(w2).ok());
  const v1::Series* util = FindSeries(second, "host_cpu_utilization");
  ASSERT_NE(util, nullptr);
  EXPECT_DOUBLE_EQ(util->points(0).number(), 0.4);
  std::filesystem::remove_all(dir);
}

TEST(HostSource, PerCpuSeriesCarryTheCpuLabel) {
  HostSource source(ProcFs(Fixture("normal")), {.per_cpu = true}, 100);
  v1::Batch batch;
  MetricWriter writer(&batch, nullptr, 1);
  ASSERT_TRUE(source.Collect(writer).ok());
  const v1::Series* cpu1 = FindSeries(batch, "host_cpu_seconds_total", "cpu", "1");
  ASSERT_NE(cpu1, nullptr);
}

TEST(HostSource, GarbledProcGivesAnErrorButKeepsTheOtherReading) {
  HostSource source(ProcFs(Fixture("truncated")), {}, 100);
  v1::Batch batch;
  MetricWriter writer(&batch, nullptr, 1);
  absl::Status s = source.Collect(writer);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(batch.series_size(), 0);  // both files are broken in this fixture

  auto dir = std::filesystem::temp_directory_path() / "plumbline_host_source_mixed";
  std::filesystem::create_directories(dir / "proc");
  std::filesystem::copy_file(Fixture("normal") + "/proc/meminfo", dir / "proc/meminfo",
                             std::filesystem::copy_options::overwrite_existing);
  std::ofstream(dir / "proc/stat") << "garbage";
  HostSource mixed(ProcFs(dir.string()), {}, 100);
  v1::Batch batch2;
  MetricWriter writer2(&batch2, nullptr, 1);
  EXPECT_FALSE(mixed.Collect(writer2).ok());
  EXPECT_NE(FindSeries(batch2, "host_memory_total_bytes"), nullptr);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace plumbline::agent
