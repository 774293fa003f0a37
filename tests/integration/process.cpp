#include "tests/integration/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

extern char** environ;

namespace plumbline::testing {

absl::StatusOr<Process> Process::Start(const std::vector<std::string>& argv,
                                       const std::string& log_file) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return absl::InternalError(StrCat("spawn ", argv[0], ": ", std::strerror(rc)));
  return Process(pid, log_file);
}

Process::Process(Process&& other) noexcept
    : pid_(other.pid_), status_(other.status_), log_(std::move(other.log_)) {
  other.pid_ = -1;
}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    Kill();
    pid_ = other.pid_;
    status_ = other.status_;
    log_ = std::move(other.log_);
    other.pid_ = -1;
  }
  return *this;
}

Process::~Process() { Kill(); }

bool Process::Running() {
  if (pid_ <= 0) return false;
  pid_t r = waitpid(pid_, &status_, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int Process::Stop(int signal, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
  ::kill(pid_, signal);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pid_t r = waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();
  return -1;
}

void Process::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  waitpid(pid_, &status_, 0);
  pid_ = -1;
}

std::string Process::Log() const { return ReadFile(log_); }

TempDir::TempDir(const std::string& name) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / ("plumbline_" + name + "_XXXXXX")).string();
  char* made = mkdtemp(pattern.data());
  path_ = made ? made : pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::StatusOr<Process> StartCollector(const TempDir& dir, std::string* address,
                                       const std::string& listen,
                                       const std::vector<std::string>& extra_args) {
  std::string ready = dir.File("collector.ready");
  std::filesystem::remove(ready);
  std::vector<std::string> argv = {PLUMBLINE_COLLECTOR_BIN,  "--listen",     listen,
                                   "--http-listen",          "127.0.0.1:0",  "--db",
                                   dir.File("collector.db"), "--ready-file", ready};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  ASSIGN_OR_RETURN(Process p, Process::Start(argv, dir.File("collector.log")));
  bool up = WaitFor([&] { return std::filesystem::exists(ready) || !p.Running(); },
                    std::chrono::seconds(20));
  if (!up || !std::filesystem::exists(ready)) {
    return absl::UnavailableError(StrCat("collector did not start:\n", p.Log()));
  }
  *address = nlohmann::json::parse(ReadFile(ready)).at("grpc").get<std::string>();
  return p;
}

std::string RunShell(const std::string& command, int* exit_code) {
  std::string out;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) {
    *exit_code = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  int status = ::pclose(pipe);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

nlohmann::json PlumbJson(const std::string& address, const std::string& args) {
  int rc = -1;
  std::string out = Plumb("--collector " + address + " " + args + " --json", &rc);
  EXPECT_EQ(rc, 0) << args << ": " << out;
  nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << args << ": " << out;
  return j;
}

std::string Plumb(const std::string& args, int* exit_code) {
  return RunShell(std::string(PLUMB_BIN) + " " + args, exit_code);
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace plumbline::testing
