// Test helpers that run the real binaries as child processes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"

namespace plumbline::testing {

// A child process whose stdout and stderr go to a log file. The destructor
// kills (SIGKILL) and reaps it if it is still running, so a failing test
// leaves nothing behind.
class Process {
 public:
  static absl::StatusOr<Process> Start(const std::vector<std::string>& argv,
                                       const std::string& log_file);
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  ~Process();

  pid_t pid() const { return pid_; }
  bool Running();
  // Sends `signal` and waits up to `timeout` for the exit. Returns the exit
  // code, 128 + signal number if killed by a signal, or -1 on timeout (the
  // process is then SIGKILLed and reaped).
  int Stop(int signal, std::chrono::milliseconds timeout);
  void Kill();  // SIGKILL and reap
  std::string Log() const;

 private:
  Process(pid_t pid, std::string log) : pid_(pid), log_(std::move(log)) {}
  pid_t pid_ = -1;
  int status_ = 0;
  std::string log_;
};

// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& name);
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

void WriteFile(const std::string& path, const std::string& text);
std::string ReadFile(const std::string& path);

// Polls `ready()` every 50 ms until it returns true or `timeout` passes.
template <typename F>
bool WaitFor(F ready, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return ready();
}

// Runs a shell command; returns stdout and stderr together, and the exit
// code in *exit_code (-1 when it did not exit normally).
std::string RunShell(const std::string& command, int* exit_code);
// Runs the plumb binary with `args` (shell syntax) the same way.
std::string Plumb(const std::string& args, int* exit_code);
// `plumb --collector ADDRESS ARGS --json`, parsed; a non-zero exit or
// output that is not JSON fails the test (a discarded value is returned).
nlohmann::json PlumbJson(const std::string& address, const std::string& args);
// Wall-clock milliseconds since the epoch.
int64_t NowMs();

// Starts plumbline-collector on a free loopback port with its own database
// in `dir`; returns the process and fills `address` with host:port.
// `listen` may name a port to reuse one.
absl::StatusOr<Process> StartCollector(const TempDir& dir, std::string* address,
                                       const std::string& listen = "127.0.0.1:0",
                                       const std::vector<std::string>& extra_args = {});

}  // namespace plumbline::testing
