#include "agent/config.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/host_info.h"
#include "common/labels.h"
#include "common/yaml_config.h"

namespace plumbline::agent {

namespace {

absl::StatusOr<AgentConfig> Read(YamlDocument doc) {
  AgentConfig c;
  ConfigMap root = doc.Root();
  root.String("agent_id", &c.agent_id);
  root.StringMap("labels", &c.labels);
  root.Duration("interval", &c.interval, std::chrono::milliseconds(100));
  root.String("log_level", &c.log_level);
  root.String("proc_root", &c.proc_root);

  ConfigMap collector = root.Map("collector");
  collector.StringList("addresses", &c.collector.addresses);
  collector.Int("max_in_flight", &c.collector.max_in_flight, 1, 1024);
  collector.Double("replay_batches_per_second", &c.collector.replay_batches_per_second, 0, 1e6);
  collector.Duration("ack_timeout", &c.collector.ack_timeout);
  collector.Duration("backoff_initial", &c.collector.backoff_initial);
  collector.Duration("backoff_max", &c.collector.backoff_max);
  collector.Duration("shutdown_timeout", &c.collector.shutdown_timeout,
                     std::chrono::milliseconds(0));
  if (c.collector.addresses.empty()) collector.Error("addresses", "needs at least one address");
  for (const std::string& a : c.collector.addresses) {
    if (a.find(':') == std::string::npos) {
      collector.Error("addresses", StrCat("\"", a, "\" is not host:port"));
    }
  }

  ConfigMap tls = root.Map("tls");
  tls.String("ca", &c.tls.ca);
  tls.String("cert", &c.tls.cert);
  tls.String("key", &c.tls.key);
  tls.String("server_name", &c.tls.server_name);
  tls.Bool("plaintext", &c.tls.plaintext);
  if (c.tls.plaintext && (!c.tls.ca.empty() || !c.tls.cert.empty())) {
    tls.Error("plaintext", "contradicts ca and cert: give one or the other");
  }
  tls.Duration("reload_interval", &c.tls.reload_interval, std::chrono::milliseconds(1000));
  if (c.tls.cert.empty() != c.tls.key.empty()) {
    tls.Error(c.tls.cert.empty() ? "cert" : "key", "cert and key go together");
  }
  for (auto [key, file] :
       {std::pair{"ca", &c.tls.ca}, std::pair{"cert", &c.tls.cert}, std::pair{"key", &c.tls.key}}) {
    if (!file->empty() && !std::ifstream(*file)) {
      tls.Error(key, StrCat("cannot read ", *file));
    }
  }
  root.String("enrollment_token_file", &c.enrollment_token_file);
  if (!c.enrollment_token_file.empty() && !std::ifstream(c.enrollment_token_file)) {
    root.Error("enrollment_token_file", StrCat("cannot read ", c.enrollment_token_file));
  }

  ConfigMap queue = root.Map("queue");
  queue.ByteSize("max_bytes", &c.queue.max_bytes);
  if (c.queue.max_bytes < (64 << 10)) queue.Error("max_bytes", "must be at least 64KiB");

  root.String("state_dir", &c.state_dir);
  if (c.state_dir.empty()) root.Error("state_dir", "must not be empty");
  ParseSpoolOptions(root.Map("spool"), &c.spool);

  ConfigMap sources = root.Map("sources");
  ParseHostSourceOptions(sources.Map("host"), &c.host);
  ParseProcessSourceOptions(sources.Map("processes"), &c.processes);
  ParseProbeSourceOptions(sources.Map("probes"), &c.probes);
  ParseLogSourceOptions(sources.Map("access_logs"), &c.access_logs);
  ParseStatsdSourceOptions(sources.Map("statsd"), &c.statsd);
  ParsePrometheusSourceOptions(sources.Map("prometheus"), &c.prometheus);
  ParseSelfSourceOptions(sources.Map("self"), &c.self);

  if (c.agent_id.empty()) c.agent_id = Hostname();
  for (const auto& [name, value] : c.labels) {
    absl::Status s = ValidateLabelName(name);
    if (s.ok()) s = ValidateLabelValue(value);
    if (!s.ok()) root.Error("labels", ToStd(s.message()));
    if (name == "host" || name == "agent_id") {
      root.Error("labels", StrCat("\"", name, "\" is set by the agent itself"));
    }
  }
  if (absl::Status s = ValidateLabelValue(c.agent_id); !s.ok() || c.agent_id.empty()) {
    root.Error("agent_id", s.ok() ? std::string_view("must not be empty") : ToStd(s.message()));
  }
  RETURN_IF_ERROR(doc.Finish());
  return c;
}

}  // namespace

absl::StatusOr<AgentConfig> LoadAgentConfig(const std::string& file) {
  ASSIGN_OR_RETURN(YamlDocument doc, YamlDocument::Load(file));
  return Read(std::move(doc));
}

absl::StatusOr<AgentConfig> ParseAgentConfig(std::string_view text, const std::string& name) {
  ASSIGN_OR_RETURN(YamlDocument doc, YamlDocument::Parse(text, name));
  return Read(std::move(doc));
}

}  // namespace plumbline::agent
