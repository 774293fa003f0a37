// A throwaway PostgreSQL server for the store tests: a fresh cluster in a
// temporary directory, listening on 127.0.0.1 on a free port (and on a unix
// socket inside that directory), started on first use and stopped and
// deleted when the test program ends.
//
// Run as root (as CI does), the server runs as the user "plumbline-test" if
// it exists, else as "nobody". A watchdog process stops the server and
// deletes the directory should the test program die without cleaning up.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/status.h"

namespace plumbline::testing {

class PostgresServer {
 public:
  // The server of this test program, started on first call. An error (for
  // example when PostgreSQL is not installed) is returned on every call, so
  // each test that needs the server fails rather than being skipped.
  static absl::StatusOr<PostgresServer*> Get();
  // Stops the server if it was started and deletes its directory.
  static void Shutdown();

  // Creates a new, empty schema and returns a libpq connection string whose
  // search_path is that schema: a fresh store location for one test, far
  // cheaper than a database.
  absl::StatusOr<std::string> NewSchema();
  // Runs SQL as superuser on the connection `dsn` describes; returns the
  // first column of the first row ("" if none).
  absl::StatusOr<std::string> Query(const std::string& dsn, const std::string& sql);

  int port() const { return port_; }

 private:
  PostgresServer() = default;
  absl::Status Start();
  void Stop();
  std::string Dsn(const std::string& database, const std::string& schema = "") const;

  std::string bin_dir_;
  std::string user_;  // empty: run as ourselves
  std::string dir_;
  int port_ = 0;
  pid_t watchdog_ = -1;
  int watchdog_fd_ = -1;  // closing it tells the watchdog to clean up
  int schemas_ = 0;
};

}  // namespace plumbline::testing
