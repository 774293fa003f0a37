#include "collector/config.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "collector/auth_tokens.h"
#include "common/strings.h"
#include "common/yaml_config.h"

namespace plumbline::collector {

namespace {

absl::StatusOr<CollectorConfig> Read(YamlDocument doc) {
  CollectorConfig c;
  ConfigMap root = doc.Root();
  root.String("listen", &c.listen);
  if (c.listen.find(':') == std::string::npos) root.Error("listen", "expected host:port");
  ConfigMap http = root.Map("http");
  http.String("listen", &c.http_listen);
  if (!c.http_listen.empty() && c.http_listen.find(':') == std::string::npos) {
    http.Error("listen", "expected host:port (or \"\" for no HTTP server)");
  }
  root.String("log_level", &c.log_level);
  root.String("catalog", &c.catalog);
  root.Duration("shutdown_grace", &c.shutdown_grace, std::chrono::milliseconds(0));

  ConfigMap storage = root.Map("storage");
  std::string backend = "sqlite";
  storage.String("backend", &backend);
  if (backend == "postgres") {
    c.storage.backend = CollectorConfig::Storage::Backend::kPostgres;
  } else if (backend != "sqlite") {
    storage.Error("backend",
                  StrCat("unknown backend \"", backend, "\" (supported: sqlite, postgres)"));
  }
  storage.String("path", &c.storage.path);
  if (c.storage.path.empty()) storage.Error("path", "must not be empty");
  storage.String("dsn", &c.storage.dsn);
  if (c.storage.backend == CollectorConfig::Storage::Backend::kPostgres && c.storage.dsn.empty()) {
    if (storage.Has("dsn")) {
      storage.Error("dsn", "must not be empty");
    } else {
      storage.Error("backend", "postgres needs storage.dsn (a libpq connection string)");
    }
  }
  std::string durability = "full";
  storage.String("durability", &durability);
  if (durability == "relaxed") {
    c.storage.relaxed_durability = true;
  } else if (durability != "full") {
    storage.Error("durability", StrCat("expected full or relaxed, got \"", durability, "\""));
  }

  ConfigMap retention = storage.Map("retention");
  const auto kMinuteMs = std::chrono::milliseconds(60000);
  retention.Duration("raw", &c.storage.raw_retention, std::chrono::hours(1));
  retention.Duration("minute", &c.storage.minute_retention, std::chrono::hours(2));
  retention.Duration("hour", &c.storage.hour_retention, std::chrono::hours(2));
  if (c.storage.minute_retention < c.storage.raw_retention) {
    retention.Error("minute", "must be at least as long as raw retention");
  }
  if (c.storage.hour_retention < c.storage.minute_retention) {
    retention.Error("hour", "must be at least as long as minute retention");
  }
  storage.Duration("maintenance_interval", &c.storage.maintenance_interval, kMinuteMs / 60);
  storage.Duration("minute_rollup_step", &c.storage.minute_rollup_step, kMinuteMs);
  if (c.storage.minute_rollup_step.count() % kMinuteMs.count() != 0 ||
      std::chrono::hours(1) % c.storage.minute_rollup_step != std::chrono::milliseconds(0)) {
    storage.Error("minute_rollup_step", "must be whole minutes that divide an hour (1m .. 60m)");
  }

  storage.Bool("query_rollups", &c.storage.query_rollups);
  storage.Duration("report_warm_interval", &c.storage.report_warm_interval,
                   std::chrono::milliseconds(0));

  ConfigMap ingest = root.Map("ingest");
  ingest.ByteSize("max_message_size", &c.ingest.max_message_bytes);
  if (c.ingest.max_message_bytes < 4096 || c.ingest.max_message_bytes > (1ull << 30)) {
    ingest.Error("max_message_size", "must be between 4KiB and 1GiB");
  }
  ingest.Int("max_queued_batches", &c.ingest.max_queued_batches, 1, 1 << 20);
  ingest.Int("max_group_batches", &c.ingest.max_group_batches, 1, 1 << 16);
  ingest.Int("max_series_per_batch", &c.ingest.max_series_per_batch, 1, 10000000);
  ingest.Int("max_pending_per_stream", &c.ingest.max_pending_per_stream, 1, 1 << 16);
  ingest.Int("max_streams_per_agent", &c.ingest.max_streams_per_agent, 0, 1 << 16);
  ingest.Duration("retry_after", &c.ingest.retry_after);
  ingest.Duration("max_future_skew", &c.ingest.max_future_skew, std::chrono::milliseconds(0));
  ingest.Duration("max_sample_age", &c.ingest.max_sample_age, std::chrono::milliseconds(0));
  ingest.Int("max_new_series_per_minute", &c.ingest.max_new_series_per_minute, 0, 100000000);
  ingest.Int("max_batches_per_second", &c.ingest.max_batches_per_second, 0, 1000000);

  ConfigMap tls = root.Map("tls");
  tls.String("cert", &c.tls.cert);
  tls.String("key", &c.tls.key);
  tls.String("client_ca", &c.tls.client_ca);
  tls.Bool("require_client_cert", &c.tls.require_client_cert);
  tls.Bool("plaintext", &c.tls.plaintext);
  if (c.tls.plaintext && !c.tls.cert.empty()) {
    tls.Error("plaintext", "contradicts cert: give one or the other");
  }
  tls.Duration("reload_interval", &c.tls.reload_interval, std::chrono::milliseconds(1000));
  if (c.tls.cert.empty() != c.tls.key.empty()) {
    tls.Error(c.tls.cert.empty() ? "cert" : "key", "cert and key go together");
  }
  if (!c.tls.client_ca.empty() && c.tls.cert.empty()) {
    tls.Error("client_ca", "needs cert and key (the collector's own certificate)");
  }
  if (c.tls.require_client_cert && c.tls.client_ca.empty()) {
    tls.Error("require_client_cert", "needs client_ca");
  }

  ConfigMap enrollment = root.Map("enrollment");
  std::set<std::string> enrollment_names;
  for (ConfigMap t : enrollment.MapList("tokens")) {
    CollectorConfig::EnrollmentToken token;
    t.Require("name");
    t.String("name", &token.name);
    t.Require("sha256");
    t.String("sha256", &token.sha256);
    t.String("agent_id", &token.agent_id);
    t.String("id_prefix", &token.id_prefix);
    if (t.Has("sha256")) {
      if (auto h = ParseSha256(token.sha256); !h.ok()) {
        t.Error("sha256", ToStd(h.status().message()));
      }
    }
    if (token.agent_id.empty() == token.id_prefix.empty()) {
      t.Error(token.agent_id.empty() ? "agent_id" : "id_prefix",
              "give exactly one of agent_id and id_prefix");
    }
    if (!token.name.empty() && !enrollment_names.insert(token.name).second) {
      t.Error("name", StrCat("duplicate token name \"", token.name, "\""));
    }
    c.enrollment.tokens.push_back(std::move(token));
  }
  enrollment.StringList("revoked", &c.enrollment.revoked);
  for (const std::string& r : c.enrollment.revoked) {
    if (auto h = ParseSha256(r); !h.ok()) enrollment.Error("revoked", ToStd(h.status().message()));
  }

  ConfigMap incidents = root.Map("incidents");
  incidents.Duration("open_after", &c.incidents.open_after, std::chrono::minutes(1));
  incidents.Duration("close_after", &c.incidents.close_after, std::chrono::minutes(1));
  for (auto [key, d] : {std::pair{"open_after", c.incidents.open_after},
                        std::pair{"close_after", c.incidents.close_after}}) {
    if (d.count() % 60000 != 0 || d > std::chrono::hours(24)) {
      incidents.Error(key, "must be whole minutes, at most 24h");
    }
  }
  ConfigMap auth = root.Map("auth");
  std::set<std::string> names;
  for (ConfigMap t : auth.MapList("tokens")) {
    CollectorConfig::Token token;
    t.Require("name");
    t.String("name", &token.name);
    t.Require("role");
    t.String("role", &token.role);
    t.Require("sha256");
    t.String("sha256", &token.sha256);
    if (t.Has("role")) {
      if (auto r = ParseRole(token.role); !r.ok()) t.Error("role", ToStd(r.status().message()));
    }
    if (t.Has("sha256")) {
      if (auto h = ParseSha256(token.sha256); !h.ok())
        t.Error("sha256", ToStd(h.status().message()));
    }
    if (!token.name.empty() && !names.insert(token.name).second) {
      t.Error("name", StrCat("duplicate token name \"", token.name, "\""));
    }
    c.tokens.push_back(std::move(token));
  }
  RETURN_IF_ERROR(doc.Finish());
  return c;
}

}  // namespace

absl::StatusOr<CollectorConfig> LoadCollectorConfig(const std::string& file) {
  ASSIGN_OR_RETURN(YamlDocument doc, YamlDocument::Load(file));
  return Read(std::move(doc));
}

absl::StatusOr<CollectorConfig> ParseCollectorConfig(std::string_view text,
                                                     const std::string& name) {
  ASSIGN_OR_RETURN(YamlDocument doc, YamlDocument::Parse(text, name));
  return Read(std::move(doc));
}

}  // namespace plumbline::collector
