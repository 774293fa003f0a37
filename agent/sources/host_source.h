// Host usage from /proc and statvfs: CPU time by mode and utilisation,
// memory and swap, load, processes and threads, uptime, filesystem usage per
// mount, disk I/O per device and network I/O per interface.
#pragma once

#include <functional>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "agent/proc_parsers.h"
#include "agent/sources/source.h"
#include "common/yaml_config.h"

namespace plumbline::agent {

struct HostSourceOptions {
  bool enabled = true;
  bool per_cpu = false;  // also ship host_cpu_seconds_total per core
  // Filesystem types never measured (exact names): pseudo and in-memory
  // filesystems, and network filesystems, whose statvfs can hang on a dead
  // server and with it the agent's loop.
  std::vector<std::string> fs_types_exclude = {
      "autofs",    "binfmt_misc", "bpf",      "cgroup",  "cgroup2",   "configfs",   "debugfs",
      "devpts",    "devtmpfs",    "efivarfs", "fusectl", "hugetlbfs", "mqueue",     "nsfs",
      "overlay",   "proc",        "pstore",   "ramfs",   "rootfs",    "rpc_pipefs", "securityfs",
      "selinuxfs", "squashfs",    "sysfs",    "tmpfs",   "tracefs",   "fuse.lxcfs", "fuse.portal",
      "nfs",       "nfs4",        "cifs",     "smb3",    "ceph",      "fuse.sshfs", "9p"};
  // Mount points never measured: regular expressions that must match the
  // whole mount point.
  std::vector<std::string> mounts_exclude = {"/(dev|proc|sys)(/.*)?", "/run/credentials/.+",
                                             "/var/lib/docker/.+", "/var/lib/containers/storage/.+",
                                             "/var/lib/kubelet/pods/.+"};
  // Block devices left out of disk I/O (whole-name regular expressions):
  // partitions (their disk is counted), loop and RAM disks.
  std::vector<std::string> disk_devices_exclude = {
      R"((z?ram|loop|fd|(h|s|v|xv)d[a-z]+|nvme\d+n\d+p|mmcblk\d+p)\d+)"};
  // Network interfaces left out of network I/O (whole-name regular expressions).
  std::vector<std::string> network_devices_exclude = {"lo"};
};

// Reads the `sources.host` section of the agent config.
void ParseHostSourceOptions(ConfigMap section, HostSourceOptions* out);

// What statvfs tells about one mounted filesystem. Bytes and inode counts.
struct FsUsage {
  uint64_t size_bytes = 0;
  uint64_t free_bytes = 0;       // free, including blocks reserved for root
  uint64_t available_bytes = 0;  // free to unprivileged users
  uint64_t files = 0;            // inodes
  uint64_t files_free = 0;
};
// statvfs(2) on a mount point; injectable so tests need no real mounts.
using StatFsFunction = std::function<absl::StatusOr<FsUsage>(const std::string& mountpoint)>;
absl::StatusOr<FsUsage> StatFs(const std::string& mountpoint);

class HostSource final : public Source {
 public:
  // `statfs` is called with mount points as the host sees them: the ProcFs
  // root only prefixes the /proc files read, never a mount point.
  HostSource(ProcFs fs, HostSourceOptions options, double ticks_per_second,
             StatFsFunction statfs = StatFs);
  std::string_view name() const override { return "host"; }
  // Fails if an exclusion pattern is not a valid regular expression.
  absl::Status Start() override;
  // Each /proc file is read on its own: a broken one returns its error after
  // every other reading has been written. /proc/stat and /proc/meminfo must
  // exist; the other files are skipped (logged once) where they are missing.
  absl::Status Collect(MetricWriter& out) override;

 private:
  absl::Status CollectCpu(MetricWriter& out);
  absl::Status CollectMemory(MetricWriter& out);
  absl::Status CollectLoad(MetricWriter& out);
  absl::Status CollectProcessCount(MetricWriter& out);
  absl::Status CollectUptime(MetricWriter& out);
  absl::Status CollectFilesystems(MetricWriter& out);
  absl::Status CollectDisks(MetricWriter& out);
  absl::Status CollectNetwork(MetricWriter& out);

  ProcFs fs_;
  HostSourceOptions options_;
  double ticks_per_second_;
  StatFsFunction statfs_;
  absl::Status patterns_status_;
  std::vector<std::regex> mounts_exclude_, disks_exclude_, network_exclude_;
  std::optional<CpuTimes> previous_;          // for utilisation over the last interval
  std::set<std::string> unavailable_logged_;  // missing files already reported
};

}  // namespace plumbline::agent
