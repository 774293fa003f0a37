// Parsers of /proc/loadavg, uptime, mounts, diskstats, net/dev and
// /proc/PID/{stat,cmdline,cgroup}, on the fixture trees and on garbage.
#include <gtest/gtest.h>

#include "agent/proc_parsers.h"

namespace plumbline::agent {
namespace {

std::string Fixture(const std::string& tree) {
  return std::string(PLUMBLINE_FIXTURES) + "/proc/" + tree;
}

std::string Read(const std::string& tree, const std::string& file) {
  auto text = ProcFs(Fixture(tree)).Read(file);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : std::string();
}

TEST(LoadAvg, ParsesLoadsAndRunningOverTotalThreads) {
  auto l = ParseLoadAvg(Read("normal", "/proc/loadavg"));
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_DOUBLE_EQ(l->load1, 0.52);
  EXPECT_DOUBLE_EQ(l->load5, 0.58);
  EXPECT_DOUBLE_EQ(l->load15, 0.59);
  EXPECT_EQ(l->running_threads, 3u);
  EXPECT_EQ(l->total_threads, 1012u);
}

TEST(LoadAvg, TruncatedAndGarbledFilesAreClearErrors) {
  auto truncated = ParseLoadAvg(Read("truncated", "/proc/loadavg"));
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().message(), "/proc/loadavg: has 2 fields, expected 5");
  auto garbled = ParseLoadAvg(Read("garbled", "/proc/loadavg"));
  ASSERT_FALSE(garbled.ok());
  EXPECT_EQ(garbled.status().message(), "/proc/loadavg: bad load \"lots\"");
  EXPECT_FALSE(ParseLoadAvg("1 2 3 4/ 5").ok());
  EXPECT_FALSE(ParseLoadAvg("-1 2 3 4/5 6").ok());
  EXPECT_FALSE(ParseLoadAvg("nan 2 3 4/5 6").ok());
  EXPECT_FALSE(ParseLoadAvg("").ok());
}

TEST(Uptime, ParsesSecondsSinceBoot) {
  auto u = ParseUptime(Read("normal", "/proc/uptime"));
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_DOUBLE_EQ(u->uptime_s, 350735.47);
  EXPECT_DOUBLE_EQ(u->idle_s, 234388.90);
}

TEST(Uptime, EmptyAndGarbledFilesAreClearErrors) {
  auto empty = ParseUptime(Read("truncated", "/proc/uptime"));
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().message(), "/proc/uptime: empty");
  auto garbled = ParseUptime(Read("garbled", "/proc/uptime"));
  ASSERT_FALSE(garbled.ok());
  EXPECT_EQ(garbled.status().message(), "/proc/uptime: bad uptime \"up\"");
}

TEST(Mounts, ParsesEveryMountAndUndoesOctalEscapes) {
  auto m = ParseMounts(Read("normal", "/proc/mounts"));
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 15u);
  EXPECT_EQ((*m)[5].device, "/dev/nvme0n1p2");
  EXPECT_EQ((*m)[5].mountpoint, "/");
  EXPECT_EQ((*m)[5].fstype, "ext4");
  EXPECT_FALSE((*m)[5].read_only);
  EXPECT_EQ((*m)[10].mountpoint, "/srv/data files");
  EXPECT_TRUE((*m)[10].read_only);
}

TEST(Mounts, TruncatedAndGarbledFilesAreClearErrors) {
  auto truncated = ParseMounts(Read("truncated", "/proc/mounts"));
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().message(), "/proc/mounts:2: has 2 fields, expected at least 4");
  auto garbled = ParseMounts(Read("garbled", "/proc/mounts"));
  ASSERT_FALSE(garbled.ok());
  EXPECT_EQ(garbled.status().message(), "/proc/mounts:1: has 2 fields, expected at least 4");
  auto relative = ParseMounts("dev mnt ext4 rw 0 0\n");
  ASSERT_FALSE(relative.ok());
  EXPECT_EQ(relative.status().message(), "/proc/mounts:1: mount point \"mnt\" is not absolute");
}

TEST(Mounts, IncompleteEscapeIsKeptAsText) {
  auto m = ParseMounts("dev /a\\04 ext4 rw 0 0\ndev /b\\ ext4 rw 0 0\n");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)[0].mountpoint, "/a\\04");
  EXPECT_EQ((*m)[1].mountpoint, "/b\\");
}

TEST(DiskStats, ParsesTwentyFieldLinesWithSectorsAndMilliseconds) {
  auto d = ParseDiskStats(Read("normal", "/proc/diskstats"));
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), 8u);
  const DiskStats& nvme = (*d)[4];
  EXPECT_EQ(nvme.device, "nvme0n1");
  EXPECT_EQ(nvme.major, 259u);
  EXPECT_EQ(nvme.minor, 0u);
  EXPECT_EQ(nvme.reads_completed, 111814u);
  EXPECT_EQ(nvme.sectors_read, 8917498u);
  EXPECT_EQ(nvme.read_time_ms, 33620u);
  EXPECT_EQ(nvme.writes_completed, 257734u);
  EXPECT_EQ(nvme.sectors_written, 14063704u);
  EXPECT_EQ(nvme.write_time_ms, 258452u);
  EXPECT_EQ(nvme.ios_in_progress, 2u);
  EXPECT_EQ(nvme.io_time_ms, 135676u);
  EXPECT_EQ(nvme.weighted_io_time_ms, 331160u);
}

TEST(DiskStats, AcceptsOldKernelsWithFourteenFields) {
  auto d = ParseDiskStats(Read("old_kernel", "/proc/diskstats"));
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ((*d)[0].device, "sda");
  EXPECT_EQ((*d)[0].weighted_io_time_ms, 2000u);
  EXPECT_EQ((*d)[0].discards_completed, 0u);
}

TEST(DiskStats, ReadsDiscardsFromEighteenFieldLines) {
  auto d = ParseDiskStats("8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ((*d)[0].discards_completed, 12u);
  EXPECT_EQ((*d)[0].sectors_discarded, 14u);
}

TEST(DiskStats, TruncatedAndGarbledFilesAreClearErrors) {
  auto truncated = ParseDiskStats(Read("truncated", "/proc/diskstats"));
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().message(), "/proc/diskstats:1: has 6 fields, expected at least 14");
  auto garbled = ParseDiskStats(Read("garbled", "/proc/diskstats"));
  ASSERT_FALSE(garbled.ok());
  EXPECT_EQ(garbled.status().message(), "/proc/diskstats:1: bad number \"2x000\"");
  EXPECT_FALSE(ParseDiskStats("99999999999 0 sda 1 2 3 4 5 6 7 8 9 10 11\n").ok());
}

TEST(NetDev, ParsesReceiveAndTransmitCountersPerInterface) {
  auto n = ParseNetDev(Read("normal", "/proc/net/dev"));
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(n->size(), 3u);
  const NetDevStats& eth0 = (*n)[1];
  EXPECT_EQ(eth0.interface, "eth0");
  EXPECT_EQ(eth0.rx_bytes, 9876543210u);
  EXPECT_EQ(eth0.rx_packets, 7654321u);
  EXPECT_EQ(eth0.rx_errors, 3u);
  EXPECT_EQ(eth0.rx_drops, 5u);
  EXPECT_EQ(eth0.tx_bytes, 1234567890u);
  EXPECT_EQ(eth0.tx_packets, 2345678u);
  EXPECT_EQ(eth0.tx_errors, 1u);
  EXPECT_EQ(eth0.tx_drops, 2u);
}

TEST(NetDev, AcceptsCountersGluedToTheColon) {
  auto n = ParseNetDev(Read("old_kernel", "/proc/net/dev"));
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(n->size(), 1u);
  EXPECT_EQ((*n)[0].rx_bytes, 4294967295u);
}

TEST(NetDev, TruncatedAndGarbledFilesAreClearErrors) {
  auto truncated = ParseNetDev(Read("truncated", "/proc/net/dev"));
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().message(), "/proc/net/dev:3: has 3 counters, expected 16");
  auto garbled = ParseNetDev(Read("garbled", "/proc/net/dev"));
  ASSERT_FALSE(garbled.ok());
  EXPECT_EQ(garbled.status().message(), "/proc/net/dev:3: expected \"interface: counters\"");
}

TEST(PidStat, ParsesUsageFieldsAfterACommandNameWithSpacesAndParens) {
  auto p = ParsePidStat(
      "77 (my (weird) app) S 1 77 77 0 -1 4194560 10 0 0 0 250 130 0 0 20 0 7 0 5000 "
      "58720256 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n",
      100);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->pid, 77);
  EXPECT_EQ(p->comm, "my (weird) app");
  EXPECT_EQ(p->state, 'S');
  EXPECT_EQ(p->ppid, 1);
  EXPECT_DOUBLE_EQ(p->utime_s, 2.5);
  EXPECT_DOUBLE_EQ(p->stime_s, 1.3);
  EXPECT_EQ(p->num_threads, 7u);
  EXPECT_EQ(p->start_ticks, 5000u);
  EXPECT_EQ(p->rss_pages, 2048u);
}

TEST(PidStat, FixtureProcessParses) {
  auto p = ParsePidStat(Read("normal", "/proc/4242/stat"), 100);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->comm, "nginx: master");
}

TEST(PidStat, GarbageIsAnError) {
  EXPECT_FALSE(ParsePidStat("", 100).ok());
  EXPECT_FALSE(ParsePidStat("12 (x", 100).ok());
  EXPECT_FALSE(ParsePidStat("x (a) S 1", 100).ok());
  EXPECT_FALSE(ParsePidStat("12 (a) S 1 2 3", 100).ok());
  EXPECT_FALSE(ParsePidStat(") 12 (", 100).ok());
  EXPECT_FALSE(
      ParsePidStat("12 (a) S 1 77 77 0 -1 1 10 0 0 0 x 130 0 0 20 0 7 0 5000 1 2", 100).ok());
  EXPECT_FALSE(ParsePidStat("12 (a) S 1", 0).ok());
}

TEST(Cmdline, JoinsArgumentsWithSpaces) {
  EXPECT_EQ(JoinCmdline(std::string_view("/usr/bin/java\0-jar\0app.jar\0", 27)),
            "/usr/bin/java -jar app.jar");
  EXPECT_EQ(JoinCmdline(""), "");
}

TEST(Cgroup, FindsTheUnitAsAPathComponent) {
  EXPECT_TRUE(CgroupHasUnit("0::/system.slice/nginx.service\n", "nginx.service"));
  EXPECT_TRUE(
      CgroupHasUnit("12:pids:/system.slice/redis.service\n1:name=systemd:/x\n", "redis.service"));
  EXPECT_FALSE(CgroupHasUnit("0::/system.slice/nginx.service-extra\n", "nginx.service"));
  EXPECT_FALSE(CgroupHasUnit("0::/user.slice\n", "nginx.service"));
  EXPECT_FALSE(CgroupHasUnit("garbage", "nginx.service"));
  EXPECT_FALSE(CgroupHasUnit("0::/a", ""));
}

TEST(ProcFs, ListsDirectoryEntries) {
  auto names = ProcFs(Fixture("normal")).List("/proc");
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_NE(std::find(names->begin(), names->end(), "4242"), names->end());
  EXPECT_EQ(std::find(names->begin(), names->end(), "."), names->end());
  auto missing = ProcFs(Fixture("normal")).List("/proc/99999/fd");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST(ProcFs, TheRealProcParses) {
  ProcFs real;
  for (const char* file : {"/proc/loadavg", "/proc/uptime", "/proc/mounts", "/proc/diskstats",
                           "/proc/net/dev", "/proc/self/stat"}) {
    auto text = real.Read(file);
    ASSERT_TRUE(text.ok()) << text.status();
    absl::Status s;
    std::string f = file;
    if (f == "/proc/loadavg") s = ParseLoadAvg(*text).status();
    if (f == "/proc/uptime") s = ParseUptime(*text).status();
    if (f == "/proc/mounts") s = ParseMounts(*text).status();
    if (f == "/proc/diskstats") s = ParseDiskStats(*text).status();
    if (f == "/proc/net/dev") s = ParseNetDev(*text).status();
    if (f == "/proc/self/stat") s = ParsePidStat(*text, 100).status();
    EXPECT_TRUE(s.ok()) << file << ": " << s;
  }
}

}  // namespace
}  // namespace plumbline::agent
