// ProcessSource on fake /proc trees built in a temp directory.
#include "agent/sources/process_source.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace plumbline::agent {
namespace {

namespace fs = std::filesystem;

class FakeProc {
 public:
  explicit FakeProc(const std::string& name)
      : root_(fs::temp_directory_path() / ("plumbline_process_test_" + name)) {
    fs::remove_all(root_);
    fs::create_directories(root_ / "proc");
    Write("proc/stat", "cpu  1 2 3 4\nbtime 1700000000\n");
  }
  ~FakeProc() { fs::remove_all(root_); }

  // A process with `fds` open descriptors. Times in ticks (100 per second).
  void AddProcess(int pid, int ppid, const std::string& comm, const std::string& cmdline,
                  const std::string& cgroup, uint64_t start_ticks, int fds = 3, char state = 'S') {
    std::string dir = "proc/" + std::to_string(pid);
    fs::create_directories(root_ / dir / "fd");
    Write(dir + "/comm", comm + "\n");
    std::string raw = cmdline;
    for (char& c : raw) {
      if (c == ' ') c = '\0';
    }
    Write(dir + "/cmdline", raw + std::string(1, '\0'));
    Write(dir + "/cgroup", "0::" + cgroup + "\n");
    // utime 150 ticks, stime 50 ticks, 4 threads, rss 256 pages.
    Write(dir + "/stat", std::to_string(pid) + " (" + comm + ") " + std::string(1, state) + " " +
                             std::to_string(ppid) + " 1 1 0 -1 0 0 0 0 0 150 50 0 0 20 0 4 0 " +
                             std::to_string(start_ticks) + " 1000000 256 0 0 0 0\n");
    for (int i = 0; i < fds; ++i) Write(dir + "/fd/" + std::to_string(i), "");
  }
  void Remove(int pid) { fs::remove_all(root_ / "proc" / std::to_string(pid)); }
  void Write(const std::string& rel, const std::string& text) {
    std::ofstream(root_ / rel, std::ios::binary) << text;
  }
  std::string root() const { return root_.string(); }
  std::string path(const std::string& rel) const { return (root_ / rel).string(); }

 private:
  fs::path root_;
};

std::string Label(const v1::Series& s, const std::string& name) {
  for (const auto& l : s.labels()) {
    if (l.name() == name) return l.value();
  }
  return "";
}

std::optional<double> Value(const v1::Batch& b, const std::string& name,
                            const std::string& process) {
  for (const auto& s : b.series()) {
    if (s.name() == name && Label(s, "process") == process) return s.points(0).number();
  }
  return std::nullopt;
}

v1::Batch Collect(ProcessSource& source) {
  v1::Batch batch;
  MetricWriter writer(&batch, nullptr, 1);
  absl::Status s = source.Collect(writer);
  EXPECT_TRUE(s.ok()) << s;
  return batch;
}

ProcessMatcher Matcher(std::string name, ProcessMatcher::Kind kind, std::string pattern) {
  return ProcessMatcher{std::move(name), kind, std::move(pattern)};
}

TEST(ProcessSource, MatchesByCommAndSumsUsageOverMasterAndWorkers) {
  FakeProc proc("comm");
  proc.AddProcess(1, 0, "systemd", "/sbin/init", "/init.scope", 1);
  proc.AddProcess(100, 1, "nginx", "nginx: master process /usr/sbin/nginx",
                  "/system.slice/nginx.service", 5000, 10);
  proc.AddProcess(101, 100, "nginx", "nginx: worker process", "/system.slice/nginx.service", 5001,
                  7);
  proc.AddProcess(102, 100, "nginx", "nginx: worker process", "/system.slice/nginx.service", 5002,
                  7);
  ProcessSource source(ProcFs(proc.root()),
                       {{Matcher("web", ProcessMatcher::Kind::kComm, "nginx"),
                         Matcher("db", ProcessMatcher::Kind::kComm, "postgres")}},
                       100, 4096);
  ASSERT_TRUE(source.Start().ok());
  v1::Batch b = Collect(source);
  EXPECT_EQ(Value(b, "process_up", "web"), 1);
  EXPECT_EQ(Value(b, "process_count", "web"), 3);
  EXPECT_DOUBLE_EQ(*Value(b, "process_cpu_seconds_total", "web"), 3 * 2.0);  // (150+50)/100 each
  EXPECT_DOUBLE_EQ(*Value(b, "process_resident_memory_bytes", "web"), 3 * 256.0 * 4096);
  EXPECT_EQ(Value(b, "process_open_fds", "web"), 24);
  EXPECT_EQ(Value(b, "process_threads", "web"), 12);
  // The master's start: btime + 5000 ticks / 100.
  EXPECT_DOUBLE_EQ(*Value(b, "process_start_time_seconds", "web"), 1700000050.0);
  EXPECT_EQ(Value(b, "process_restarts_total", "web"), 0);

  EXPECT_EQ(Value(b, "process_up", "db"), 0);
  EXPECT_EQ(Value(b, "process_count", "db"), 0);
  EXPECT_EQ(Value(b, "process_restarts_total", "db"), 0);
  EXPECT_FALSE(Value(b, "process_cpu_seconds_total", "db").has_value());
}

TEST(ProcessSource, MatchesByCmdlineRegex) {
  FakeProc proc("cmdline");
  proc.AddProcess(200, 1, "java", "/usr/bin/java -Xmx2g -jar /opt/api/api.jar", "/x", 10);
  proc.AddProcess(201, 1, "java", "/usr/bin/java -jar /opt/batch/batch.jar", "/x", 10);
  ProcessSource source(ProcFs(proc.root()),
                       {{Matcher("api", ProcessMatcher::Kind::kCmdline, "-jar /opt/api/")}}, 100,
                       4096);
  ASSERT_TRUE(source.Start().ok());
  v1::Batch b = Collect(source);
  EXPECT_EQ(Value(b, "process_count", "api"), 1);
}

TEST(ProcessSource, MatchesByPidfile) {
  FakeProc proc("pidfile");
  proc.AddProcess(300, 1, "postgres", "postgres -D /var/lib/postgresql", "/x", 10);
  proc.AddProcess(301, 300, "postgres", "postgres: checkpointer", "/x", 11);
  proc.Write("postgres.pid", "300\n/var/lib/postgresql\n");
  ProcessSource source(
      ProcFs(proc.root()),
      {{Matcher("pg", ProcessMatcher::Kind::kPidfile, proc.path("postgres.pid")),
        Matcher("gone", ProcessMatcher::Kind::kPidfile, proc.path("missing.pid"))}},
      100, 4096);
  ASSERT_TRUE(source.Start().ok());
  v1::Batch b = Collect(source);
  EXPECT_EQ(Value(b, "process_up", "pg"), 1);
  EXPECT_EQ(Value(b, "process_count", "pg"), 1);  // the pid in the file, not its children
  EXPECT_EQ(Value(b, "process_up", "gone"), 0);

  proc.Write("postgres.pid", "garbage\n");
  v1::Batch after = Collect(source);
  EXPECT_EQ(Value(after, "process_up", "pg"), 0);
}

TEST(ProcessSource, MatchesBySystemdUnit) {
  FakeProc proc("unit");
  proc.AddProcess(400, 1, "redis-server", "redis-server *:6379",
                  "/system.slice/redis-server.service", 10);
  proc.AddProcess(401, 1, "bash", "bash", "/user.slice/user-1000.slice/session-1.scope", 10);
  ProcessSource source(
      ProcFs(proc.root()),
      {{Matcher("redis", ProcessMatcher::Kind::kSystemdUnit, "redis-server.service")}}, 100, 4096);
  ASSERT_TRUE(source.Start().ok());
  v1::Batch b = Collect(source);
  EXPECT_EQ(Value(b, "process_count", "redis"), 1);
}

TEST(ProcessSource, RestartIsANewTopProcessNotAWorkerComingAndGoing) {
  FakeProc proc("restart");
  proc.AddProcess(100, 1, "nginx", "nginx: master", "/x", 5000);
  proc.AddProcess(101, 100, "nginx", "nginx: worker", "/x", 5001);
  ProcessSource source(ProcFs(proc.root()),
                       {{Matcher("web", ProcessMatcher::Kind::kComm, "nginx")}}, 100, 4096);
  ASSERT_TRUE(source.Start().ok());
  EXPECT_EQ(Value(Collect(source), "process_restarts_total", "web"), 0);

  // A worker recycled: no restart.
  proc.Remove(101);
  proc.AddProcess(102, 100, "nginx", "nginx: worker", "/x", 6000);
  EXPECT_EQ(Value(Collect(source), "process_restarts_total", "web"), 0);

  // The master replaced between two readings: one restart.
  proc.Remove(100);
  proc.Remove(102);
  proc.AddProcess(110, 1, "nginx", "nginx: master", "/x", 7000);
  v1::Batch b = Collect(source);
  EXPECT_EQ(Value(b, "process_restarts_total", "web"), 1);
  EXPECT_EQ(Value(b, "process_count", "web"), 1);

  // Down for a reading, then back under a new pid: one more.
  proc.Remove(110);
  v1::Batch down = Collect(source);
  EXPECT_EQ(Value(down, "process_up", "web"), 0);
  EXPECT_EQ(Value(down, "process_restarts_total", "web"), 1);
  proc.AddProcess(120, 1, "nginx", "nginx: master", "/x", 8000);
  EXPECT_EQ(Value(Collect(source), "process_restarts_total", "web"), 2);

  // Same pid reused by a new process (different start time): a restart too.
  proc.Remove(120);
  proc.AddProcess(120, 1, "nginx", "nginx: master", "/x", 9000);
  EXPECT_EQ(Value(Collect(source), "process_restarts_total", "web"), 3);

  // A second instance starting beside the first is not a restart.
  proc.AddProcess(130, 1, "nginx", "nginx: master", "/x", 9500);
  EXPECT_EQ(Value(Collect(source), "process_restarts_total", "web"), 3);
}

TEST(ProcessSource, VanishedAndZombieProcessesAreSkippedQuietly) {
  FakeProc proc("vanish");
  proc.AddProcess(100, 1, "worker", "worker", "/x", 10);
  proc.AddProcess(101, 1, "worker", "worker", "/x", 10, 3, 'Z');
  // Listed but gone before its stat is read: only the directory is left.
  fs::create_directories(proc.path("proc/102"));
  proc.Write("proc/102/comm", "worker\n");
  // Garbage stat.
  fs::create_directories(proc.path("proc/103"));
  proc.Write("proc/103/comm", "worker\n");
  proc.Write("proc/103/stat", "garbage");
  ProcessSource source(ProcFs(proc.root()), {{Matcher("w", ProcessMatcher::Kind::kComm, "worker")}},
                       100, 4096);
  ASSERT_TRUE(source.Start().ok());
  v1::Batch b = Collect(source);
  EXPECT_EQ(Value(b, "process_count", "w"), 1);
}

TEST(ProcessSource, UnreadableFdDirectoryLeavesOutOnlyTheFdCount) {
  FakeProc proc("fds");
  proc.AddProcess(100, 1, "app", "app", "/x", 10);
  fs::remove_all(proc.path("proc/100/fd"));
  ProcessSource source(ProcFs(proc.root()), {{Matcher("app", ProcessMatcher::Kind::kComm, "app")}},
                       100, 4096);
  ASSERT_TRUE(source.Start().ok());
  v1::Batch b = Collect(source);
  EXPECT_EQ(Value(b, "process_up", "app"), 1);
  EXPECT_FALSE(Value(b, "process_open_fds", "app").has_value());
  EXPECT_TRUE(Value(b, "process_threads", "app").has_value());
}

TEST(ProcessSource, LongCommIsComparedAsTheKernelCutsIt) {
  FakeProc proc("longcomm");
  proc.AddProcess(100, 1, "plumbline-colle", "plumbline-collector --config x", "/x", 10);
  ProcessSource source(ProcFs(proc.root()),
                       {{Matcher("c", ProcessMatcher::Kind::kComm, "plumbline-collector")}}, 100,
                       4096);
  ASSERT_TRUE(source.Start().ok());
  EXPECT_EQ(Value(Collect(source), "process_up", "c"), 1);
}

TEST(ProcessSource, BadRegexFailsStart) {
  ProcessSource source(ProcFs("/nonexistent"),
                       {{Matcher("x", ProcessMatcher::Kind::kCmdline, "([")}}, 100, 4096);
  EXPECT_EQ(source.Start().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ProcessSource, UnlistableProcIsAnError) {
  ProcessSource source(ProcFs("/nonexistent"), {{Matcher("x", ProcessMatcher::Kind::kComm, "x")}},
                       100, 4096);
  ASSERT_TRUE(source.Start().ok());
  v1::Batch batch;
  MetricWriter writer(&batch, nullptr, 1);
  EXPECT_FALSE(source.Collect(writer).ok());
}

TEST(ProcessSource, FindsItselfOnTheRealProc) {
  std::string comm;
  {
    std::ifstream in("/proc/self/comm");
    std::getline(in, comm);
  }
  ProcessSource by_comm(ProcFs(), {{Matcher("me", ProcessMatcher::Kind::kComm, comm)}}, 100, 4096);
  ASSERT_TRUE(by_comm.Start().ok());
  v1::Batch b = Collect(by_comm);
  EXPECT_EQ(Value(b, "process_up", "me"), 1);
  EXPECT_GE(*Value(b, "process_open_fds", "me"), 3);
  EXPECT_GT(*Value(b, "process_resident_memory_bytes", "me"), 0);
}

}  // namespace
}  // namespace plumbline::agent
