#include "tests/store_conformance/postgres_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <vector>

extern char** environ;

namespace plumbline::testing {

namespace {

std::mutex g_mu;
PostgresServer* g_server = nullptr;
absl::Status* g_start_error = nullptr;

// The newest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl, or
// $PLUMBLINE_PG_BIN.
std::string FindBinDir() {
  if (const char* env = std::getenv("PLUMBLINE_PG_BIN"); env != nullptr && *env != '\0') {
    return env;
  }
  std::vector<std::pair<int, std::string>> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    std::filesystem::path bin = entry.path() / "bin";
    if (!std::filesystem::exists(bin / "initdb") || !std::filesystem::exists(bin / "pg_ctl")) {
      continue;
    }
    found.emplace_back(std::atoi(entry.path().filename().c_str()), bin.string());
  }
  if (found.empty()) return "";
  return std::max_element(found.begin(), found.end())->second;
}

// A port that was free a moment ago.
absl::StatusOr<int> FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return absl::InternalError(StrCat("bind 127.0.0.1:0: ", std::strerror(errno)));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string Tail(const std::string& path, size_t bytes = 2000) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

// Runs a program to completion with stdin from /dev/null and stdout and
// stderr appended to `log`; returns its exit status.
absl::StatusOr<int> Run(const std::vector<std::string>& argv, const std::string& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return absl::InternalError(StrCat("cannot run ", argv[0], ": ", std::strerror(rc)));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return absl::InternalError(StrCat("waitpid: ", std::strerror(errno)));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

absl::StatusOr<PostgresServer*> PostgresServer::Get() {
  std::lock_guard lock(g_mu);
  if (g_server != nullptr) return g_server;
  if (g_start_error != nullptr) return *g_start_error;
  std::unique_ptr<PostgresServer> server(new PostgresServer());
  absl::Status s = server->Start();
  if (!s.ok()) {
    server->Stop();
    g_start_error = new absl::Status(s);
    return s;
  }
  g_server = server.release();
  return g_server;
}

void PostgresServer::Shutdown() {
  std::lock_guard lock(g_mu);
  if (g_server != nullptr) {
    g_server->Stop();
    delete g_server;
    g_server = nullptr;
  }
  delete g_start_error;
  g_start_error = nullptr;
}

std::string PostgresServer::Dsn(const std::string& database, const std::string& schema) const {
  std::string dsn = StrCat("host=127.0.0.1 port=", port_, " user=postgres dbname=", database,
                           " connect_timeout=10");
  if (!schema.empty()) StrAppend(&dsn, " options='-c search_path=", schema, "'");
  return dsn;
}

absl::Status PostgresServer::Start() {
  bin_dir_ = FindBinDir();
  if (bin_dir_.empty()) {
    return absl::FailedPreconditionError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin; "
        "install them with scripts/install-deps.sh (Debian package postgresql) or set "
        "PLUMBLINE_PG_BIN");
  }
  uid_t uid = ::geteuid();
  gid_t gid = ::getegid();
  if (uid == 0) {
    // PostgreSQL refuses to run as root.
    for (const char* name : {"plumbline-test", "nobody"}) {
      if (const passwd* pw = ::getpwnam(name); pw != nullptr) {
        user_ = name;
        uid = pw->pw_uid;
        gid = pw->pw_gid;
        break;
      }
    }
    if (user_.empty()) {
      return absl::FailedPreconditionError(
          "running as root and neither user plumbline-test "
          "nor nobody exists to run PostgreSQL as");
    }
  }
  std::string pattern = "/tmp/plumbline-pg-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(StrCat("mkdtemp: ", std::strerror(errno)));
  }
  dir_ = pattern;
  if (::chown(dir_.c_str(), uid, gid) != 0 || ::chmod(dir_.c_str(), 0700) != 0) {
    return absl::InternalError(StrCat("chown ", dir_, ": ", std::strerror(errno)));
  }
  auto as_user = [&](std::vector<std::string> argv) {
    if (user_.empty()) return argv;
    std::vector<std::string> wrapped = {"runuser", "-u", user_, "--"};
    wrapped.insert(wrapped.end(), argv.begin(), argv.end());
    return wrapped;
  };
  const std::string data = dir_ + "/data";
  const std::string pg_ctl = bin_dir_ + "/pg_ctl";

  // The watchdog: a shell waiting for EOF on a pipe whose only writer is
  // this process. However this process ends, the pipe closes and the shell
  // stops the server and deletes the directory.
  {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
    std::string stop;
    for (const std::string& a : as_user({pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"})) {
      StrAppend(&stop, "'", a, "' ");
    }
    std::string script = StrCat("read -r _; ", stop, "; rm -rf '", dir_, "'");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const char* argv[] = {"/bin/sh", "-c", script.c_str(), nullptr};
    int rc =
        posix_spawn(&watchdog_, "/bin/sh", &actions, nullptr, const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[0]);
    if (rc != 0) {
      ::close(fds[1]);
      watchdog_ = -1;
      return absl::InternalError(StrCat("cannot start the watchdog: ", std::strerror(rc)));
    }
    watchdog_fd_ = fds[1];
  }

  const std::string setup_log = dir_ + "/setup.log";
  ASSIGN_OR_RETURN(
      int rc, Run(as_user({bin_dir_ + "/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E",
                           "UTF8", "--no-locale", "--no-sync", "--no-instructions"}),
                  setup_log));
  if (rc != 0) return absl::InternalError(StrCat("initdb failed:\n", Tail(setup_log)));
  {
    // Fast and throwaway: no fsync; small; local only.
    std::ofstream conf(data + "/postgresql.conf", std::ios::app);
    conf << "\nlisten_addresses = '127.0.0.1'\n"
         << "unix_socket_directories = '" << dir_ << "'\n"
         << "fsync = off\nfull_page_writes = off\n"
         << "max_connections = 60\nshared_buffers = 32MB\n";
    if (!conf) return absl::InternalError("cannot write postgresql.conf");
  }
  const std::string server_log = dir_ + "/server.log";
  // Another process may take the port between our probe and the server's
  // bind; then try another.
  for (int attempt = 0; attempt < 3; ++attempt) {
    ASSIGN_OR_RETURN(port_, FreePort());
    ASSIGN_OR_RETURN(rc, Run(as_user({pg_ctl, "-D", data, "-l", server_log, "-w", "-t", "60", "-o",
                                      StrCat("-p ", port_), "start"}),
                             setup_log));
    if (rc == 0) break;
  }
  if (rc != 0) {
    port_ = 0;
    return absl::InternalError(
        StrCat("pg_ctl start failed:\n", Tail(setup_log), "\n", Tail(server_log)));
  }
  return Query(Dsn("postgres"), "CREATE DATABASE plumbline").status();
}

void PostgresServer::Stop() {
  if (!dir_.empty() && port_ != 0) {
    std::vector<std::string> argv = {
        bin_dir_ + "/pg_ctl", "-D", dir_ + "/data", "-m", "fast", "-w", "-t", "60", "stop"};
    if (!user_.empty()) argv.insert(argv.begin(), {"runuser", "-u", user_, "--"});
    (void)Run(argv, "/dev/null");
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  if (watchdog_fd_ >= 0) ::close(watchdog_fd_);
  watchdog_fd_ = -1;
  if (watchdog_ > 0) {
    int status = 0;
    while (::waitpid(watchdog_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  watchdog_ = -1;
  port_ = 0;
}

absl::StatusOr<std::string> PostgresServer::Query(const std::string& dsn, const std::string& sql) {
  std::unique_ptr<PGconn, void (*)(PGconn*)> conn(PQconnectdb(dsn.c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return absl::UnavailableError(StrCat("connect: ", PQerrorMessage(conn.get())));
  }
  std::unique_ptr<PGresult, void (*)(PGresult*)> r(PQexec(conn.get(), sql.c_str()), &PQclear);
  ExecStatusType status = PQresultStatus(r.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return absl::InternalError(StrCat(sql, ": ", PQresultErrorMessage(r.get())));
  }
  if (PQntuples(r.get()) == 0 || PQnfields(r.get()) == 0) return std::string();
  return std::string(PQgetvalue(r.get(), 0, 0));
}

absl::StatusOr<std::string> PostgresServer::NewSchema() {
  std::string name = StrCat("test_", ++schemas_);
  RETURN_IF_ERROR(Query(Dsn("plumbline"), StrCat("CREATE SCHEMA ", name)).status());
  return Dsn("plumbline", name);
}

}  // namespace plumbline::testing
