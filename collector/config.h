// The collector's YAML configuration (see configs/collector.yaml for every key).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace plumbline::collector {

struct CollectorConfig {
  // gRPC address for ingest and query; port 0 picks a free port.
  std::string listen = "127.0.0.1:7070";
  std::string log_level = "info";
  // HTTP: JSON API, /metrics, /healthz, /readyz; empty: no HTTP server.
  std::string http_listen = "127.0.0.1:7071";
  // The business catalog (YAML); empty: none. Re-read on SIGHUP.
  std::string catalog;

  struct Storage {
    enum class Backend { kSqlite, kPostgres };
    Backend backend = Backend::kSqlite;                    // "backend: sqlite|postgres"
    std::string path = "/var/lib/plumbline/collector.db";  // sqlite
    // postgres: a libpq connection string ("host=db dbname=plumbline") or
    // postgresql:// URI.
    std::string dsn;
    bool relaxed_durability = false;  // "durability: relaxed"
    std::chrono::milliseconds raw_retention{7LL * 86400 * 1000};
    std::chrono::milliseconds minute_retention{35LL * 86400 * 1000};
    std::chrono::milliseconds hour_retention{400LL * 86400 * 1000};
    // How often rollups and retention run in the background.
    std::chrono::milliseconds maintenance_interval{10000};
    // SQLite: minutes are rolled up in whole steps of this length (a divisor
    // of an hour); queries read the part not rolled up yet from raw samples.
    std::chrono::milliseconds minute_rollup_step{10 * 60000};
    // SQLite: false answers every question from raw samples, as if nothing
    // were rolled up (benchmarks: the same report from raw points; raw
    // retention must cover the questions asked).
    bool query_rollups = true;
    // How often the collector computes the default service report (the
    // last 30 whole days) in the background, keeping those days in the
    // store's day cache (SQLite); 0: never.
    std::chrono::milliseconds report_warm_interval{60000};
  } storage;

  struct Ingest {
    uint64_t max_message_bytes = 16ull << 20;
    int64_t max_queued_batches = 4096;
    int64_t max_group_batches = 512;
    int64_t max_series_per_batch = 100000;
    int64_t max_pending_per_stream = 64;
    int64_t max_streams_per_agent = 4;
    std::chrono::milliseconds retry_after{1000};
    // Samples stamped further ahead of the collector's clock are refused
    // (reason "timestamp_future").
    std::chrono::milliseconds max_future_skew{10 * 60000};
    // Samples older than this are refused (reason "timestamp_old"); 0: no limit.
    std::chrono::milliseconds max_sample_age{0};
    // Cardinality guard: series an agent may introduce per minute (series the
    // collector has not seen from it since it started). 0: no limit.
    int64_t max_new_series_per_minute = 100000;
    // Batches per second one agent may send (token bucket, burst of one
    // second's worth); beyond it batches are answered ACK_RETRY. 0: no limit.
    int64_t max_batches_per_second = 100;
  } ingest;

  // TLS on the gRPC port (and on the HTTP port); empty cert: plaintext.
  struct Tls {
    std::string cert;       // PEM certificate chain of the collector
    std::string key;        // PEM private key
    std::string client_ca;  // PEM CA bundle that signs agent certificates
    // Agents must present a certificate from client_ca (else they may use
    // an enrollment token instead).
    bool require_client_cert = false;
    // Without cert: the collector serves plaintext on loopback addresses
    // only, unless this says plaintext is wanted on the network too.
    bool plaintext = false;
    // How often the files are checked for changes (rotation without restart).
    std::chrono::milliseconds reload_interval{60000};
    bool enabled() const { return !cert.empty(); }
  } tls;

  // Enrollment tokens for agents without certificates, by SHA-256. Each grants
  // one agent id or every id with a prefix. Re-read on SIGHUP.
  struct EnrollmentToken {
    std::string name;
    std::string sha256;     // hex
    std::string agent_id;   // exactly this id, or
    std::string id_prefix;  // every id starting with this
  };
  struct Enrollment {
    std::vector<EnrollmentToken> tokens;
    std::vector<std::string> revoked;  // SHA-256 hex digests refused even if listed
  } enrollment;

  // Incident detection from SLO breaches (docs/value.md).
  struct Incidents {
    std::chrono::milliseconds open_after{2 * 60000};   // consecutive breaching minutes to open
    std::chrono::milliseconds close_after{5 * 60000};  // quiet minutes to close
  } incidents;

  // Bearer tokens for the query surfaces (gRPC Query and HTTP), by SHA-256.
  // None: open.
  struct Token {
    std::string name;
    std::string role;    // viewer, sre, admin
    std::string sha256;  // hex
  };
  std::vector<Token> tokens;

  std::chrono::milliseconds shutdown_grace{2000};
};

absl::StatusOr<CollectorConfig> LoadCollectorConfig(const std::string& file);
absl::StatusOr<CollectorConfig> ParseCollectorConfig(std::string_view text,
                                                     const std::string& name);

}  // namespace plumbline::collector
