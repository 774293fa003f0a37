// HostSource beyond CPU and memory: load, processes and threads, uptime,
// filesystems (with an injected statvfs), disks and network interfaces.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "agent/sources/host_source.h"

namespace plumbline::agent {
namespace {

std::string Fixture(const std::string& tree) {
  return std::string(PLUMBLINE_FIXTURES) + "/proc/" + tree;
}

std::string Label(const v1::Series& s, const std::string& name) {
  for (const auto& l : s.labels()) {
    if (l.name() == name) return l.value();
  }
  return "";
}

// Series by name and the value of one label ("" for none).
std::map<std::pair<std::string, std::string>, const v1::Series*> Index(const v1::Batch& b,
                                                                       const std::string& label) {
  std::map<std::pair<std::string, std::string>, const v1::Series*> out;
  for (const auto& s : b.series()) out[{s.name(), Label(s, label)}] = &s;
  return out;
}

double Value(const v1::Batch& b, const std::string& name, const std::string& label = "",
             const std::string& value = "") {
  for (const auto& s : b.series()) {
    if (s.name() == name && (label.empty() || Label(s, label) == value)) {
      return s.points(0).number();
    }
  }
  ADD_FAILURE() << "no series " << name << "{" << label << "=" << value << "}";
  return -1;
}

bool Has(const v1::Batch& b, const std::string& name, const std::string& label = "",
         const std::string& value = "") {
  for (const auto& s : b.series()) {
    if (s.name() == name && (label.empty() || Label(s, label) == value)) return true;
  }
  return false;
}

// statvfs stand-in: 100 GiB "/" with 40 GiB free (30 GiB for users), and
// whatever else was asked for, recorded.
struct FakeStatFs {
  std::vector<std::string>* asked;
  absl::StatusOr<FsUsage> operator()(const std::string& mountpoint) const {
    asked->push_back(mountpoint);
    if (mountpoint == "/boot/efi") return absl::PermissionDeniedError("statvfs: denied");
    FsUsage u;
    u.size_bytes = 100ull << 30;
    u.free_bytes = 40ull << 30;
    u.available_bytes = 30ull << 30;
    u.files = 6553600;
    u.files_free = 6000000;
    return u;
  }
};

v1::Batch CollectFrom(HostSource& source, absl::Status* status = nullptr) {
  v1::Batch batch;
  MetricWriter writer(&batch, nullptr, 1);
  absl::Status s = source.Collect(writer);
  if (status != nullptr) {
    *status = s;
  } else {
    EXPECT_TRUE(s.ok()) << s;
  }
  return batch;
}

TEST(HostUsage, LoadThreadsProcessesAndUptimeAreGauges) {
  std::vector<std::string> asked;
  HostSource source(ProcFs(Fixture("normal")), {}, 100, FakeStatFs{&asked});
  ASSERT_TRUE(source.Start().ok());
  v1::Batch b = CollectFrom(source);
  EXPECT_DOUBLE_EQ(Value(b, "host_load1"), 0.52);
  EXPECT_DOUBLE_EQ(Value(b, "host_load5"), 0.58);
  EXPECT_DOUBLE_EQ(Value(b, "host_load15"), 0.59);
  EXPECT_DOUBLE_EQ(Value(b, "host_threads"), 1012);
  EXPECT_DOUBLE_EQ(Value(b, "host_threads_running"), 3);
  EXPECT_DOUBLE_EQ(Value(b, "host_processes"), 2);  // fixture dirs 1 and 4242
  EXPECT_DOUBLE_EQ(Value(b, "host_uptime_seconds"), 350735.47);
  auto index = Index(b, "");
  EXPECT_EQ(index[std::make_pair(std::string("host_load1"), std::string(""))]->type(),
            v1::METRIC_TYPE_GAUGE);
  EXPECT_EQ(index[std::make_pair(std::string("host_uptime_seconds"), std::string(""))]->unit(),
            "seconds");
}

TEST(HostUsage, FilesystemsSkipPseudoNetworkAndContainerMounts) {
  std::vector<std::string> asked;
  HostSource source(ProcFs(Fixture("normal")), {}, 100, FakeStatFs{&asked});
  ASSERT_TRUE(source.Start().ok());
  v1::Batch b = CollectFrom(source);
  std::sort(asked.begin(), asked.end());
  // Not: sysfs, proc, devtmpfs, devpts, tmpfs, securityfs, cgroup2, overlay,
  // nsfs, nfs4, nor anything below /var/lib/docker.
  EXPECT_EQ(asked, (std::vector<std::string>{"/", "/boot/efi", "/srv/data files"}));

  EXPECT_DOUBLE_EQ(Value(b, "host_filesystem_size_bytes", "mountpoint", "/"), 100.0 * (1 << 30));
  EXPECT_DOUBLE_EQ(Value(b, "host_filesystem_free_bytes", "mountpoint", "/"), 40.0 * (1 << 30));
  EXPECT_DOUBLE_EQ(Value(b, "host_filesystem_available_bytes", "mountpoint", "/"),
                   30.0 * (1 << 30));
  EXPECT_DOUBLE_EQ(Value(b, "host_filesystem_used_bytes", "mountpoint", "/"), 60.0 * (1 << 30));
  // df's Use%: used / (used + available) = 60 / 90.
  EXPECT_DOUBLE_EQ(Value(b, "host_filesystem_used_ratio", "mountpoint", "/"), 60.0 / 90.0);
  EXPECT_DOUBLE_EQ(Value(b, "host_filesystem_files", "mountpoint", "/"), 6553600);
  EXPECT_DOUBLE_EQ(Value(b, "host_filesystem_files_free", "mountpoint", "/"), 6000000);
  EXPECT_DOUBLE_EQ(Value(b, "host_filesystem_readonly", "mountpoint", "/"), 0);
  EXPECT_DOUBLE_EQ(Value(b, "host_filesystem_readonly", "mountpoint", "/srv/data files"), 1);
  EXPECT_DOUBLE_EQ(Value(b, "host_filesystem_device_error", "mountpoint", "/"), 0);

  for (const auto& s : b.series()) {
    if (s.name() == "host_filesystem_size_bytes" && Label(s, "mountpoint") == "/") {
      EXPECT_EQ(Label(s, "fstype"), "ext4");
      EXPECT_EQ(Label(s, "device"), "/dev/nvme0n1p2");
      EXPECT_EQ(s.unit(), "bytes");
    }
  }
  // A mount statvfs cannot read is data about that mount, not a failure.
  EXPECT_DOUBLE_EQ(Value(b, "host_filesystem_device_error", "mountpoint", "/boot/efi"), 1);
  EXPECT_FALSE(Has(b, "host_filesystem_size_bytes", "mountpoint", "/boot/efi"));
}

TEST(HostUsage, FilesystemExclusionsAreConfigurable) {
  std::vector<std::string> asked;
  HostSourceOptions options;
  options.fs_types_exclude = {"vfat"};
  options.mounts_exclude = {"/srv/.*",    "/sys(/.*)?", "/proc",
                            "/dev(/.*)?", "/run(/.*)?", "/var/.*"};
  HostSource source(ProcFs(Fixture("normal")), options, 100, FakeStatFs{&asked});
  ASSERT_TRUE(source.Start().ok());
  CollectFrom(source);
  std::sort(asked.begin(), asked.end());
  EXPECT_EQ(asked, (std::vector<std::string>{"/", "/mnt/nfs"}));
}

TEST(HostUsage, BadExclusionPatternFailsStart) {
  HostSourceOptions options;
  options.disk_devices_exclude = {"(unclosed"};
  HostSource source(ProcFs(Fixture("normal")), options, 100);
  absl::Status s = source.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

TEST(HostUsage, DisksAreCountersInBytesAndSecondsWithoutPartitionsLoopOrRam) {
  std::vector<std::string> asked;
  HostSource source(ProcFs(Fixture("normal")), {}, 100, FakeStatFs{&asked});
  ASSERT_TRUE(source.Start().ok());
  v1::Batch b = CollectFrom(source);
  std::set<std::string> devices;
  for (const auto& s : b.series()) {
    if (s.name() == "host_disk_reads_completed_total") devices.insert(Label(s, "device"));
  }
  EXPECT_EQ(devices, (std::set<std::string>{"sda", "nvme0n1", "dm-0"}));
  EXPECT_DOUBLE_EQ(Value(b, "host_disk_read_bytes_total", "device", "nvme0n1"), 8917498.0 * 512);
  EXPECT_DOUBLE_EQ(Value(b, "host_disk_written_bytes_total", "device", "nvme0n1"),
                   14063704.0 * 512);
  EXPECT_DOUBLE_EQ(Value(b, "host_disk_reads_completed_total", "device", "nvme0n1"), 111814);
  EXPECT_DOUBLE_EQ(Value(b, "host_disk_writes_completed_total", "device", "nvme0n1"), 257734);
  EXPECT_DOUBLE_EQ(Value(b, "host_disk_io_time_seconds_total", "device", "nvme0n1"), 135.676);
  EXPECT_DOUBLE_EQ(Value(b, "host_disk_read_time_seconds_total", "device", "nvme0n1"), 33.62);
  EXPECT_DOUBLE_EQ(Value(b, "host_disk_io_now", "device", "nvme0n1"), 2);
  auto index = Index(b, "device");
  EXPECT_EQ(
      index[std::make_pair(std::string("host_disk_read_bytes_total"), std::string("sda"))]->type(),
      v1::METRIC_TYPE_COUNTER);
  EXPECT_EQ(index[std::make_pair(std::string("host_disk_io_now"), std::string("sda"))]->type(),
            v1::METRIC_TYPE_GAUGE);
}

TEST(HostUsage, NetworkCountersPerInterfaceWithoutLoopback) {
  std::vector<std::string> asked;
  HostSource source(ProcFs(Fixture("normal")), {}, 100, FakeStatFs{&asked});
  ASSERT_TRUE(source.Start().ok());
  v1::Batch b = CollectFrom(source);
  EXPECT_FALSE(Has(b, "host_network_receive_bytes_total", "device", "lo"));
  EXPECT_DOUBLE_EQ(Value(b, "host_network_receive_bytes_total", "device", "eth0"), 9876543210.0);
  EXPECT_DOUBLE_EQ(Value(b, "host_network_transmit_bytes_total", "device", "eth0"), 1234567890.0);
  EXPECT_DOUBLE_EQ(Value(b, "host_network_receive_packets_total", "device", "eth0"), 7654321);
  EXPECT_DOUBLE_EQ(Value(b, "host_network_transmit_packets_total", "device", "eth0"), 2345678);
  EXPECT_DOUBLE_EQ(Value(b, "host_network_receive_errors_total", "device", "eth0"), 3);
  EXPECT_DOUBLE_EQ(Value(b, "host_network_transmit_errors_total", "device", "eth0"), 1);
  EXPECT_DOUBLE_EQ(Value(b, "host_network_receive_drop_total", "device", "eth0"), 5);
  EXPECT_DOUBLE_EQ(Value(b, "host_network_transmit_drop_total", "device", "eth0"), 2);
  EXPECT_TRUE(Has(b, "host_network_receive_bytes_total", "device", "docker0"));

  HostSourceOptions options;
  options.network_devices_exclude = {"lo", "docker.*"};
  HostSource filtered(ProcFs(Fixture("normal")), options, 100, FakeStatFs{&asked});
  ASSERT_TRUE(filtered.Start().ok());
  v1::Batch f = CollectFrom(filtered);
  EXPECT_FALSE(Has(f, "host_network_receive_bytes_total", "device", "docker0"));
  EXPECT_TRUE(Has(f, "host_network_receive_bytes_total", "device", "eth0"));
}

TEST(HostUsage, ACounterGoingBackwardsIsShippedAsIs) {
  auto dir = std::filesystem::temp_directory_path() / "plumbline_host_usage_reset";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "proc/net");
  auto write_netdev = [&](const char* bytes) {
    std::ofstream(dir / "proc/net/dev")
        << "Inter-|\n face |\n  eth0: " << bytes << " 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0\n";
  };
  std::vector<std::string> asked;
  HostSource source(ProcFs(dir.string()), {}, 100, FakeStatFs{&asked});
  write_netdev("5000");
  absl::Status status;
  v1::Batch first = CollectFrom(source, &status);
  EXPECT_DOUBLE_EQ(Value(first, "host_network_receive_bytes_total", "device", "eth0"), 5000);
  write_netdev("10");  // the driver was reloaded
  v1::Batch second = CollectFrom(source, &status);
  EXPECT_DOUBLE_EQ(Value(second, "host_network_receive_bytes_total", "device", "eth0"), 10);
  std::filesystem::remove_all(dir);
}

TEST(HostUsage, EachBrokenFileIsReportedAndTheRestStillShipped) {
  auto dir = std::filesystem::temp_directory_path() / "plumbline_host_usage_broken";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "proc");
  std::filesystem::copy(Fixture("normal") + "/proc", dir / "proc",
                        std::filesystem::copy_options::recursive);
  std::filesystem::copy_file(Fixture("garbled") + "/proc/diskstats", dir / "proc/diskstats",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(Fixture("truncated") + "/proc/loadavg", dir / "proc/loadavg",
                             std::filesystem::copy_options::overwrite_existing);
  std::vector<std::string> asked;
  HostSource source(ProcFs(dir.string()), {}, 100, FakeStatFs{&asked});
  absl::Status status;
  v1::Batch b = CollectFrom(source, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "/proc/loadavg: has 2 fields, expected 5; /proc/diskstats:1: bad number \"2x000\"");
  EXPECT_FALSE(Has(b, "host_load1"));
  EXPECT_FALSE(Has(b, "host_disk_reads_completed_total", "device", "sda"));
  EXPECT_TRUE(Has(b, "host_cpu_seconds_total"));
  EXPECT_TRUE(Has(b, "host_memory_total_bytes"));
  EXPECT_TRUE(Has(b, "host_processes"));
  EXPECT_TRUE(Has(b, "host_uptime_seconds"));
  EXPECT_TRUE(Has(b, "host_filesystem_size_bytes", "mountpoint", "/"));
  EXPECT_TRUE(Has(b, "host_network_receive_bytes_total", "device", "eth0"));
  std::filesystem::remove_all(dir);
}

TEST(HostUsage, GarbledTreeNeverCrashesAndReportsEveryFile) {
  std::vector<std::string> asked;
  HostSource source(ProcFs(Fixture("garbled")), {}, 100, FakeStatFs{&asked});
  absl::Status status;
  v1::Batch b = CollectFrom(source, &status);
  EXPECT_FALSE(status.ok());
  for (const char* file : {"/proc/stat", "/proc/meminfo", "/proc/loadavg", "/proc/uptime",
                           "/proc/mounts", "/proc/diskstats", "/proc/net/dev"}) {
    EXPECT_NE(std::string(status.message()).find(file), std::string::npos) << file;
  }
  EXPECT_EQ(b.series_size(), 0);
}

TEST(HostUsage, TheRealHostGivesEveryReading) {
  HostSource source(ProcFs(), {}, 100);
  ASSERT_TRUE(source.Start().ok());
  v1::Batch b = CollectFrom(source);
  EXPECT_TRUE(Has(b, "host_load1"));
  EXPECT_TRUE(Has(b, "host_uptime_seconds"));
  EXPECT_GE(Value(b, "host_processes"), 1);
  EXPECT_GE(Value(b, "host_threads"), 1);
}

}  // namespace
}  // namespace plumbline::agent
