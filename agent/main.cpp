#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "agent/agent.h"
#include "agent/config.h"
#include "common/logging.h"
#include "plumbline/version.h"

int main(int argc, char** argv) {
  CLI::App app{
      "plumbline-agent: measures this server (host usage, processes, service probes, StatsD, "
      "Prometheus scrapes, access logs, itself) and ships the readings to a Plumbline "
      "collector over gRPC."};
  app.set_version_flag("--version", std::string("plumbline-agent ") + plumbline::kVersion);
  std::string config_file;
  std::string log_level;
  bool dry_run = false;
  app.add_option("-c,--config", config_file, "YAML config file (see /etc/plumbline/agent.yaml)")
      ->check(CLI::ExistingFile);
  app.add_option("--log-level", log_level,
                 "trace, debug, info, warn, error (overrides the config's log_level)");
  app.add_flag("--dry-run", dry_run, "collect once, print the batch as JSON and exit");
  CLI11_PARSE(app, argc, argv);

  absl::StatusOr<plumbline::agent::AgentConfig> config =
      config_file.empty() ? plumbline::agent::ParseAgentConfig("", "<defaults>")
                          : plumbline::agent::LoadAgentConfig(config_file);
  if (!config.ok()) {
    std::cerr << "plumbline-agent: " << config.status().message() << "\n";
    return 2;
  }
  if (!log_level.empty()) config->log_level = log_level;
  if (absl::Status s = plumbline::SetUpLogging("agent", config->log_level); !s.ok()) {
    std::cerr << "plumbline-agent: " << s.message() << "\n";
    return 2;
  }
  plumbline::agent::Agent agent(std::move(*config), config_file);
  if (dry_run) {
    plumbline::v1::Batch batch = agent.CollectOnce();
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    (void)google::protobuf::util::MessageToJsonString(batch, &json, options);
    std::cout << json;
    return 0;
  }
  return agent.Run();
}
