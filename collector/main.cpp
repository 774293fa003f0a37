#include <malloc.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <fstream>
#include <iostream>

#include "collector/collector.h"
#include "collector/config.h"
#include "common/logging.h"
#include "common/strings.h"
#include "plumbline/version.h"

int main(int argc, char** argv) {
  // Ingest parses every batch into a fresh arena of tens to hundreds of KiB.
  // With glibc's defaults those blocks are mmapped or trimmed back to the
  // system as soon as they are freed, and each batch paid for page faults
  // on new pages (a fifth of the collector's CPU under load): keep up to
  // 64 MiB of freed heap for reuse instead.
  mallopt(M_MMAP_THRESHOLD, 16 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  CLI::App app{
      "plumbline-collector: receives measurements from Plumbline agents over gRPC, stores "
      "them (embedded SQLite, or PostgreSQL shared by several collectors), maps them onto "
      "the business catalog and answers queries."};
  app.set_version_flag("--version", std::string("plumbline-collector ") + plumbline::kVersion);
  std::string config_file, log_level, listen, db, ready_file, catalog;
  app.add_option("-c,--config", config_file, "YAML config file (see /etc/plumbline/collector.yaml)")
      ->check(CLI::ExistingFile);
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error (overrides config)");
  app.add_option("--listen", listen, "gRPC host:port for ingest and query (overrides config)");
  std::string http_listen;
  bool http_set = false;
  app.add_option("--http-listen", http_listen,
                 "HTTP host:port for the JSON API, /metrics, /healthz, /readyz; \"\" for none "
                 "(overrides http.listen)")
      ->each([&](const std::string&) { http_set = true; });
  app.add_option("--db", db,
                 "SQLite database file (overrides storage.path; the sqlite backend only)");
  app.add_option("--catalog", catalog, "business catalog YAML (overrides config's catalog)");
  app.add_option("--ready-file", ready_file,
                 "write the bound address as JSON to this file once serving");
  CLI11_PARSE(app, argc, argv);

  auto config = config_file.empty() ? plumbline::collector::ParseCollectorConfig("", "<defaults>")
                                    : plumbline::collector::LoadCollectorConfig(config_file);
  if (!config.ok()) {
    std::cerr << "plumbline-collector: " << config.status().message() << "\n";
    return 2;
  }
  if (!log_level.empty()) config->log_level = log_level;
  if (!listen.empty()) config->listen = listen;
  if (!db.empty()) config->storage.path = db;
  if (!catalog.empty()) config->catalog = catalog;
  if (http_set) config->http_listen = http_listen;
  if (absl::Status s = plumbline::SetUpLogging("collector", config->log_level); !s.ok()) {
    std::cerr << "plumbline-collector: " << s.message() << "\n";
    return 2;
  }

  // Signals are taken synchronously by this thread; every other thread
  // inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  plumbline::collector::Collector collector(*config);
  absl::StatusOr<std::string> address = collector.Start();
  if (!address.ok()) {
    spdlog::critical("{}", address.status().message());
    return 1;
  }
  spdlog::info("plumbline-collector {} serving gRPC on {}, store {}", plumbline::kVersion, *address,
               config->storage.path);
  std::string http_address;
  if (collector.http_port() != 0) {
    http_address = plumbline::StrCat(config->http_listen.substr(0, config->http_listen.rfind(':')),
                                     ":", collector.http_port());
    spdlog::info("HTTP (API, /metrics, /healthz, /readyz) on {}", http_address);
  }
  if (!ready_file.empty()) {
    std::string tmp = ready_file + ".tmp";
    {
      std::ofstream out(tmp);
      out << "{\"grpc\": \"" << *address << "\", \"http\": \"" << http_address
          << "\", \"pid\": " << getpid() << "}\n";
    }
    std::rename(tmp.c_str(), ready_file.c_str());
  }
  while (true) {
    int signo = 0;
    if (sigwait(&signals, &signo) != 0) continue;
    if (signo == SIGHUP) {
      absl::Status reloaded = collector.ReloadCatalog();
      if (reloaded.ok()) {
        spdlog::info("SIGHUP: catalog reloaded");
      } else {
        spdlog::error("SIGHUP: catalog not reloaded, the previous one stays in force: {}",
                      reloaded.message());
      }
      // Enrollment tokens (and their revocation) come from the config file;
      // nothing else in it changes without a restart.
      if (!config_file.empty()) {
        auto fresh = plumbline::collector::LoadCollectorConfig(config_file);
        absl::Status enrolled =
            fresh.ok() ? collector.ReloadEnrollment(fresh->enrollment) : fresh.status();
        if (enrolled.ok()) {
          spdlog::info("SIGHUP: enrollment tokens reloaded ({} tokens, {} revoked)",
                       fresh->enrollment.tokens.size(), fresh->enrollment.revoked.size());
        } else {
          spdlog::error("SIGHUP: enrollment tokens not reloaded, the previous ones stay: {}",
                        enrolled.message());
        }
      }
      continue;
    }
    spdlog::info("signal {} received, shutting down", signo);
    break;
  }
  collector.Stop();
  spdlog::info("stopped");
  return 0;
}
