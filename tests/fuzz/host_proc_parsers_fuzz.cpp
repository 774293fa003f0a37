// The /proc parsers of host usage and process matching on arbitrary bytes:
// loadavg, uptime, mounts, diskstats, net/dev, PID stat, cmdline, cgroup.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/proc_parsers.h"

using namespace plumbline::agent;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto l = ParseLoadAvg(text); l.ok() && !(l->load1 >= 0)) __builtin_trap();
  if (auto u = ParseUptime(text); u.ok() && !(u->uptime_s >= 0)) __builtin_trap();
  if (auto m = ParseMounts(text); m.ok()) {
    for (const MountEntry& e : *m) {
      if (e.mountpoint.empty() || e.mountpoint[0] != '/') __builtin_trap();
    }
  }
  if (auto d = ParseDiskStats(text); d.ok()) {
    for (const DiskStats& s : *d) {
      if (s.device.empty()) __builtin_trap();
    }
  }
  if (auto n = ParseNetDev(text); n.ok()) {
    for (const NetDevStats& s : *n) {
      if (s.interface.empty()) __builtin_trap();
    }
  }
  if (auto p = ParsePidStat(text, 100); p.ok() && p->pid <= 0) __builtin_trap();
  if (JoinCmdline(text).size() > size) __builtin_trap();
  (void)CgroupHasUnit(text, "nginx.service");
  return 0;
}
