// The real plumbline-agent binary with the processes, probes and access_logs
// sections configured: `--dry-run` collects once and prints the batch.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "tests/integration/process.h"

namespace plumbline::testing {
namespace {

std::string RunCommand(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

TEST(AgentSources, DryRunShipsProcessAndAccessLogSeries) {
  TempDir dir("plumbline_agent_sources");
  WriteFile(dir.File("test.pid"), std::to_string(::getpid()) + "\n");
  std::string log_line =
      "127.0.0.1 - - [10/Oct/2023:13:55:36 +0200] \"GET / HTTP/1.1\" 200 612 \"-\" \"curl\" "
      "0.004\n";
  WriteFile(dir.File("access.log"), log_line + log_line + log_line);
  WriteFile(dir.File("agent.yaml"), R"(
agent_id: dry
state_dir: )" + dir.File("state") + R"(
sources:
  host: {enabled: false}
  processes:
    match:
      - {name: test, pidfile: )" + dir.File("test.pid") +
                                        R"(}
  probes:
    tcp:
      - {name: closed, address: "127.0.0.1:1", timeout: 1s}
  access_logs:
    start_at: beginning
    logs:
      - {name: web, path: )" + dir.File("access.log") +
                                        R"(, format: combined_request_time}
)");
  std::string out =
      RunCommand(std::string(PLUMBLINE_AGENT_BIN) + " --config " + dir.File("agent.yaml") +
                 " --dry-run --log-level error 2>" + dir.File("stderr.log"));
  nlohmann::json batch = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(batch.is_discarded()) << out << ReadFile(dir.File("stderr.log"));
  std::map<std::string, double> values;
  for (const auto& s : batch["series"]) {
    double v = 0;
    if (s["points"][0].contains("number")) v = s["points"][0]["number"].get<double>();
    values[s["name"].get<std::string>()] += v;
  }
  EXPECT_EQ(values["process_up"], 1);
  EXPECT_EQ(values["http_requests_total"], 3);
  EXPECT_EQ(values["http_response_bytes_total"], 3 * 612);
  EXPECT_TRUE(values.count("http_request_duration_seconds"));
}

}  // namespace
}  // namespace plumbline::testing
